package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"
)

// DB is the durable vector database: collections, their vectors, payloads
// and indexes, matrices and PQ configurations, kept in one Pebble instance
// plus one checkpoint file per index.
//
// A DB is safe for concurrent use by any number of goroutines. Every write
// method returns only after its Pebble batch is synced (pebble.Sync);
// concurrent writers share fsyncs (groupCommit).
//
// Lock order: DB.mu → Collection.ckptMu → Collection.mu → a Collection
// stripe. No method holds DB.mu while waiting on I/O of a collection.
type DB struct {
	opts    Options
	pdb     *pebble.DB
	cache   *pebble.Cache
	ckptDir string
	// exactDir holds the vector files of quantized indexes (exact.go);
	// exactRebuilds counts the files Open rewrote from Pebble.
	exactDir      string
	exactRebuilds atomic.Int64

	closing atomic.Bool
	failed  atomic.Pointer[error] // first durable-write failure; sticky
	group   groupCommit
	disk    *diskGuard // the free-space reserve (diskspace.go)

	mu struct {
		sync.Mutex
		nextID   uint32
		colls    map[string]*Collection
		matrices map[string]*matrixMeta
		pqs      map[string]*PQConfig
		// pqUsers counts, per PQ name, the indexes (built or being built)
		// that use it.
		pqUsers map[string]int
	}

	kick chan struct{} // wakes the checkpointer
	stop chan struct{} // closed by Close
	// bg counts the checkpointer and background compactions; bgMu orders
	// bg.Add against Close's bg.Wait.
	bgMu sync.Mutex
	bg   sync.WaitGroup

	// testSkipCloseCheckpoint makes Close skip the final checkpoints, so
	// that tests can exercise log replay.
	testSkipCloseCheckpoint bool
}

// fatalPanic is what the Pebble logger's Fatalf panics with. Pebble v1.1
// calls Fatalf when a commit fails (a WAL write or sync error); commit
// recovers it in the committing goroutine and turns it into ErrFailed.
type fatalPanic struct{ msg string }

type pebbleLogger struct{ l Logger }

func (p pebbleLogger) Infof(format string, args ...any) { p.l.Infof("pebble: "+format, args...) }
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Errorf("pebble fatal: %s", msg)
	panic(fatalPanic{msg})
}

// Open opens (creating when absent) the database in opts.Dir, loads the
// catalog and every index (from its checkpoint plus the writes logged since,
// or by a rebuild when the checkpoint is missing or corrupt).
func Open(opts Options) (*DB, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	fs := opts.FS
	if err := fs.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create data directory %q: %w", opts.Dir, err)
	}
	db := &DB{
		opts:    opts,
		ckptDir: fs.PathJoin(opts.Dir, "checkpoints"),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		disk:    newDiskGuard(&opts),
	}
	db.group.arrived = make(chan struct{}, 1)
	if err := fs.MkdirAll(db.ckptDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create checkpoint directory: %w", err)
	}
	db.exactDir = fs.PathJoin(opts.Dir, exactDirName)
	if err := fs.MkdirAll(db.exactDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create vector file directory: %w", err)
	}
	if err := fs.MkdirAll(fs.PathJoin(opts.Dir, "pebble"), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create pebble directory: %w", err)
	}
	// Make the new directory entries durable (Pebble syncs only its own).
	for _, d := range []string{opts.Dir, fs.PathDir(opts.Dir)} {
		if err := syncDir(fs, d); err != nil {
			return nil, err
		}
	}
	db.cache = pebble.NewCache(opts.CacheSize)
	popts := &pebble.Options{
		FS:                 fs,
		Cache:              db.cache,
		MemTableSize:       opts.MemTableSize,
		Logger:             pebbleLogger{opts.Logger},
		FormatMajorVersion: pebble.FormatNewest,
		Levels:             make([]pebble.LevelOptions, 7),
	}
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		popts.Levels[i].TargetFileSize = 8 << 20
	}
	popts.EnsureDefaults()
	start := time.Now()
	pdb, err := openPebble(fs.PathJoin(opts.Dir, "pebble"), popts)
	db.cache.Unref() // pebble holds its own reference
	if err != nil {
		return nil, err
	}
	db.pdb = pdb
	opts.Logger.Infof("pebble opened in %v", time.Since(start).Round(time.Millisecond))
	if err := db.load(); err != nil {
		_ = pdb.Close()
		return nil, err
	}
	db.bg.Add(1)
	go db.checkpointLoop()
	// A recovery that rebuilt an index, or replayed a long log, leaves a
	// checkpoint due: take it now, or every crash before the next
	// CheckpointWrites writes would replay a longer log on its Open.
	db.mu.Lock()
	for _, c := range db.mu.colls {
		if c.needCkpt.Load() || c.dirty.Load() >= int64(opts.CheckpointWrites) {
			db.kickCheckpointer()
			break
		}
	}
	db.mu.Unlock()
	return db, nil
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("cannot open directory %q: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("cannot sync directory %q: %w", dir, err)
	}
	return d.Close()
}

// openPebble opens Pebble, turning a Fatalf during open into an error.
func openPebble(dir string, popts *pebble.Options) (pdb *pebble.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			fp, ok := r.(fatalPanic)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("cannot open pebble in %q: %s: %w", dir, fp.msg, ErrFailed)
		}
	}()
	pdb, err = pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("cannot open pebble in %q: %w", dir, err)
	}
	return pdb, nil
}

// load reads the catalog and recovers every collection.
func (db *DB) load() error {
	v, closer, err := db.pdb.Get([]byte{keyFormat})
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		b := db.pdb.NewBatch()
		_ = b.Set([]byte{keyFormat}, []byte(formatVersion), nil)
		err = db.commit(b)
		_ = b.Close()
		if err != nil {
			return fmt.Errorf("cannot write format version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("cannot read format version: %w", err)
	default:
		got := string(v)
		_ = closer.Close()
		if got != formatVersion {
			return fmt.Errorf("cannot open store: format %q, want %q: %w", got, formatVersion, ErrInvalid)
		}
	}
	db.mu.colls = map[string]*Collection{}
	db.mu.matrices = map[string]*matrixMeta{}
	db.mu.pqs = map[string]*PQConfig{}
	db.mu.pqUsers = map[string]int{}
	db.mu.nextID = 1
	if v, closer, err := db.pdb.Get([]byte{keyNextID}); err == nil {
		if len(v) == 4 {
			db.mu.nextID = binary.BigEndian.Uint32(v)
		}
		_ = closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("cannot read next id: %w", err)
	}
	if err := db.scanJSON(keyMatrix, func(name string, raw []byte) error {
		var m matrixMeta
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		db.mu.matrices[name] = &m
		return nil
	}); err != nil {
		return fmt.Errorf("cannot load matrices: %w", err)
	}
	if err := db.scanJSON(keyPQ, func(name string, raw []byte) error {
		var p PQConfig
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		db.mu.pqs[name] = &p
		return nil
	}); err != nil {
		return fmt.Errorf("cannot load PQ configurations: %w", err)
	}
	var metas []collMeta
	if err := db.scanJSON(keyCollection, func(name string, raw []byte) error {
		var m collMeta
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		metas = append(metas, m)
		return nil
	}); err != nil {
		return fmt.Errorf("cannot load collections: %w", err)
	}
	for _, m := range metas {
		start := time.Now()
		c := newCollection(db, m)
		if err := c.recover(); err != nil {
			for _, c := range db.mu.colls {
				c.closeIndex()
			}
			return fmt.Errorf("cannot recover collection %q: %w", m.Name, err)
		}
		db.mu.colls[m.Name] = c
		if m.Index != nil && m.Index.PQName != "" {
			db.mu.pqUsers[m.Index.PQName]++
		}
		db.opts.Logger.Infof("collection %q: %d vectors, recovered in %v", m.Name, c.live.Load(), time.Since(start).Round(time.Millisecond))
	}
	keep := map[string]bool{}
	for _, c := range db.mu.colls {
		if c.ckptFile != "" {
			keep[c.ckptFile] = true
		}
	}
	db.removeStrayCheckpoints(keep)
	db.removeStrayExactFiles()
	return nil
}

// scanJSON calls fn for every catalog entry under prefix.
func (db *DB) scanJSON(prefix byte, fn func(name string, raw []byte) error) error {
	lo, hi := prefixBounds(prefix)
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(string(it.Key()[1:]), it.Value()); err != nil {
			_ = it.Close()
			return fmt.Errorf("cannot decode %q: %w", it.Key(), err)
		}
	}
	return it.Close()
}

// Close checkpoints every index written to since its last checkpoint, then
// closes Pebble. Calls in flight finish first; later calls return ErrClosed.
// Close is not safe to call concurrently with itself.
func (db *DB) Close() error {
	if db.closing.Swap(true) {
		return fmt.Errorf("cannot close store: %w", ErrClosed)
	}
	close(db.stop)
	db.bgMu.Lock() // no bg.Add after this: they all check closing under bgMu
	db.bgMu.Unlock()
	db.bg.Wait()
	db.mu.Lock()
	colls := make([]*Collection, 0, len(db.mu.colls))
	for _, c := range db.mu.colls {
		colls = append(colls, c)
	}
	db.mu.Unlock()
	var firstErr error
	for _, c := range colls {
		if err := c.close(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	// Under db.mu: catalog operations commit while holding it and check
	// closing first.
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.closePebble(); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

func (db *DB) closePebble() (err error) {
	defer func() {
		if r := recover(); r != nil {
			fp, ok := r.(fatalPanic)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("cannot close pebble: %s: %w", fp.msg, ErrFailed)
		}
	}()
	if db.failed.Load() == nil {
		// Flushing the memtable now spares the next Open a WAL replay.
		if err := db.pdb.Flush(); err != nil {
			db.opts.Logger.Errorf("cannot flush pebble at close: %v", err)
		}
	}
	if err := db.pdb.Close(); err != nil {
		return fmt.Errorf("cannot close pebble: %w", err)
	}
	return nil
}

// Err returns nil while the DB accepts writes, ErrClosed after Close, or the
// ErrFailed-wrapping error of the first failed durable write.
func (db *DB) Err() error {
	if p := db.failed.Load(); p != nil {
		return *p
	}
	if db.closing.Load() {
		return ErrClosed
	}
	return nil
}

// fail records the first durable-write failure and returns an error wrapping
// ErrFailed. After a failed commit Pebble's memtable may hold the batch even
// though it is not durable, and the in-memory index did not apply it; the
// only safe state is to stop writing until a reopen recovers from disk.
func (db *DB) fail(cause string) error {
	err := fmt.Errorf("%s: %w", cause, ErrFailed)
	if db.failed.CompareAndSwap(nil, &err) {
		db.opts.Logger.Errorf("durable write failed, refusing writes until reopened: %s", cause)
	}
	return *db.failed.Load()
}

// commit commits b with pebble.Sync. It never returns before the batch is
// durable or the DB has failed. Concurrent calls are merged into shared
// commits (groupCommit). The caller still owns (and closes) b; b may have
// grown by other writers' batches.
func (db *DB) commit(b *pebble.Batch) error { return db.commitAdmitted(b, false) }

// commitFreeing is commit for a batch that frees space (deletes, a dropped
// collection, a bulk-load rollback): it may use half the disk reserve.
func (db *DB) commitFreeing(b *pebble.Batch) error { return db.commitAdmitted(b, true) }

// commitAdmitted checks that the DB can write and that b fits the disk
// reserve (diskspace.go), then commits it through the group commit.
func (db *DB) commitAdmitted(b *pebble.Batch, freeing bool) error {
	if p := db.failed.Load(); p != nil {
		return *p
	}
	if err := db.disk.admit(int64(b.Len()), freeing); err != nil {
		return err
	}
	return db.group.run(b, db.commitSync)
}

// commitSync is one synced Pebble commit.
func (db *DB) commitSync(b *pebble.Batch) error { return db.apply(b, pebble.Sync) }

// commitNoSync commits b without waiting for an fsync: used for the chunks
// of a bulk load, whose final chunk is committed with commit.
func (db *DB) commitNoSync(b *pebble.Batch) error {
	if p := db.failed.Load(); p != nil {
		return *p
	}
	if err := db.disk.admit(int64(b.Len()), false); err != nil {
		return err
	}
	return db.apply(b, pebble.NoSync)
}

// apply commits b to Pebble with wo. A failed write (an error, or Pebble's
// Fatalf, which the store's logger turns into a fatalPanic) fails the DB.
func (db *DB) apply(b *pebble.Batch, wo *pebble.WriteOptions) (err error) {
	if p := db.failed.Load(); p != nil {
		return *p
	}
	defer func() {
		if r := recover(); r != nil {
			fp, ok := r.(fatalPanic)
			if !ok {
				panic(r)
			}
			err = db.fail(fp.msg)
		}
	}()
	if err := b.Commit(wo); err != nil {
		return db.fail(err.Error())
	}
	return nil
}

// writable returns the error that forbids writes, if any.
func (db *DB) writable() error {
	if p := db.failed.Load(); p != nil {
		return *p
	}
	if db.closing.Load() {
		return ErrClosed
	}
	return nil
}

// allocIDLocked returns a fresh object id and records the next one in b.
func (db *DB) allocIDLocked(b *pebble.Batch) uint32 {
	id := db.mu.nextID
	db.mu.nextID++
	_ = b.Set([]byte{keyNextID}, binary.BigEndian.AppendUint32(nil, db.mu.nextID), nil)
	return id
}

// Family says which API family a collection serves; it fixes the id range.
type Family uint8

const (
	// FamilyCasper: u32 ids, max_size required, indexed on demand.
	FamilyCasper Family = iota
	// FamilyV1: u64 ids, indexed from creation, JSON payloads.
	FamilyV1
)

func (f Family) String() string {
	if f == FamilyV1 {
		return "v1"
	}
	return "casper"
}

// CollectionConfig describes a new collection.
type CollectionConfig struct {
	Name    string // [A-Za-z0-9_-]{1,128}
	Dim     int    // 1..MaxDim
	MaxSize int64  // cap on live ids; 0 = unlimited (FamilyV1 only)
	Family  Family
	// Index, when set, is created with the (empty) collection.
	Index *IndexConfig
}

// collMeta is the persisted form of a collection (key 'c' name).
type collMeta struct {
	ID      uint32       `json:"id"`
	Name    string       `json:"name"`
	Family  Family       `json:"family"`
	Dim     int          `json:"dim"`
	MaxSize int64        `json:"max_size"`
	Muted   bool         `json:"muted"`
	Index   *IndexConfig `json:"index,omitempty"`
	// I8Scale and I8Offset are the trained int8 quantizer of an i8 index.
	I8Scale  []float32 `json:"i8_scale,omitempty"`
	I8Offset []float32 `json:"i8_offset,omitempty"`
}

// CreateCollection creates an empty collection. ErrExists if the name is
// taken.
func (db *DB) CreateCollection(cfg CollectionConfig) (*Collection, error) {
	if err := db.writable(); err != nil {
		return nil, fmt.Errorf("cannot create collection %q: %w", cfg.Name, err)
	}
	if !validName(cfg.Name, false) {
		return nil, fmt.Errorf("cannot create collection %q: name must match [A-Za-z0-9_-]{1,128}: %w", cfg.Name, ErrInvalid)
	}
	if cfg.Dim < 1 || cfg.Dim > MaxDim {
		return nil, fmt.Errorf("cannot create collection %q: dim %d outside 1..%d: %w", cfg.Name, cfg.Dim, MaxDim, ErrInvalid)
	}
	if cfg.MaxSize < 0 || (cfg.Family == FamilyCasper && cfg.MaxSize == 0) {
		return nil, fmt.Errorf("cannot create collection %q: max_size %d must be positive: %w", cfg.Name, cfg.MaxSize, ErrInvalid)
	}
	if cfg.Family != FamilyCasper && cfg.Family != FamilyV1 {
		return nil, fmt.Errorf("cannot create collection %q: unknown family %d: %w", cfg.Name, cfg.Family, ErrInvalid)
	}
	var icfg *IndexConfig
	if cfg.Index != nil {
		ic := *cfg.Index
		if err := ic.ensureAndValidate(); err != nil {
			return nil, fmt.Errorf("cannot create collection %q: %w", cfg.Name, err)
		}
		if ic.Quantization != QuantF32 {
			return nil, fmt.Errorf("cannot create collection %q with %s index: %w", cfg.Name, ic.Quantization, ErrNotSupported)
		}
		icfg = &ic
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.writable(); err != nil { // Close may have begun
		return nil, fmt.Errorf("cannot create collection %q: %w", cfg.Name, err)
	}
	if _, ok := db.mu.colls[cfg.Name]; ok {
		return nil, fmt.Errorf("cannot create collection %q: %w", cfg.Name, ErrExists)
	}
	b := db.pdb.NewBatch()
	defer b.Close()
	m := collMeta{
		ID:      db.allocIDLocked(b),
		Name:    cfg.Name,
		Family:  cfg.Family,
		Dim:     cfg.Dim,
		MaxSize: cfg.MaxSize,
		Index:   icfg,
	}
	raw, _ := json.Marshal(m)
	_ = b.Set(nameKey(keyCollection, m.Name), raw, nil)
	// No keys exist under a fresh id (ids are never reused), so there is
	// nothing to clear; a range tombstone here would slow every Get.
	c := newCollection(db, m)
	if icfg != nil {
		x, err := newIndex(m.Dim, icfg, quantizer{})
		if err != nil {
			db.mu.nextID--
			return nil, fmt.Errorf("cannot create collection %q: %w", cfg.Name, err)
		}
		c.mu.index = x
	}
	if err := db.commit(b); err != nil {
		db.mu.nextID--
		c.closeIndex()
		return nil, fmt.Errorf("cannot create collection %q: %w", cfg.Name, err)
	}
	db.mu.colls[m.Name] = c
	return c, nil
}

// EnsureCollection returns the collection cfg.Name, creating it from cfg
// when absent: the /v1 "created on first write" rule. An existing
// collection whose dimension differs from a non-zero cfg.Dim is
// ErrDimension.
func (db *DB) EnsureCollection(cfg CollectionConfig) (*Collection, error) {
	for {
		c, err := db.Collection(cfg.Name)
		if err == nil {
			if cfg.Dim != 0 && c.Dim() != cfg.Dim {
				return nil, fmt.Errorf("cannot use collection %q: dim %d, want %d: %w", cfg.Name, c.Dim(), cfg.Dim, ErrDimension)
			}
			return c, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		c, err = db.CreateCollection(cfg)
		if errors.Is(err, ErrExists) {
			continue // lost a race with another creator
		}
		return c, err
	}
}

// Collection returns the collection's handle. Handles stay valid until the
// collection is dropped (their methods then return ErrNotFound) and may be
// cached by the caller.
func (db *DB) Collection(name string) (*Collection, error) {
	if db.closing.Load() {
		return nil, fmt.Errorf("cannot get collection %q: %w", name, ErrClosed)
	}
	db.mu.Lock()
	c, ok := db.mu.colls[name]
	db.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("cannot get collection %q: %w", name, ErrNotFound)
	}
	return c, nil
}

// Collections returns the info of every collection, sorted by name.
func (db *DB) Collections() []CollectionInfo {
	db.mu.Lock()
	colls := make([]*Collection, 0, len(db.mu.colls))
	for _, c := range db.mu.colls {
		colls = append(colls, c)
	}
	db.mu.Unlock()
	out := make([]CollectionInfo, 0, len(colls))
	for _, c := range colls {
		if info, err := c.Info(); err == nil {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DropCollection removes the collection, all its keys and its checkpoint
// file. ErrNotFound if absent. Writes in flight finish first.
func (db *DB) DropCollection(name string) error {
	if err := db.writable(); err != nil {
		return fmt.Errorf("cannot drop collection %q: %w", name, err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.writable(); err != nil { // Close may have begun
		return fmt.Errorf("cannot drop collection %q: %w", name, err)
	}
	c, ok := db.mu.colls[name]
	if !ok {
		return fmt.Errorf("cannot drop collection %q: %w", name, ErrNotFound)
	}
	c.ckptMu.Lock()
	defer c.ckptMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := db.pdb.NewBatch()
	defer b.Close()
	_ = b.Delete(nameKey(keyCollection, name), nil)
	lo, hi := collectionBounds(c.id)
	_ = b.DeleteRange(lo, hi, nil)
	if err := db.commitFreeing(b); err != nil {
		return fmt.Errorf("cannot drop collection %q: %w", name, err)
	}
	c.mu.dropped = true
	if c.mu.meta.Index != nil && c.mu.meta.Index.PQName != "" {
		db.mu.pqUsers[c.mu.meta.Index.PQName]--
	}
	if c.mu.index != nil {
		c.mu.index.Close()
		c.mu.index = nil
	}
	delete(db.mu.colls, name)
	db.removeCheckpointFiles(c.id, "")
	c.removeExactLocked()
	db.compactInBackground(lo, hi)
	return nil
}

// compactInBackground asks Pebble to compact [lo, hi) so that the space of
// deleted keys is reclaimed soon rather than at the next natural compaction.
func (db *DB) compactInBackground(lo, hi []byte) {
	db.bgMu.Lock()
	defer db.bgMu.Unlock()
	if db.closing.Load() {
		return
	}
	db.bg.Add(1)
	go func() {
		defer db.bg.Done()
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(fatalPanic); !ok {
					panic(r)
				}
			}
		}()
		if db.closing.Load() {
			return
		}
		if err := db.pdb.Compact(lo, hi, false); err != nil && !db.closing.Load() {
			db.opts.Logger.Infof("cannot compact range: %v", err)
		}
	}()
}
