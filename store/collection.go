package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"

	"github.com/lsmvec/lsmvec/hnsw"
	"github.com/lsmvec/lsmvec/store/filter"
)

// stripeCount is the number of per-id write locks of a collection.
const stripeCount = 256

// Collection is a handle on one collection. It is safe for concurrent use:
// any number of readers and writers at once. Writes of the same id are
// applied to Pebble and to the index in the same order (a striped per-id
// lock spans "commit the batch, then apply it to the index"); writes of
// different ids proceed in parallel and share fsyncs.
//
// A handle stays valid until the collection is dropped or the DB closed;
// its methods then return ErrNotFound or ErrClosed.
type Collection struct {
	db     *DB
	name   string
	id     uint32
	family Family
	dim    int
	max    int64 // max live ids; 0 = unlimited

	// ckptMu serializes checkpoints with each other and with drops.
	ckptMu sync.Mutex
	// ckptSeq is the log sequence the last checkpoint covers and ckptFile its
	// file name (both under ckptMu).
	ckptSeq  uint64
	ckptFile string
	// needCkpt: the index holds state that no checkpoint or log record
	// covers (just built or bulk loaded, or rebuilt at open).
	needCkpt atomic.Bool

	// mu: writers and readers hold RLock; index create/drop, mute, drop,
	// bulk load and the checkpoint barrier hold Lock. While it is held for
	// writing no write is between "log sequence assigned" and "applied to
	// the index".
	mu struct {
		sync.RWMutex
		meta    collMeta
		index   *hnsw.Index // nil without an index
		quant   quantizer   // the index's quantizer (zero for f32)
		dropped bool
		closed  bool
	}
	stripes [stripeCount]sync.Mutex

	// payIdx is the in-memory payload index that filtered searches bind to.
	// It is updated after each payload-changing commit, under the id's
	// stripe, so it follows Pebble's order per id. Lock order: c.mu before
	// payIdx's lock (writers: Set/Delete; searches: Bind in SearchWhere).
	payIdx *filter.Index

	seq     atomic.Uint64 // last log sequence assigned
	live    atomic.Int64  // live ids (reserved before commit, released on failure)
	dirty   atomic.Int64  // index writes since the last checkpoint
	inserts atomic.Int64  // inserts and replaces since open (collections without an index)
	deletes atomic.Int64  // deletes since open (collections without an index)
}

func newCollection(db *DB, m collMeta) *Collection {
	c := &Collection{db: db, name: m.Name, id: m.ID, family: m.Family, dim: m.Dim, max: m.MaxSize}
	c.mu.meta = m
	c.payIdx = newPayloadIndex()
	return c
}

// Name returns the collection's name.
func (c *Collection) Name() string { return c.name }

// Dim returns the collection's dimension.
func (c *Collection) Dim() int { return c.dim }

// Family returns the API family the collection was created for.
func (c *Collection) Family() Family { return c.family }

// CollectionInfo describes a collection.
type CollectionInfo struct {
	Name    string
	Family  Family
	Dim     int
	MaxSize int64
	Size    int64 // live vectors
	Muted   bool
	Index   *IndexConfig // nil without an index; a copy
}

// Info returns the collection's description.
func (c *Collection) Info() (CollectionInfo, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.readableLocked(); err != nil {
		return CollectionInfo{}, fmt.Errorf("cannot describe collection %q: %w", c.name, err)
	}
	info := CollectionInfo{
		Name: c.name, Family: c.family, Dim: c.dim, MaxSize: c.max,
		Size: c.live.Load(), Muted: c.mu.meta.Muted,
	}
	if ic := c.mu.meta.Index; ic != nil {
		cp := *ic
		info.Index = &cp
	}
	return info, nil
}

func (c *Collection) readableLocked() error {
	switch {
	case c.mu.dropped:
		return ErrNotFound
	case c.mu.closed:
		return ErrClosed
	}
	return nil
}

// writableLocked returns why a write cannot proceed, if it cannot.
func (c *Collection) writableLocked() error {
	if err := c.readableLocked(); err != nil {
		return err
	}
	if err := c.db.writable(); err != nil {
		return err
	}
	if c.mu.meta.Muted {
		return ErrMuted
	}
	return nil
}

func (c *Collection) stripe(id uint64) *sync.Mutex {
	return &c.stripes[(id*0x9E3779B97F4A7C15)>>56]
}

func (c *Collection) checkID(id uint64) error {
	if c.family == FamilyCasper && id > MaxCasperID {
		return fmt.Errorf("id %d exceeds u32: %w", id, ErrInvalid)
	}
	return nil
}

// reserve accounts for n new live ids, failing past max_size.
func (c *Collection) reserve(n int64) bool {
	if n <= 0 {
		c.live.Add(n)
		return true
	}
	if c.live.Add(n) > c.max && c.max > 0 {
		c.live.Add(-n)
		return false
	}
	return true
}

// existsLocked reports whether id has a vector; the caller holds id's
// stripe, so the answer stays true until it releases it.
func (c *Collection) existsLocked(id uint64, sc *scratch) (bool, error) {
	if x := c.mu.index; x != nil {
		return x.Contains(id), nil
	}
	sc.key = appendIDKey(sc.key[:0], c.id, subVector, id)
	_, closer, err := c.db.pdb.Get(sc.key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot read vector %d: %w", id, err)
	}
	_ = closer.Close()
	return true, nil
}

// scratch holds the per-call buffers of a write, pooled.
type scratch struct {
	key, pkey, val, rec []byte
	vec                 []float32
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// prepareVector validates vec and returns the form to store: vec itself or,
// under normalization, a normalized copy in sc.vec.
func (c *Collection) prepareVectorLocked(vec []float32, sc *scratch) ([]float32, error) {
	if err := checkVector(vec, c.dim); err != nil {
		return nil, err
	}
	if ic := c.mu.meta.Index; ic != nil && ic.Normalization {
		sc.vec = append(sc.vec[:0], vec...)
		if err := normalizeInto(sc.vec, vec); err != nil {
			return nil, err
		}
		return sc.vec, nil
	}
	return vec, nil
}

// appendLogLocked assigns the next log sequence to (op, id) and adds the log
// record to b. Only collections with an index keep a log.
func (c *Collection) appendLogLocked(b *pebble.Batch, sc *scratch, op byte, id uint64) {
	seq := c.seq.Add(1)
	sc.key = appendIDKey(sc.key[:0], c.id, subLog, seq)
	sc.rec = binary.BigEndian.AppendUint64(append(sc.rec[:0], op), id)
	_ = b.Set(sc.key, sc.rec, nil)
}

// Put inserts or replaces the vector of id; the payload, if any, is kept.
// vec is not retained.
func (c *Collection) Put(id uint64, vec []float32) error {
	if err := c.put(id, vec, nil, false); err != nil {
		return fmt.Errorf("cannot put vector %d into %q: %w", id, c.name, err)
	}
	return nil
}

// PutWithPayload inserts or replaces the vector of id and replaces its
// payload in the same atomic write: payload must be a JSON object of at most
// MaxPayloadBytes, or nil to remove the payload. Neither slice is retained.
func (c *Collection) PutWithPayload(id uint64, vec []float32, payload []byte) error {
	if payload != nil {
		if err := checkPayload(payload); err != nil {
			return fmt.Errorf("cannot put vector %d into %q: %w", id, c.name, err)
		}
	}
	if err := c.put(id, vec, payload, true); err != nil {
		return fmt.Errorf("cannot put vector %d into %q: %w", id, c.name, err)
	}
	return nil
}

func (c *Collection) put(id uint64, vec []float32, payload []byte, setPayload bool) error {
	if err := c.checkID(id); err != nil {
		return err
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.writableLocked(); err != nil {
		return err
	}
	vec, err := c.prepareVectorLocked(vec, sc)
	if err != nil {
		return err
	}
	s := c.stripe(id)
	s.Lock()
	defer s.Unlock()
	existed, err := c.existsLocked(id, sc)
	if err != nil {
		return err
	}
	if !existed && !c.reserve(1) {
		return fmt.Errorf("collection holds %d of %d vectors: %w", c.live.Load(), c.max, ErrCapacity)
	}
	b := c.db.pdb.NewBatch()
	defer b.Close()
	sc.key = appendIDKey(sc.key[:0], c.id, subVector, id)
	sc.val = appendFloats(sc.val[:0], vec)
	_ = b.Set(sc.key, sc.val, nil)
	if setPayload {
		sc.pkey = appendIDKey(sc.pkey[:0], c.id, subPayload, id)
		if payload == nil {
			_ = b.Delete(sc.pkey, nil)
		} else {
			_ = b.Set(sc.pkey, payload, nil)
		}
	}
	x := c.mu.index
	if x != nil {
		c.appendLogLocked(b, sc, opPut, id)
	}
	if err := c.db.commit(b); err != nil {
		if !existed {
			c.live.Add(-1)
		}
		return err
	}
	if setPayload {
		c.indexPayload(id, payload)
	}
	if x != nil {
		if err := x.Add(id, vec); err != nil {
			return c.db.fail(fmt.Sprintf("BUG: index rejected a validated vector: %v", err))
		}
		c.noteIndexWrites(1)
	} else {
		c.inserts.Add(1)
	}
	return nil
}

// Delete removes the vector of id and its payload. ErrNotFound if absent.
func (c *Collection) Delete(id uint64) error {
	if err := c.delete(id); err != nil {
		return fmt.Errorf("cannot delete vector %d from %q: %w", id, c.name, err)
	}
	return nil
}

func (c *Collection) delete(id uint64) error {
	if err := c.checkID(id); err != nil {
		return err
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.writableLocked(); err != nil {
		return err
	}
	s := c.stripe(id)
	s.Lock()
	defer s.Unlock()
	existed, err := c.existsLocked(id, sc)
	if err != nil {
		return err
	}
	if !existed {
		return ErrNotFound
	}
	b := c.db.pdb.NewBatch()
	defer b.Close()
	sc.key = appendIDKey(sc.key[:0], c.id, subVector, id)
	_ = b.Delete(sc.key, nil)
	sc.pkey = appendIDKey(sc.pkey[:0], c.id, subPayload, id)
	_ = b.Delete(sc.pkey, nil)
	x := c.mu.index
	if x != nil {
		c.appendLogLocked(b, sc, opDelete, id)
	}
	if err := c.db.commitFreeing(b); err != nil {
		return err
	}
	c.payIdx.Delete(id)
	c.live.Add(-1)
	if x != nil {
		x.Delete(id)
		c.noteIndexWrites(1)
	} else {
		c.deletes.Add(1)
	}
	return nil
}

// Entry is one vector of a batch.
type Entry struct {
	ID     uint64
	Vector []float32
	// SetPayload makes the batch replace the payload of ID with Payload (a
	// JSON object of at most MaxPayloadBytes), or remove it when Payload is
	// nil. When false the stored payload is kept.
	SetPayload bool
	Payload    []byte
}

// Update applies a batch atomically: every insert (insert-or-replace), then
// every delete. It validates the whole batch first: no duplicate ids among
// the inserts, none among the deletes, no id in both, at least one non-empty
// list, every vector valid; then it commits one Pebble batch and applies it
// to the index, or changes nothing. Deleting an absent id is not an error.
// The net number of new ids must fit in max_size.
func (c *Collection) Update(inserts []Entry, deletes []uint64) error {
	if err := c.update(inserts, deletes); err != nil {
		return fmt.Errorf("cannot update %q: %w", c.name, err)
	}
	return nil
}

func (c *Collection) update(inserts []Entry, deletes []uint64) error {
	if len(inserts) == 0 && len(deletes) == 0 {
		return fmt.Errorf("both insert and delete are empty: %w", ErrInvalid)
	}
	seen := make(map[uint64]bool, len(inserts)+len(deletes))
	for _, e := range inserts {
		if err := c.checkID(e.ID); err != nil {
			return err
		}
		if seen[e.ID] {
			return fmt.Errorf("id %d appears twice in insert: %w", e.ID, ErrInvalid)
		}
		seen[e.ID] = true
		if e.SetPayload && e.Payload != nil {
			if err := checkPayload(e.Payload); err != nil {
				return fmt.Errorf("insert id %d: %w", e.ID, err)
			}
		}
	}
	for _, id := range deletes {
		if err := c.checkID(id); err != nil {
			return err
		}
		if seen[id] {
			if _, dup := findEntry(inserts, id); dup {
				return fmt.Errorf("id %d is in both insert and delete: %w", id, ErrInvalid)
			}
			return fmt.Errorf("id %d appears twice in delete: %w", id, ErrInvalid)
		}
		seen[id] = true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.writableLocked(); err != nil {
		return err
	}
	norm := c.mu.meta.Index != nil && c.mu.meta.Index.Normalization
	vecs := make([][]float32, len(inserts))
	var arena []float32
	if norm {
		arena = make([]float32, len(inserts)*c.dim)
	}
	for i, e := range inserts {
		if err := checkVector(e.Vector, c.dim); err != nil {
			return fmt.Errorf("insert id %d: %w", e.ID, err)
		}
		vecs[i] = e.Vector
		if norm {
			v := arena[i*c.dim : (i+1)*c.dim]
			if err := normalizeInto(v, e.Vector); err != nil {
				return fmt.Errorf("insert id %d: %w", e.ID, err)
			}
			vecs[i] = v
		}
	}
	// Lock every stripe the batch touches, in index order.
	var want [stripeCount]bool
	for id := range seen {
		want[(id*0x9E3779B97F4A7C15)>>56] = true
	}
	for i := range want {
		if want[i] {
			c.stripes[i].Lock()
			defer c.stripes[i].Unlock()
		}
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	var added int64
	for _, e := range inserts {
		ok, err := c.existsLocked(e.ID, sc)
		if err != nil {
			return err
		}
		if !ok {
			added++
		}
	}
	present := make([]bool, len(deletes))
	var removed int64
	for i, id := range deletes {
		ok, err := c.existsLocked(id, sc)
		if err != nil {
			return err
		}
		present[i] = ok
		if ok {
			removed++
		}
	}
	if !c.reserve(added - removed) {
		return fmt.Errorf("batch adds %d ids to %d of %d: %w", added-removed, c.live.Load(), c.max, ErrCapacity)
	}
	b := c.db.pdb.NewBatch()
	defer b.Close()
	x := c.mu.index
	for i, e := range inserts {
		sc.key = appendIDKey(sc.key[:0], c.id, subVector, e.ID)
		sc.val = appendFloats(sc.val[:0], vecs[i])
		_ = b.Set(sc.key, sc.val, nil)
		if e.SetPayload {
			sc.pkey = appendIDKey(sc.pkey[:0], c.id, subPayload, e.ID)
			if e.Payload == nil {
				_ = b.Delete(sc.pkey, nil)
			} else {
				_ = b.Set(sc.pkey, e.Payload, nil)
			}
		}
		if x != nil {
			c.appendLogLocked(b, sc, opPut, e.ID)
		}
	}
	for i, id := range deletes {
		if !present[i] {
			continue
		}
		sc.key = appendIDKey(sc.key[:0], c.id, subVector, id)
		_ = b.Delete(sc.key, nil)
		sc.pkey = appendIDKey(sc.pkey[:0], c.id, subPayload, id)
		_ = b.Delete(sc.pkey, nil)
		if x != nil {
			c.appendLogLocked(b, sc, opDelete, id)
		}
	}
	if b.Empty() {
		return nil // only absent deletes
	}
	if err := c.db.commit(b); err != nil {
		c.live.Add(removed - added)
		return err
	}
	for _, e := range inserts {
		if e.SetPayload {
			c.indexPayload(e.ID, e.Payload)
		}
	}
	for i, id := range deletes {
		if present[i] {
			c.payIdx.Delete(id)
		}
	}
	if x == nil {
		c.inserts.Add(int64(len(inserts)))
		c.deletes.Add(removed)
		return nil
	}
	if err := addParallel(x, c.db.opts.BuildThreads, len(inserts), func(i int) (uint64, []float32) {
		return inserts[i].ID, vecs[i]
	}); err != nil {
		return c.db.fail(fmt.Sprintf("BUG: index rejected a validated vector: %v", err))
	}
	for i, id := range deletes {
		if present[i] {
			x.Delete(id)
		}
	}
	c.noteIndexWrites(int64(len(inserts)) + removed)
	return nil
}

func findEntry(es []Entry, id uint64) (int, bool) {
	for i, e := range es {
		if e.ID == id {
			return i, true
		}
	}
	return -1, false
}

// addParallel adds n vectors to x, using up to threads goroutines for large n.
func addParallel(x *hnsw.Index, threads, n int, at func(i int) (uint64, []float32)) error {
	if threads < 2 || n < 64 {
		for i := 0; i < n; i++ {
			id, v := at(i)
			if err := x.Add(id, v); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				id, v := at(i)
				if err := x.Add(id, v); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// noteIndexWrites counts n index writes towards the next checkpoint.
func (c *Collection) noteIndexWrites(n int64) {
	if c.dirty.Add(n) >= int64(c.db.opts.CheckpointWrites) {
		select {
		case c.db.kick <- struct{}{}:
		default:
		}
	}
}

// Vector appends the stored vector of id (the exact floats written, after
// normalization if the index normalizes) to dst. ErrNotFound if absent.
func (c *Collection) Vector(id uint64, dst []float32) ([]float32, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.readableLocked(); err != nil {
		return dst, fmt.Errorf("cannot get vector %d of %q: %w", id, c.name, err)
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.key = appendIDKey(sc.key[:0], c.id, subVector, id)
	v, closer, err := c.db.pdb.Get(sc.key)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst, fmt.Errorf("cannot get vector %d of %q: %w", id, c.name, ErrNotFound)
	}
	if err != nil {
		return dst, fmt.Errorf("cannot get vector %d of %q: %w", id, c.name, err)
	}
	dst = decodeFloats(dst, v)
	_ = closer.Close()
	return dst, nil
}

// Contains reports whether id has a vector.
func (c *Collection) Contains(id uint64) (bool, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.readableLocked(); err != nil {
		return false, fmt.Errorf("cannot look up vector %d of %q: %w", id, c.name, err)
	}
	if x := c.mu.index; x != nil {
		return x.Contains(id), nil
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	return c.existsLocked(id, sc)
}

// Result is one search hit: an id and its distance to the query, in the
// collection's metric (euclidean/l2: square-rooted).
type Result = hnsw.Result

// Filter restricts a search to the ids it allows; see hnsw.Filter.
type Filter = hnsw.Filter

// Search appends to dst up to k nearest neighbours of q, ascending by
// distance. ef ≤ 0 selects max(k, the index's ef_search). f, if not nil,
// restricts the results to the ids it allows. ErrNoIndex without an index.
// q is not retained.
func (c *Collection) Search(q []float32, k, ef int, f Filter, dst []Result) ([]Result, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.searchLocked(q, k, ef, f, dst)
}

func (c *Collection) searchLocked(q []float32, k, ef int, f Filter, dst []Result) ([]Result, error) {
	if err := c.readableLocked(); err != nil {
		return dst, fmt.Errorf("cannot search %q: %w", c.name, err)
	}
	x := c.mu.index
	if x == nil {
		return dst, fmt.Errorf("cannot search %q: %w", c.name, ErrNoIndex)
	}
	if err := checkVector(q, c.dim); err != nil {
		return dst, fmt.Errorf("cannot search %q: %w", c.name, err)
	}
	if k < 1 {
		return dst, fmt.Errorf("cannot search %q: k %d < 1: %w", c.name, k, ErrInvalid)
	}
	ic := c.mu.meta.Index
	if ef <= 0 {
		ef = max(k, ic.EfSearch)
	}
	n := len(dst)
	if f != nil {
		dst = x.SearchFilter(q, k, ef, f, dst)
	} else {
		dst = x.Search(q, k, ef, dst)
	}
	if ic.sqrtDistance() {
		for i := n; i < len(dst); i++ {
			dst[i].Distance = float32(math.Sqrt(float64(max(dst[i].Distance, 0))))
		}
	}
	return dst, nil
}

// SearchWhere is Search restricted to the ids whose payload matches f (a
// compiled /v1 filter; nil matches everything). It binds f to the
// collection's payload index for the duration of the search, so that small
// matching sets are searched exactly and results honour every write
// acknowledged before the call. Safe for concurrent use; f may be shared.
func (c *Collection) SearchWhere(q []float32, k, ef int, f *filter.Filter, dst []Result) ([]Result, error) {
	if f == nil || f.MatchesAll() {
		return c.Search(q, k, ef, nil, dst)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	pred := c.payIdx.Bind(f)
	defer pred.Release()
	return c.searchLocked(q, k, ef, pred, dst)
}

// SetMuted mutes (writes then fail with ErrMuted) or unmutes the collection;
// the flag is persisted.
func (c *Collection) SetMuted(muted bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.readableLocked(); err != nil {
		return fmt.Errorf("cannot mute %q: %w", c.name, err)
	}
	if err := c.db.writable(); err != nil {
		return fmt.Errorf("cannot mute %q: %w", c.name, err)
	}
	if c.mu.meta.Muted == muted {
		return nil
	}
	m := c.mu.meta
	m.Muted = muted
	if err := c.saveMetaLocked(m, nil); err != nil {
		return fmt.Errorf("cannot mute %q: %w", c.name, err)
	}
	return nil
}

// saveMetaLocked persists m (plus whatever extra adds to the batch) and
// adopts it. The caller holds c.mu for writing.
func (c *Collection) saveMetaLocked(m collMeta, extra func(b *pebble.Batch)) error {
	raw, err := json.Marshal(m)
	if err != nil {
		panic("BUG: cannot encode collection meta: " + err.Error())
	}
	b := c.db.pdb.NewBatch()
	defer b.Close()
	_ = b.Set(nameKey(keyCollection, c.name), raw, nil)
	if extra != nil {
		extra(b)
	}
	if err := c.db.commit(b); err != nil {
		return err
	}
	c.mu.meta = m
	return nil
}

// IDs appends the ids of every live vector, ascending, to dst.
func (c *Collection) IDs(dst []uint64) ([]uint64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.readableLocked(); err != nil {
		return dst, fmt.Errorf("cannot list ids of %q: %w", c.name, err)
	}
	lo, hi := subBounds(c.id, subVector)
	it, err := c.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return dst, fmt.Errorf("cannot list ids of %q: %w", c.name, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		dst = append(dst, idFromKey(it.Key()))
	}
	if err := it.Close(); err != nil {
		return dst, fmt.Errorf("cannot list ids of %q: %w", c.name, err)
	}
	sort.Slice(dst, func(i, j int) bool { return dst[i] < dst[j] })
	return dst, nil
}

// close is called by DB.Close: it waits for in-flight calls, checkpoints a
// dirty index and releases it.
func (c *Collection) close() error {
	c.ckptMu.Lock()
	defer c.ckptMu.Unlock()
	var err error
	if !c.db.testSkipCloseCheckpoint && c.needsCheckpoint() && c.db.Err() == ErrClosed {
		err = c.checkpointLocked()
		if errors.Is(err, ErrDiskFull) {
			// Nothing is lost: the next Open replays the log instead.
			c.db.opts.Logger.Errorf("%v", err)
			err = nil
		}
	}
	// The vector file is clean when the checkpoint holds the index whole:
	// this one succeeded, or nothing changed since the last.
	clean := err == nil && !c.db.testSkipCloseCheckpoint && c.db.Err() == ErrClosed &&
		c.ckptFile != "" && !c.needsCheckpoint()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.closed = true
	if c.mu.index != nil {
		c.mu.index.Close()
		c.mu.index = nil
	}
	if xerr := c.closeExactLocked(clean, c.ckptSeq); xerr != nil && err == nil {
		err = xerr
	}
	return err
}

func (c *Collection) closeIndex() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.index != nil {
		c.mu.index.Close()
		c.mu.index = nil
	}
	_ = c.closeExactLocked(false, 0)
	c.mu.quant = quantizer{}
}
