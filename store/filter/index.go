package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Options configures an Index. The zero value of each field means its
// default, applied by EnsureDefaults (NewIndex calls it).
type Options struct {
	// MaxList is the largest allowed set a bound Predicate lists for
	// AllowedIDs (and so the size below which a filtered search becomes an
	// exact search over the listed ids). Larger sets, and filters the
	// inverted index cannot answer, are evaluated id by id. Default 2048,
	// hnsw's own exact-search threshold; 0 < MaxList ≤ 1<<20.
	MaxList int
	// MaxPrefilter is the largest candidate set (from the inverted and
	// range indexes) that Bind marks in a bitmap over the docs, so that
	// Allow rejects non-candidates without reading their payloads; it is
	// used only when the candidates are at most half the docs. Binding
	// costs about 2 ns a candidate. Default 65536; 0 ≤ MaxPrefilter ≤ 1<<26
	// (-1 disables it).
	MaxPrefilter int
}

// EnsureDefaults fills the zero fields of o with their defaults.
func (o *Options) EnsureDefaults() {
	if o.MaxList == 0 {
		o.MaxList = 2048
	}
	if o.MaxPrefilter == 0 {
		o.MaxPrefilter = 65536
	}
}

// Validate reports whether o (after EnsureDefaults) is within range.
func (o *Options) Validate() error {
	if o.MaxList < 1 || o.MaxList > 1<<20 {
		return fmt.Errorf("cannot use options: max list %d outside 1..%d: %w", o.MaxList, 1<<20, ErrInvalidOptions)
	}
	if o.MaxPrefilter < -1 || o.MaxPrefilter > 1<<26 {
		return fmt.Errorf("cannot use options: max prefilter %d outside -1..%d: %w", o.MaxPrefilter, 1<<26, ErrInvalidOptions)
	}
	return nil
}

// Index is the in-memory payload index of one collection: every id's payload
// pre-decoded into a compact record (a field table of interned dot paths
// over canonically encoded values), and an inverted index from (path,
// scalar value) to the ids holding it, or holding an array that contains
// it. An id the Index does not hold has the empty payload {}.
//
// Index is safe for concurrent use: Set and Delete serialize on a write
// lock, and a bound Predicate holds the read lock from Bind until Release
// (so writes wait for the searches in flight, and a search sees one
// consistent state).
type Index struct {
	opts Options
	mu   struct {
		sync.RWMutex
		// dense maps small ids to 1 + their index in docs (0: none);
		// slotOf maps the other ids. See setSlotLocked.
		dense   []uint32
		slotOf  map[uint64]uint32
		count   int // ids held
		docs    []doc
		free    []uint32 // unused docs entries
		paths   []pathEnt
		pathIDs map[pathKey]uint32
		// freePaths are path ids no document uses, for reuse.
		freePaths []uint32
		posts     map[string]*posting
		ranges    map[uint32]*rangeIndex // by path id
		bytes     int64                  // MemoryBytes
	}
	// Write scratch, used only under mu's write lock.
	enc  encoder
	keys []byte
	nums []float64
	// preds pools bound predicates.
	preds sync.Pool
	// parsers pools payload parsers (Set parses before taking the lock).
	parsers sync.Pool
}

// doc is one id's payload.
type doc struct {
	id   uint64
	rec  []byte    // field table and values; see docRecord
	refs []postRef // the postings holding this doc, and where
}

// postRef locates a doc in a posting list.
type postRef struct {
	p   *posting
	pos uint32
}

// posting is the unordered list of docs (by slot) holding one (path,
// scalar value) key; each doc's postRef records its position, so removal is
// O(1).
type posting struct {
	key   string
	slots []uint32
}

// pathKey names a dot-path segment: its parent path id (0 is the root) and
// its key.
type pathKey struct {
	parent uint32
	name   string
}

// pathEnt is an interned path and the number of documents using it.
type pathEnt struct {
	key  pathKey
	refs int64
}

// Approximate per-entry overheads for MemoryBytes.
const (
	docOverhead     = 48 + 24 // doc struct and its map entry
	postingOverhead = 64 + 48 // posting struct, map entry, key header
	pathOverhead    = 64 + 48
	postRefSize     = 16
)

// NewIndex returns an empty Index.
func NewIndex(opts Options) (*Index, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	x := &Index{opts: opts}
	x.mu.slotOf = make(map[uint64]uint32)
	x.mu.pathIDs = make(map[pathKey]uint32)
	x.mu.paths = []pathEnt{{}} // id 0: the root
	x.mu.posts = make(map[string]*posting)
	x.mu.ranges = make(map[uint32]*rangeIndex)
	x.enc.intern = x.internLocked
	x.preds.New = func() any { return new(bound) }
	x.parsers.New = func() any { return new(parser) }
	return x, nil
}

// Options returns the Index's options (with defaults applied).
func (x *Index) Options() Options { return x.opts }

// Set replaces the payload of id with payload, a JSON object of at most
// MaxPayloadBytes (errors wrap ErrBadPayload). The empty object removes the
// id, as Delete. payload is not retained.
func (x *Index) Set(id uint64, payload []byte) error {
	if len(payload) > MaxPayloadBytes {
		return fmt.Errorf("cannot index payload of %d: %d bytes exceed the limit of %d: %w",
			id, len(payload), MaxPayloadBytes, ErrBadPayload)
	}
	p := x.parsers.Get().(*parser)
	defer func() {
		if cap(p.nodes) > 1<<16 || cap(p.strs) > 1<<20 {
			return // do not pool the scratch of an outsized payload
		}
		x.parsers.Put(p)
	}()
	if err := p.parse(payload, 0); err != nil {
		return fmt.Errorf("cannot index payload of %d: %w: %w", id, err, ErrBadPayload)
	}
	if p.nodes[0].kind != tObj {
		return fmt.Errorf("cannot index payload of %d: not a JSON object: %w", id, ErrBadPayload)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if p.nodes[0].n == 0 {
		x.deleteLocked(id)
		return nil
	}
	slot, ok := x.slotLocked(id)
	if !ok && len(x.mu.free) == 0 && len(x.mu.docs) >= int(noPath) {
		return fmt.Errorf("cannot index payload of %d: %d ids held: %w", id, len(x.mu.docs), ErrFull)
	}
	rec := x.encodeLocked(p)
	if ok {
		// The new record holds its path references already, so paths
		// shared by both stay interned.
		x.unindexLocked(slot)
	} else {
		if n := len(x.mu.free); n > 0 {
			slot = x.mu.free[n-1]
			x.mu.free = x.mu.free[:n-1]
		} else {
			slot = uint32(len(x.mu.docs))
			x.mu.docs = append(x.mu.docs, doc{})
		}
		x.setSlotLocked(id, slot)
		x.mu.bytes += docOverhead
	}
	d := &x.mu.docs[slot]
	d.id, d.rec = id, rec
	x.mu.bytes += int64(len(rec))
	x.indexLocked(slot)
	return nil
}

// Delete removes the payload of id (giving it the empty payload). Deleting
// an absent id does nothing.
func (x *Index) Delete(id uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.deleteLocked(id)
}

func (x *Index) deleteLocked(id uint64) {
	slot, ok := x.slotLocked(id)
	if !ok {
		return
	}
	x.unindexLocked(slot)
	x.delSlotLocked(id)
	x.mu.docs[slot] = doc{refs: x.mu.docs[slot].refs[:0]}
	x.mu.free = append(x.mu.free, slot)
	x.mu.bytes -= docOverhead
}

// Len returns the number of ids with a non-empty payload.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.mu.count
}

// denseSlack is how far past twice the ids held the dense table may grow.
const denseSlack = 1024

// slotLocked returns the docs index of id. It needs mu held (read or write).
func (x *Index) slotLocked(id uint64) (uint32, bool) {
	if id < uint64(len(x.mu.dense)) {
		s := x.mu.dense[id]
		return s - 1, s != 0
	}
	s, ok := x.mu.slotOf[id]
	return s, ok
}

// setSlotLocked records a new id. Ids below twice the number held (plus
// denseSlack) go to the dense table, grown as needed, so that collections
// numbered from 0 (bulk builds) resolve ids by indexing; others go to the
// map. The dense table never exceeds 4 bytes × (2 × peak ids + denseSlack).
func (x *Index) setSlotLocked(id uint64, slot uint32) {
	x.mu.count++
	n := uint64(len(x.mu.dense))
	if id >= n {
		limit := 2*uint64(x.mu.count) + denseSlack
		if id < limit {
			grow := max(id+1, min(2*n, limit))
			old := len(x.mu.dense)
			x.mu.dense = append(x.mu.dense, make([]uint32, grow-n)...)
			x.mu.bytes += 4 * int64(len(x.mu.dense)-old)
			for k, s := range x.mu.slotOf {
				if k < grow {
					x.mu.dense[k] = s + 1
					delete(x.mu.slotOf, k)
				}
			}
			n = uint64(len(x.mu.dense))
		}
	}
	if id < n {
		x.mu.dense[id] = slot + 1
		return
	}
	x.mu.slotOf[id] = slot
}

// delSlotLocked forgets id.
func (x *Index) delSlotLocked(id uint64) {
	x.mu.count--
	if id < uint64(len(x.mu.dense)) {
		x.mu.dense[id] = 0
		return
	}
	delete(x.mu.slotOf, id)
}

// MemoryBytes returns an estimate of the memory the Index holds: records,
// postings, interned paths and their bookkeeping.
func (x *Index) MemoryBytes() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.mu.bytes
}

// Paths returns the number of distinct dot paths in use.
func (x *Index) Paths() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.mu.pathIDs)
}

// encodeLocked encodes the parsed payload p as a new document record,
// interning (and referencing) its paths.
func (x *Index) encodeLocked(p *parser) []byte {
	e := &x.enc
	e.p = p
	e.out = e.out[:0]
	e.fields = e.fields[:0]
	e.encode(0, 0)
	fields := e.fields
	slices.SortFunc(fields, func(a, b field) int {
		switch {
		case a.path < b.path:
			return -1
		case a.path > b.path:
			return 1
		}
		return 0
	})
	hdr := 4 + len(fields)*fieldSize
	rec := make([]byte, hdr, hdr+len(e.out))
	binary.LittleEndian.PutUint32(rec, uint32(len(fields)))
	for i, f := range fields {
		binary.LittleEndian.PutUint32(rec[4+i*fieldSize:], f.path)
		binary.LittleEndian.PutUint32(rec[8+i*fieldSize:], f.off+uint32(hdr))
	}
	rec = append(rec, e.out...)
	e.p = nil
	if cap(e.out) > 1<<20 {
		e.out = nil
	}
	return rec
}

// internLocked returns the path id of key under parent, interning it, and
// takes one reference on it.
func (x *Index) internLocked(parent uint32, key []byte) uint32 {
	if id, ok := x.mu.pathIDs[pathKey{parent, bytesToString(key)}]; ok {
		x.mu.paths[id].refs++
		return id
	}
	k := pathKey{parent, string(key)}
	var id uint32
	if n := len(x.mu.freePaths); n > 0 {
		id = x.mu.freePaths[n-1]
		x.mu.freePaths = x.mu.freePaths[:n-1]
		x.mu.paths[id] = pathEnt{key: k, refs: 1}
	} else {
		if len(x.mu.paths) >= int(noPath) {
			// 4 billion distinct paths cannot fit in memory anyway.
			panic("BUG: filter: path ids exhausted")
		}
		id = uint32(len(x.mu.paths))
		x.mu.paths = append(x.mu.paths, pathEnt{key: k, refs: 1})
	}
	x.mu.pathIDs[k] = id
	x.mu.bytes += int64(pathOverhead + len(key))
	return id
}

// releasePathLocked drops one reference on path id.
func (x *Index) releasePathLocked(id uint32) {
	e := &x.mu.paths[id]
	e.refs--
	if e.refs > 0 {
		return
	}
	if e.refs < 0 {
		panic("BUG: filter: path reference count below zero")
	}
	if x.mu.ranges[id] != nil {
		panic("BUG: filter: unused path with a range index")
	}
	delete(x.mu.pathIDs, e.key)
	x.mu.bytes -= int64(pathOverhead + len(e.key.name))
	*e = pathEnt{}
	x.mu.freePaths = append(x.mu.freePaths, id)
}

// fieldCount returns the number of fields of a record.
func fieldCount(rec []byte) int { return int(binary.LittleEndian.Uint32(rec)) }

// fieldAt returns field i of a record: its path id and its encoded value
// (running on to the record's end).
func fieldAt(rec []byte, i int) (uint32, []byte) {
	e := rec[4+i*fieldSize:]
	return binary.LittleEndian.Uint32(e), rec[binary.LittleEndian.Uint32(e[4:]):]
}

// forEachField calls fn with each field of a record (for tests and cold
// paths).
func forEachField(rec []byte, fn func(path uint32, v []byte)) {
	for i := range fieldCount(rec) {
		fn(fieldAt(rec, i))
	}
}

// indexLocked adds doc slot to the postings of its scalar values and of
// its arrays' scalar elements, and its numbers to the range indexes.
func (x *Index) indexLocked(slot uint32) {
	rec := x.mu.docs[slot].rec
	for i := range fieldCount(rec) {
		path, v := fieldAt(rec, i)
		x.nums = numbersOf(v, x.nums)
		for _, f := range x.nums {
			x.rangeAddLocked(path, f, slot)
		}
		switch {
		case isScalar(v):
			x.postLocked(slot, path, v[:valueLen(v)])
		case v[0] == tArr:
			body := arrayBody(v)
			for len(body) > 0 {
				l := valueLen(body)
				if isScalar(body) {
					x.postLocked(slot, path, body[:l])
				}
				body = body[l:]
			}
		}
	}
}

// postLocked adds slot to the posting of (path, v) unless it is there.
func (x *Index) postLocked(slot, path uint32, v []byte) {
	x.keys = binary.LittleEndian.AppendUint32(x.keys[:0], path)
	x.keys = append(x.keys, v...)
	p := x.mu.posts[string(x.keys)]
	if p == nil {
		p = &posting{key: string(x.keys)}
		x.mu.posts[p.key] = p
		x.mu.bytes += int64(postingOverhead + len(p.key))
	} else if n := len(p.slots); n > 0 && p.slots[n-1] == slot {
		return // an array holding the value twice
	}
	d := &x.mu.docs[slot]
	d.refs = append(d.refs, postRef{p, uint32(len(p.slots))})
	p.slots = append(p.slots, slot)
	x.mu.bytes += 4 + postRefSize
}

// unindexLocked removes doc slot from its postings and releases its paths
// and record.
func (x *Index) unindexLocked(slot uint32) {
	d := &x.mu.docs[slot]
	for _, r := range d.refs {
		p := r.p
		last := len(p.slots) - 1
		if moved := p.slots[last]; r.pos != uint32(last) {
			p.slots[r.pos] = moved
			md := &x.mu.docs[moved]
			for k := range md.refs {
				if md.refs[k].p == p {
					md.refs[k].pos = r.pos
					break
				}
			}
		}
		p.slots = p.slots[:last]
		x.mu.bytes -= 4 + postRefSize
		if last == 0 {
			delete(x.mu.posts, p.key)
			x.mu.bytes -= int64(postingOverhead + len(p.key))
		}
	}
	clear(d.refs)
	d.refs = d.refs[:0]
	for i := range fieldCount(d.rec) {
		path, v := fieldAt(d.rec, i)
		x.nums = numbersOf(v, x.nums)
		for _, f := range x.nums {
			x.rangeRemoveLocked(path, f, slot)
		}
		x.releasePathLocked(path)
	}
	x.mu.bytes -= int64(len(d.rec))
	d.rec = nil
}

// rangeAddLocked adds (v, slot) to the range index of path.
func (x *Index) rangeAddLocked(path uint32, v float64, slot uint32) {
	r := x.mu.ranges[path]
	if r == nil {
		r = new(rangeIndex)
		x.mu.ranges[path] = r
		x.mu.bytes += rangeIndexOverhead
	}
	n := r.entries()
	r.add(v, slot)
	x.mu.bytes += int64(r.entries()-n) * rangeEntSize
}

// rangeRemoveLocked removes (v, slot) from the range index of path.
func (x *Index) rangeRemoveLocked(path uint32, v float64, slot uint32) {
	r := x.mu.ranges[path]
	n := r.entries()
	r.remove(v, slot)
	x.mu.bytes += int64(r.entries()-n) * rangeEntSize
	if r.live() == 0 {
		delete(x.mu.ranges, path)
		x.mu.bytes -= rangeIndexOverhead + int64(r.entries())*rangeEntSize
	}
}

// Sentinel errors.
var (
	// ErrBadFilter is wrapped by every error Compile returns: the server
	// answers 400 bad_filter.
	ErrBadFilter = errors.New("filter: bad filter")
	// ErrBadPayload is wrapped by the errors of Index.Set for a payload that
	// is not a JSON object of at most MaxPayloadBytes.
	ErrBadPayload = errors.New("filter: bad payload")
	// ErrFull is returned when an Index holds 2^32-1 ids.
	ErrFull = errors.New("filter: index full")
	// ErrInvalidOptions is wrapped by Options.Validate's errors.
	ErrInvalidOptions = errors.New("filter: invalid options")
)
