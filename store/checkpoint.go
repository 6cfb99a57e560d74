package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strings"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/lsmvec/lsmvec/hnsw"
)

// Checkpoint files (Dir/checkpoints/<cid>-<seq>.ckpt) hold one index
// snapshot: a 24-byte header (magic "LSMVCKP1", collection id u32 LE, dim
// u32 LE, log sequence u64 LE), the hnsw.WriteTo stream, and a 20-byte
// trailer (stream length u64 LE, CRC-32C of header+stream u32 LE, magic
// "LSMVCKPE"). They are written to a .tmp name, fsynced, renamed and the
// directory fsynced; only then does the Pebble key 'd' cid 'k' point at
// them. See docs/architecture.md, "## store".
const (
	ckptMagic      = "LSMVCKP1"
	ckptEndMagic   = "LSMVCKPE"
	ckptHeaderLen  = 24
	ckptTrailerLen = 20
	ckptSuffix     = ".ckpt"
	ckptTmpSuffix  = ".tmp"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func ckptFileName(cid uint32, seq uint64) string {
	return fmt.Sprintf("%08x-%016x%s", cid, seq, ckptSuffix)
}

func ckptMetaKey(cid uint32) []byte { return appendDataPrefix(nil, cid, subCheckpoint) }

// readCheckpointMeta returns the sequence and file name of cid's checkpoint.
func (db *DB) readCheckpointMeta(cid uint32) (seq uint64, file string, ok bool, err error) {
	v, closer, err := db.pdb.Get(ckptMetaKey(cid))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("cannot read checkpoint meta: %w", err)
	}
	defer closer.Close()
	if len(v) < 8 {
		return 0, "", false, fmt.Errorf("cannot decode checkpoint meta of %d bytes: %w", len(v), ErrInvalid)
	}
	return binary.BigEndian.Uint64(v), string(v[8:]), true, nil
}

// writeCheckpointFile writes x to a new checkpoint file and returns its name.
func (db *DB) writeCheckpointFile(cid uint32, seq uint64, x *hnsw.Index) (string, error) {
	fs := db.opts.FS
	name := ckptFileName(cid, seq)
	tmp := fs.PathJoin(db.ckptDir, name+ckptTmpSuffix)
	f, err := fs.Create(tmp)
	if err != nil {
		return "", fmt.Errorf("cannot create checkpoint file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = fs.Remove(tmp)
		}
	}()
	crc := crc32.New(castagnoli)
	// The hash sees each buffer before the file does: vfs.File.Write may
	// modify what it is given (Pebble's MemFS does under invariants/race).
	bw := bufio.NewWriterSize(io.MultiWriter(crc, f), 1<<20)
	var hdr [ckptHeaderLen]byte
	copy(hdr[:], ckptMagic)
	binary.LittleEndian.PutUint32(hdr[8:], cid)
	binary.LittleEndian.PutUint32(hdr[12:], uint32(x.Options().Dim))
	binary.LittleEndian.PutUint64(hdr[16:], seq)
	if _, err := bw.Write(hdr[:]); err != nil {
		return "", fmt.Errorf("cannot write checkpoint: %w", err)
	}
	n, err := x.WriteTo(bw)
	if err != nil {
		return "", fmt.Errorf("cannot write checkpoint: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("cannot write checkpoint: %w", err)
	}
	var tr [ckptTrailerLen]byte
	binary.LittleEndian.PutUint64(tr[:], uint64(n))
	binary.LittleEndian.PutUint32(tr[8:], crc.Sum32())
	copy(tr[12:], ckptEndMagic)
	if _, err := f.Write(tr[:]); err != nil {
		return "", fmt.Errorf("cannot write checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("cannot sync checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		ok = true // closed (badly); only remove it
		_ = fs.Remove(tmp)
		return "", fmt.Errorf("cannot close checkpoint: %w", err)
	}
	ok = true
	if err := fs.Rename(tmp, fs.PathJoin(db.ckptDir, name)); err != nil {
		_ = fs.Remove(tmp)
		return "", fmt.Errorf("cannot rename checkpoint: %w", err)
	}
	if err := db.syncCheckpointDir(); err != nil {
		return "", err
	}
	return name, nil
}

func (db *DB) syncCheckpointDir() error { return syncDir(db.opts.FS, db.ckptDir) }

// crcReader feeds everything read through it to a hash.
type crcReader struct {
	r io.Reader
	h hash.Hash32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	return n, err
}

// readCheckpointFile loads the index in file, checking that it belongs to
// cid at seq and that its checksum matches.
func (db *DB) readCheckpointFile(file string, cid uint32, seq uint64, dim int, storage hnsw.Storage) (*hnsw.Index, error) {
	fs := db.opts.FS
	f, err := fs.Open(fs.PathJoin(db.ckptDir, file))
	if err != nil {
		return nil, fmt.Errorf("cannot open checkpoint %s: %w", file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot stat checkpoint %s: %w", file, err)
	}
	size := st.Size()
	if size < ckptHeaderLen+ckptTrailerLen {
		return nil, fmt.Errorf("cannot load checkpoint %s: %d bytes: %w", file, size, hnsw.ErrCorrupt)
	}
	_ = f.Prefetch(0, size) // readahead of the whole file; errors are harmless
	var tr [ckptTrailerLen]byte
	if _, err := f.ReadAt(tr[:], size-ckptTrailerLen); err != nil {
		return nil, fmt.Errorf("cannot read checkpoint trailer %s: %w", file, err)
	}
	n := binary.LittleEndian.Uint64(tr[:])
	if string(tr[12:]) != ckptEndMagic || n != uint64(size-ckptHeaderLen-ckptTrailerLen) {
		return nil, fmt.Errorf("cannot load checkpoint %s: bad trailer: %w", file, hnsw.ErrCorrupt)
	}
	// cr hashes every byte read; the limit keeps the trailer out of reach.
	cr := &crcReader{r: io.LimitReader(f, size-ckptTrailerLen), h: crc32.New(castagnoli)}
	br := bufio.NewReaderSize(cr, 1<<20)
	var hdr [ckptHeaderLen]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("cannot read checkpoint header %s: %w", file, err)
	}
	if string(hdr[:8]) != ckptMagic || binary.LittleEndian.Uint32(hdr[8:]) != cid ||
		binary.LittleEndian.Uint32(hdr[12:]) != uint32(dim) || binary.LittleEndian.Uint64(hdr[16:]) != seq {
		return nil, fmt.Errorf("cannot load checkpoint %s: header does not match collection %d at seq %d: %w", file, cid, seq, hnsw.ErrCorrupt)
	}
	x, err := hnsw.Read(br, storage)
	if err != nil {
		return nil, fmt.Errorf("cannot load checkpoint %s: %w", file, err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		x.Close()
		return nil, fmt.Errorf("cannot read checkpoint %s: %w", file, err)
	}
	if cr.h.Sum32() != binary.LittleEndian.Uint32(tr[8:]) {
		x.Close()
		return nil, fmt.Errorf("cannot load checkpoint %s: checksum mismatch: %w", file, hnsw.ErrCorrupt)
	}
	return x, nil
}

// removeCheckpointFiles removes cid's checkpoint and temporary files except
// keep.
func (db *DB) removeCheckpointFiles(cid uint32, keep string) {
	fs := db.opts.FS
	names, err := fs.List(db.ckptDir)
	if err != nil {
		db.opts.Logger.Errorf("cannot list checkpoints: %v", err)
		return
	}
	prefix := fmt.Sprintf("%08x-", cid)
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && n != keep {
			if err := fs.Remove(fs.PathJoin(db.ckptDir, n)); err != nil {
				db.opts.Logger.Errorf("cannot remove checkpoint %s: %v", n, err)
			}
		}
	}
}

// removeStrayCheckpoints removes every file in the checkpoint directory that
// no collection's checkpoint meta names (temporary files of an interrupted
// checkpoint, files of dropped collections). Called by Open.
func (db *DB) removeStrayCheckpoints(keep map[string]bool) {
	fs := db.opts.FS
	names, err := fs.List(db.ckptDir)
	if err != nil {
		db.opts.Logger.Errorf("cannot list checkpoints: %v", err)
		return
	}
	for _, n := range names {
		if !keep[n] {
			_ = fs.Remove(fs.PathJoin(db.ckptDir, n))
		}
	}
}

// lastLogSeq returns the sequence of the newest log record of c (0 if none).
func (c *Collection) lastLogSeq() (uint64, error) {
	lo, hi := subBounds(c.id, subLog)
	it, err := c.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	var seq uint64
	if it.Last() {
		seq = idFromKey(it.Key())
	}
	return seq, it.Close()
}

// recover loads c's state at Open: for a collection with an index, the
// checkpoint named by its meta key plus the log records after it (each
// names an id whose final state is read from its vector key), or, when the
// checkpoint is absent or unreadable, a rebuild from every vector.
func (c *Collection) recover() (err error) {
	m := c.mu.meta
	defer func() {
		if err != nil && c.mu.quant.exact != nil {
			_ = c.mu.quant.exact.close()
			c.mu.quant = quantizer{}
		}
	}()
	if _, closer, err := c.db.pdb.Get(bulkMarkerKey(c.id)); err == nil {
		_ = closer.Close()
		c.db.opts.Logger.Infof("collection %q: rolling back an interrupted bulk load", c.name)
		if m.Index != nil {
			q, _, err := c.db.quantizerFor(&m)
			if err != nil {
				return err
			}
			c.mu.quant = q
			x, err := newIndex(c.dim, m.Index, q)
			if err != nil {
				return err
			}
			c.mu.index = x
		}
		if err := c.bulkRollbackLocked(); err != nil {
			c.closeIndex()
			return fmt.Errorf("cannot roll back bulk load: %w", err)
		}
		c.closeIndex()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("cannot read bulk marker: %w", err)
	}
	if err := c.loadPayloadIndex(); err != nil {
		return err
	}
	lastLog, err := c.lastLogSeq()
	if err != nil {
		return fmt.Errorf("cannot read log: %w", err)
	}
	c.seq.Store(lastLog)
	if m.Index == nil {
		n, err := c.countVectors()
		if err != nil {
			return err
		}
		c.live.Store(n)
		return nil
	}
	ckptSeq, file, ok, err := c.db.readCheckpointMeta(c.id)
	if err != nil {
		return err
	}
	q, xs, err := c.db.quantizerFor(&m)
	if err != nil {
		return err
	}
	c.mu.quant = q
	var x *hnsw.Index
	if ok {
		start := time.Now()
		x, err = c.db.readCheckpointFile(file, c.id, ckptSeq, c.dim, q.storage())
		if err == nil {
			c.db.opts.Logger.Infof("collection %q: checkpoint %s loaded in %v", c.name, file, time.Since(start).Round(time.Millisecond))
		}
		if err == nil {
			if o := x.Options(); o.Dim != c.dim || o.Metric != metricNames[m.Index.Metric] {
				x.Close()
				x, err = nil, fmt.Errorf("checkpoint %s has dim %d metric %v: %w", file, o.Dim, o.Metric, hnsw.ErrCorrupt)
			}
		}
		if err != nil {
			c.db.opts.Logger.Errorf("collection %q: %v; rebuilding the index from the stored vectors", c.name, err)
		}
		if x != nil {
			// The snapshot does not carry the rerank depth (a search
			// setting): without it a quantized index would rerank all ef.
			_ = x.SetRerank(rerankDepth(m.Index.Quantization))
			q.bind(x)
			if err := c.checkExactFile(x, xs, ckptSeq); err != nil {
				x.Close()
				return err
			}
		}
	}
	if x == nil {
		x, err = newIndex(c.dim, m.Index, q)
		if err != nil {
			return err
		}
		if err := c.buildFromVectors(x, nil); err != nil {
			x.Close()
			return err
		}
		c.ckptSeq = 0
		c.needCkpt.Store(true)
	} else {
		c.ckptSeq, c.ckptFile = ckptSeq, file
		if ckptSeq > lastLog {
			c.seq.Store(ckptSeq)
		}
		start := time.Now()
		n, err := c.replay(x, ckptSeq)
		if err != nil {
			x.Close()
			return err
		}
		if n > 0 {
			c.db.opts.Logger.Infof("collection %q: replayed %d log records in %v", c.name, n, time.Since(start).Round(time.Millisecond))
		}
		c.dirty.Store(n)
	}
	c.mu.index = x
	c.live.Store(int64(x.Len()))
	return nil
}

// replay applies to x the final state of every id logged after seq and
// returns the number of log records read.
func (c *Collection) replay(x *hnsw.Index, seq uint64) (int64, error) {
	lo := appendIDKey(nil, c.id, subLog, seq+1)
	_, hi := subBounds(c.id, subLog)
	it, err := c.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	seen := map[uint64]bool{}
	var ids []uint64
	var n int64
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if len(v) != 9 {
			_ = it.Close()
			return 0, fmt.Errorf("cannot decode log record %x: %w", it.Key(), ErrInvalid)
		}
		n++
		id := binary.BigEndian.Uint64(v[1:])
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("cannot read log: %w", err)
	}
	type put struct {
		id  uint64
		vec []float32
	}
	var puts []put
	for _, id := range ids {
		v, err := c.Vector(id, nil)
		switch {
		case err == nil:
			puts = append(puts, put{id, v})
		case errors.Is(err, ErrNotFound):
			x.Delete(id)
		default:
			return 0, err
		}
	}
	if err := addParallel(x, c.db.opts.BuildThreads, len(puts), func(i int) (uint64, []float32) {
		return puts[i].id, puts[i].vec
	}); err != nil {
		return 0, fmt.Errorf("cannot replay log: %w", err)
	}
	return n, nil
}

// countVectors counts c's vector keys.
func (c *Collection) countVectors() (int64, error) {
	lo, hi := subBounds(c.id, subVector)
	it, err := c.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	var n int64
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n, it.Close()
}

// buildFromVectors adds every stored vector of c to x using BuildThreads
// goroutines. If transform is not nil it is applied to each vector first
// (normalization at index creation) and its error aborts the build.
func (c *Collection) buildFromVectors(x *hnsw.Index, transform func(id uint64, v []float32) error) error {
	lo, hi := subBounds(c.id, subVector)
	it, err := c.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	const chunk = 256
	type job struct {
		ids  []uint64
		vecs []float32
	}
	jobs := make(chan job, 2*c.db.opts.BuildThreads)
	errc := make(chan error, c.db.opts.BuildThreads)
	done := make(chan struct{})
	for t := 0; t < c.db.opts.BuildThreads; t++ {
		go func() {
			var err error
			for j := range jobs {
				if err != nil {
					continue
				}
				for i, id := range j.ids {
					if err = x.Add(id, j.vecs[i*c.dim:(i+1)*c.dim]); err != nil {
						break
					}
				}
			}
			errc <- err
		}()
	}
	var readErr error
	go func() {
		defer close(done)
		j := job{}
		for ok := it.First(); ok; ok = it.Next() {
			v := it.Value()
			if len(v) != 4*c.dim {
				readErr = fmt.Errorf("cannot decode vector %x: %d bytes: %w", it.Key(), len(v), ErrInvalid)
				break
			}
			id := idFromKey(it.Key())
			n := len(j.vecs)
			j.vecs = decodeFloats(j.vecs, v)
			if transform != nil {
				if readErr = transform(id, j.vecs[n:]); readErr != nil {
					break
				}
			}
			j.ids = append(j.ids, id)
			if len(j.ids) == chunk {
				jobs <- j
				j = job{ids: make([]uint64, 0, chunk), vecs: make([]float32, 0, chunk*c.dim)}
			}
		}
		if len(j.ids) > 0 && readErr == nil {
			jobs <- j
		}
		close(jobs)
	}()
	<-done
	var firstErr error
	for t := 0; t < c.db.opts.BuildThreads; t++ {
		if err := <-errc; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if err := it.Close(); err != nil && readErr == nil {
		readErr = err
	}
	if readErr != nil {
		return readErr
	}
	if firstErr != nil {
		return fmt.Errorf("cannot build index: %w", firstErr)
	}
	// Parallel inserts can leave a node with no edge into it (or a group
	// whose edges lead only to each other): link them once, now.
	if n := x.Reconnect(); n > 0 {
		c.db.opts.Logger.Infof("collection %q: %d nodes relinked after the build", c.name, n)
	}
	return nil
}

// needsCheckpoint reports whether c's index has writes no checkpoint holds.
// The caller holds c.ckptMu.
func (c *Collection) needsCheckpoint() bool {
	c.mu.RLock()
	has := c.mu.index != nil && !c.mu.dropped
	c.mu.RUnlock()
	return has && (c.needCkpt.Load() || c.dirty.Load() > 0 || c.seq.Load() != c.ckptSeq)
}

// Checkpoint writes c's index to a new checkpoint file now, so that a
// restart replays no write made before the call. It is a no-op without an
// index or when nothing changed since the last checkpoint. Safe for
// concurrent use with writers, which it blocks only for an instant.
func (c *Collection) Checkpoint() error {
	c.ckptMu.Lock()
	defer c.ckptMu.Unlock()
	if err := c.db.writable(); err != nil {
		return fmt.Errorf("cannot checkpoint %q: %w", c.name, err)
	}
	if !c.needsCheckpoint() {
		return nil
	}
	return c.checkpointLocked()
}

// checkpointLocked writes the checkpoint; the caller holds c.ckptMu.
func (c *Collection) checkpointLocked() error {
	if p := c.db.failed.Load(); p != nil {
		return fmt.Errorf("cannot checkpoint %q: %w", c.name, *p)
	}
	start := time.Now()
	// The barrier: with c.mu held for writing no write is between "log
	// sequence assigned" and "applied to the index", so every write with a
	// sequence ≤ seq is in x from now on. Writes after seq may or may not be
	// in the snapshot; replay reapplies their final state either way.
	c.mu.Lock()
	x := c.mu.index
	if x == nil || c.mu.dropped || c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	seq := c.seq.Load()
	dirty := c.dirty.Swap(0)
	need := c.needCkpt.Swap(false)
	c.mu.Unlock()
	restore := func() {
		c.dirty.Add(dirty)
		if need {
			c.needCkpt.Store(true)
		}
	}
	// A checkpoint file is about the size of the index; it is optional (Open
	// replays the log), so it may not eat into the disk reserve.
	if err := c.db.disk.admit(x.Stats().MemoryBytes, false); err != nil {
		restore()
		return fmt.Errorf("cannot checkpoint %q: %w", c.name, err)
	}
	name, err := c.db.writeCheckpointFile(c.id, seq, x)
	if err != nil {
		restore()
		return fmt.Errorf("cannot checkpoint %q: %w", c.name, err)
	}
	b := c.db.pdb.NewBatch()
	defer b.Close()
	_ = b.Set(ckptMetaKey(c.id), append(binary.BigEndian.AppendUint64(nil, seq), name...), nil)
	lo, _ := subBounds(c.id, subLog)
	_ = b.DeleteRange(lo, appendIDKey(nil, c.id, subLog, seq+1), nil)
	if err := c.db.commit(b); err != nil {
		restore()
		_ = c.db.opts.FS.Remove(c.db.opts.FS.PathJoin(c.db.ckptDir, name))
		return fmt.Errorf("cannot checkpoint %q: %w", c.name, err)
	}
	c.ckptSeq, c.ckptFile = seq, name
	c.db.removeCheckpointFiles(c.id, name)
	c.db.opts.Logger.Infof("collection %q: checkpoint at seq %d (%d vectors) in %v", c.name, seq, x.Len(), time.Since(start).Round(time.Millisecond))
	return nil
}

// checkpointLoop checkpoints collections in the background: those with
// CheckpointWrites writes since their last checkpoint whenever a writer
// kicks it, and every written-to one each CheckpointInterval.
func (db *DB) checkpointLoop() {
	defer db.bg.Done()
	var tick <-chan time.Time
	if db.opts.CheckpointInterval > 0 {
		t := time.NewTicker(db.opts.CheckpointInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		timed := false
		select {
		case <-db.stop:
			return
		case <-tick:
			timed = true
		case <-db.kick:
		}
		db.mu.Lock()
		colls := make([]*Collection, 0, len(db.mu.colls))
		for _, c := range db.mu.colls {
			colls = append(colls, c)
		}
		db.mu.Unlock()
		for _, c := range colls {
			if db.closing.Load() || db.failed.Load() != nil {
				break
			}
			c.ckptMu.Lock()
			if c.needCkpt.Load() || c.dirty.Load() >= int64(db.opts.CheckpointWrites) || (timed && c.needsCheckpoint()) {
				if c.needsCheckpoint() {
					if err := c.checkpointLocked(); err != nil {
						db.opts.Logger.Errorf("%v", err)
					}
				}
			}
			c.ckptMu.Unlock()
		}
	}
}

// kickCheckpointer wakes the checkpointer without waiting.
func (db *DB) kickCheckpointer() {
	select {
	case db.kick <- struct{}{}:
	default:
	}
}

// checkExactFile makes a quantized index's vector file hold the vector of
// every slot of x, just loaded from the checkpoint at seq: the file is
// trusted when Close marked it clean for that checkpoint, and rewritten
// from Pebble otherwise (a crash, a failed write, a lost checkpoint).
func (c *Collection) checkExactFile(x *hnsw.Index, xs exactState, seq uint64) error {
	e := c.mu.quant.exact
	if e == nil {
		return nil
	}
	if xs.clean && xs.seq == seq && e.covers(x.Stats().Slots) {
		return nil
	}
	start := time.Now()
	n, err := e.rebuildFrom(x)
	if err != nil {
		if e.failed.Load() {
			// A write failed (disk full): reranks read Pebble until the
			// next Open, which rebuilds again.
			c.db.opts.Logger.Errorf("collection %q: %v", c.name, err)
			return nil
		}
		return err
	}
	c.db.exactRebuilds.Add(1)
	c.db.opts.Logger.Infof("collection %q: vector file rebuilt from Pebble (%d vectors) in %v", c.name, n, time.Since(start).Round(time.Millisecond))
	return nil
}
