package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/lsmvec/lsmvec/hnsw"
	"github.com/lsmvec/lsmvec/pq"
)

// The vector file of a quantized index (Dir/vectors/<cid>.vec). A quantized
// index keeps only codes in RAM; the float32 vectors it reranks with are
// read from this file, addressed by index slot, through a read-only shared
// mapping: no copy, no system call, and the pages are the kernel's page
// cache (evictable, shared with nothing else), not the process's heap.
// Pebble stays the source of truth: the file is written next to each
// index insert (Storage.Set, before the slot is published), fsynced and
// marked clean only by Close after its final checkpoint, and rebuilt from
// Pebble at Open whenever it is not marked clean for the checkpoint being
// loaded. A failed write (disk full) switches the file's reads to Pebble
// Gets until the next Open. See docs/architecture.md, "## store".
//
// Layout: a 4096-byte header (magic, cid u32 LE, dim u32 LE, state u32 LE
// (0 dirty, 1 clean), 4 zero bytes, checkpoint sequence u64 LE, CRC-32C of
// the 32 bytes before it), then slot s at 4096 + s·4·dim, dim float32 LE.
// The mapping is cut into segments that never move: segment 0 holds slots
// [0, 1024), segment i ≥ 1 slots [1024·2^(i−1), 1024·2^i); a segment is
// mapped once the file covers it whole, so a mapped page is never past the
// end of the file.
const (
	exactMagic      = "LSMVEXF1"
	exactHeaderLen  = 4096
	exactHeaderUsed = 36
	exactSegBase    = 1024
	exactMaxSegs    = 22 // slots < 2^31
	exactSuffix     = ".vec"
	exactDirName    = "vectors"
)

var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// exactFile is one quantized index's vector file. It implements
// pq.ExactSource and pq.ExactViewer. Reads are safe for concurrent use with
// each other and with writes of other slots (the hnsw.Storage rules: a slot
// is written before it is published and not again while readable); writes
// serialise on mu.
type exactFile struct {
	db        *DB
	fs        vfs.FS
	path      string
	cid       uint32
	dim       int
	slotBytes int64
	cosine    bool

	mu   sync.Mutex // serialises writes, growth and header updates
	f    vfs.File
	size int64 // bytes the file covers (under mu)

	// segs[i] is segment i's mapping as float32 values (nil until mapped,
	// or always without mappings).
	segs     [exactMaxSegs]atomic.Pointer[[]float32]
	maps     [][]byte // every mapping, for Close (under mu)
	canMap   bool
	failed   atomic.Bool // a write failed: reads go to Pebble
	fallback atomic.Pointer[exactFallback]
	closed   bool // under mu
}

// exactFallback reads the float32 vector of a slot from Pebble: the index
// maps the slot to its id.
type exactFallback struct {
	db  *DB
	cid uint32
	x   *hnsw.Index
}

// exactPath returns the vector file name of collection cid.
func exactPath(db *DB, cid uint32) string {
	return db.opts.FS.PathJoin(db.exactDir, fmt.Sprintf("%08x%s", cid, exactSuffix))
}

// exactState is what a vector file's header says.
type exactState struct {
	clean bool
	seq   uint64
}

// openExactFile opens (creating when absent) collection cid's vector file.
// With fresh the content is discarded. It returns the header's state; an
// absent, foreign or damaged header reads as dirty.
func openExactFile(db *DB, cid uint32, dim int, cosine, fresh bool) (*exactFile, exactState, error) {
	fs := db.opts.FS
	path := exactPath(db, cid)
	var f vfs.File
	var err error
	if fresh {
		if _, err := fs.Stat(path); err == nil {
			if err := fs.Remove(path); err != nil {
				return nil, exactState{}, fmt.Errorf("cannot remove vector file: %w", err)
			}
		}
	}
	f, err = fs.OpenReadWrite(path)
	if err != nil {
		return nil, exactState{}, fmt.Errorf("cannot open vector file: %w", err)
	}
	if fresh {
		if err := syncDir(fs, db.exactDir); err != nil {
			_ = f.Close()
			return nil, exactState{}, err
		}
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, exactState{}, fmt.Errorf("cannot stat vector file: %w", err)
	}
	e := &exactFile{db: db, fs: fs, path: path, cid: cid, dim: dim, slotBytes: 4 * int64(dim), cosine: cosine, f: f, size: st.Size()}
	e.canMap = nativeLittleEndian && f.Fd() != vfs.InvalidFd && mmapSupported
	var state exactState
	var hdr [exactHeaderUsed]byte
	if e.size >= exactHeaderLen {
		if _, err := f.ReadAt(hdr[:], 0); err == nil && string(hdr[:8]) == exactMagic &&
			binary.LittleEndian.Uint32(hdr[8:]) == cid && binary.LittleEndian.Uint32(hdr[12:]) == uint32(dim) &&
			crc32.Checksum(hdr[:32], castagnoli) == binary.LittleEndian.Uint32(hdr[32:]) {
			state.clean = binary.LittleEndian.Uint32(hdr[16:]) == 1
			state.seq = binary.LittleEndian.Uint64(hdr[24:])
		}
	}
	if !state.clean {
		if err := e.writeHeader(false, 0); err != nil {
			_ = f.Close()
			return nil, exactState{}, err
		}
	}
	e.mu.Lock()
	e.mapCoveredLocked()
	e.mu.Unlock()
	return e, state, nil
}

// writeHeader writes the header with the given state. A clean header is
// written only after the data is synced, and synced itself.
func (e *exactFile) writeHeader(clean bool, seq uint64) error {
	hdr := make([]byte, exactHeaderLen)
	copy(hdr, exactMagic)
	binary.LittleEndian.PutUint32(hdr[8:], e.cid)
	binary.LittleEndian.PutUint32(hdr[12:], uint32(e.dim))
	if clean {
		binary.LittleEndian.PutUint32(hdr[16:], 1)
	}
	binary.LittleEndian.PutUint64(hdr[24:], seq)
	binary.LittleEndian.PutUint32(hdr[32:], crc32.Checksum(hdr[:32], castagnoli))
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.f.WriteAt(hdr, 0); err != nil {
		return fmt.Errorf("cannot write vector file header: %w", err)
	}
	if e.size < exactHeaderLen {
		e.size = exactHeaderLen
	}
	return nil
}

// markDirty records that the file may diverge from the last checkpoint
// (it is about to be written), durably, before any write.
func (e *exactFile) markDirty() error {
	if err := e.writeHeader(false, 0); err != nil {
		return err
	}
	if err := e.f.Sync(); err != nil {
		return fmt.Errorf("cannot sync vector file: %w", err)
	}
	return nil
}

// markClean syncs the data and records that the file holds the vector of
// every live slot of the checkpoint at seq. The caller guarantees that no
// write happens from now on.
func (e *exactFile) markClean(seq uint64) error {
	if e.failed.Load() {
		return nil // some slot was not written: stay dirty
	}
	if err := e.f.Sync(); err != nil {
		return fmt.Errorf("cannot sync vector file: %w", err)
	}
	if err := e.writeHeader(true, seq); err != nil {
		return err
	}
	if err := e.f.Sync(); err != nil {
		return fmt.Errorf("cannot sync vector file: %w", err)
	}
	return nil
}

// covers reports whether the file reaches the end of slot n−1.
func (e *exactFile) covers(n int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.size >= exactHeaderLen+int64(n)*e.slotBytes
}

// segOf returns slot's segment and the segment's first slot.
func segOf(slot uint32) (int, uint32) {
	i := bits.Len32(slot / exactSegBase)
	if i == 0 {
		return 0, 0
	}
	return i, exactSegBase << (i - 1)
}

// segSlots returns the number of slots of segment i.
func segSlots(i int) int64 {
	if i == 0 {
		return exactSegBase
	}
	return exactSegBase << (i - 1)
}

// segRange returns segment i's byte offset and length in the file.
func (e *exactFile) segRange(i int) (off, n int64) {
	var first int64
	if i > 0 {
		first = exactSegBase << (i - 1)
	}
	return exactHeaderLen + first*e.slotBytes, segSlots(i) * e.slotBytes
}

// mapCoveredLocked maps every segment the file covers whole and that is
// not mapped yet.
func (e *exactFile) mapCoveredLocked() {
	if !e.canMap {
		return
	}
	for i := 0; i < exactMaxSegs; i++ {
		off, n := e.segRange(i)
		if off+n > e.size {
			return
		}
		if e.segs[i].Load() != nil {
			continue
		}
		b, err := mmapFile(e.f.Fd(), off, int(n))
		if err != nil {
			e.canMap = false // reads use ReadAt from now on
			return
		}
		e.maps = append(e.maps, b)
		v := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
		e.segs[i].Store(&v)
	}
}

// grow makes the file cover (and the mapping reach) slots [0, n): each new
// segment is extended to its full length (sparse: the holes cost no disk)
// and mapped.
func (e *exactFile) grow(n int) {
	if n <= 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.growLocked(n)
}

func (e *exactFile) growLocked(n int) {
	if e.closed || e.failed.Load() {
		return
	}
	i, _ := segOf(uint32(n - 1))
	off, ln := e.segRange(i)
	if end := off + ln; end > e.size {
		// The last byte of the segment belongs to a slot never written
		// whole (the file would reach it otherwise), so the zero is safe.
		if _, err := e.f.WriteAt([]byte{0}, end-1); err != nil {
			e.failLocked(err)
			return
		}
		e.size = end
	}
	e.mapCoveredLocked()
}

// failLocked switches reads to Pebble after a failed write.
func (e *exactFile) failLocked(err error) {
	if !e.failed.Swap(true) {
		e.db.opts.Logger.Errorf("vector file %s: %v; reranking from Pebble until the next open", e.path, err)
	}
}

// set writes vec (dim values, as the index passed it to Storage.Set)
// under slot. A failure switches reads to Pebble; it does not fail the
// insert (Pebble holds the vector durably).
func (e *exactFile) set(slot uint32, vec []float32, buf *[]byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.failed.Load() {
		return
	}
	e.growLocked(int(slot) + 1)
	if e.failed.Load() {
		return
	}
	b := appendFloats((*buf)[:0], vec)
	*buf = b
	e.writeLocked(slot, b)
}

// writeSlots writes b, whole slots from first on.
func (e *exactFile) writeSlots(first uint32, b []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.failed.Load() {
		return
	}
	e.growLocked(int(int64(first) + int64(len(b))/e.slotBytes))
	if e.failed.Load() {
		return
	}
	e.writeLocked(first, b)
}

// writeLocked writes b at slot's offset and extends the covered size.
func (e *exactFile) writeLocked(slot uint32, b []byte) {
	off := exactHeaderLen + int64(slot)*e.slotBytes
	if _, err := e.f.WriteAt(b, off); err != nil {
		e.failLocked(err)
		return
	}
	if end := off + int64(len(b)); end > e.size {
		e.size = end
	}
}

// ViewVector implements pq.ExactViewer: the mapped vector of slot.
func (e *exactFile) ViewVector(slot uint32) ([]float32, bool) {
	if e.failed.Load() {
		return nil, false
	}
	i, first := segOf(slot)
	p := e.segs[i].Load()
	if p == nil {
		return nil, false
	}
	o := int(slot-first) * e.dim
	return (*p)[o : o+e.dim : o+e.dim], true
}

// AppendVector implements pq.ExactSource: the mapped vector, or one read
// from the file, or from Pebble after a failed write.
func (e *exactFile) AppendVector(slot uint32, dst []float32) ([]float32, bool) {
	if v, ok := e.ViewVector(slot); ok {
		return append(dst, v...), true
	}
	if !e.failed.Load() {
		n := len(dst)
		if nativeLittleEndian {
			dst = growFloats(dst, e.dim)
			raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst[n:]))), 4*e.dim)
			if _, err := e.f.ReadAt(raw, exactHeaderLen+int64(slot)*e.slotBytes); err == nil {
				return dst, true
			}
			return e.fromPebble(slot, dst[:n])
		}
		raw := make([]byte, 4*e.dim)
		if _, err := e.f.ReadAt(raw, exactHeaderLen+int64(slot)*e.slotBytes); err == nil {
			return decodeFloats(dst, raw), true
		}
	}
	return e.fromPebble(slot, dst)
}

// fromPebble appends slot's vector read from Pebble (normalised for
// cosine, as the index stored it).
func (e *exactFile) fromPebble(slot uint32, dst []float32) ([]float32, bool) {
	fb := e.fallback.Load()
	if fb == nil {
		return dst, false
	}
	id, ok := fb.x.SlotID(slot)
	if !ok {
		return dst, false
	}
	var key [idKeyLen]byte
	v, closer, err := fb.db.pdb.Get(appendIDKey(key[:0], fb.cid, subVector, id))
	if err != nil {
		return dst, false
	}
	n := len(dst)
	if len(v) == 4*e.dim {
		dst = decodeFloats(dst, v)
	}
	_ = closer.Close()
	if len(dst) != n+e.dim {
		return dst[:n], false
	}
	if e.cosine {
		hnsw.Normalize(dst[n:])
	}
	return dst, true
}

// growFloats extends dst by n values (content undefined).
func growFloats(dst []float32, n int) []float32 {
	if cap(dst)-len(dst) < n {
		nd := make([]float32, len(dst), len(dst)+n)
		copy(nd, dst)
		dst = nd
	}
	return dst[:len(dst)+n]
}

// bindIndex points the Pebble fallback at the index that owns the slots.
func (e *exactFile) bindIndex(x *hnsw.Index) {
	e.fallback.Store(&exactFallback{db: e.db, cid: e.cid, x: x})
}

// close unmaps and closes the file. No reader may use it afterwards.
func (e *exactFile) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	for i := range e.segs {
		e.segs[i].Store(nil)
	}
	for _, b := range e.maps {
		_ = munmapFile(b)
	}
	e.maps = nil
	return e.f.Close()
}

// remove closes and deletes the file.
func (e *exactFile) remove() error {
	_ = e.close()
	if err := e.fs.Remove(e.path); err != nil {
		return fmt.Errorf("cannot remove vector file: %w", err)
	}
	return nil
}

// rebuildFrom writes the Pebble vector of every slot of x that holds one
// (live or not yet reclaimed), in id order: what Open does when the file
// is not clean for the loaded checkpoint.
func (e *exactFile) rebuildFrom(x *hnsw.Index) (int, error) {
	db, cid := e.db, e.cid
	type pair struct {
		id   uint64
		slot uint32
	}
	n := x.Stats().Slots
	pairs := make([]pair, 0, n)
	for s := 0; s < n; s++ {
		if id, ok := x.SlotID(uint32(s)); ok {
			pairs = append(pairs, pair{id, uint32(s)})
		}
	}
	// Slot order, so that runs of slots go out in one write (ids mostly
	// follow slots in a built or bulk-loaded index, so the seeks mostly
	// move forward).
	e.grow(n)
	lo, hi := subBounds(cid, subVector)
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, fmt.Errorf("cannot rebuild vector file: %w", err)
	}
	const chunkBytes = 1 << 20
	var key []byte
	var vec []float32
	chunk := make([]byte, 0, chunkBytes+int(e.slotBytes))
	var first uint32 // the chunk's first slot
	flush := func() {
		if len(chunk) > 0 {
			e.writeSlots(first, chunk)
			chunk = chunk[:0]
		}
	}
	written := 0
	for _, p := range pairs {
		next := first + uint32(int64(len(chunk))/e.slotBytes)
		if len(chunk) > 0 && (p.slot < next || p.slot > next+16 || len(chunk) >= chunkBytes) {
			flush()
		}
		if len(chunk) == 0 {
			first, next = p.slot, p.slot
		}
		for ; next < p.slot; next++ { // a short gap of free slots: zeros
			chunk = append(chunk, make([]byte, e.slotBytes)...)
		}
		key = appendIDKey(key[:0], cid, subVector, p.id)
		if !it.SeekGE(key) || string(it.Key()) != string(key) {
			// Deleted since the checkpoint (replay removes it): zeros.
			chunk = append(chunk, make([]byte, e.slotBytes)...)
			continue
		}
		v := it.Value()
		if len(v) != 4*e.dim {
			_ = it.Close()
			return written, fmt.Errorf("cannot rebuild vector file: vector %d has %d bytes: %w", p.id, len(v), ErrInvalid)
		}
		if e.cosine {
			vec = decodeFloats(vec[:0], v)
			hnsw.Normalize(vec)
			chunk = appendFloats(chunk, vec)
		} else {
			chunk = append(chunk, v...) // already f32 LE
		}
		written++
	}
	flush()
	if err := it.Close(); err != nil {
		return written, fmt.Errorf("cannot rebuild vector file: %w", err)
	}
	if e.failed.Load() {
		return written, fmt.Errorf("cannot rebuild vector file %s: a write failed", e.path)
	}
	return written, nil
}

// exactStorage is the hnsw.Storage of a quantized index in the store: the
// pq codes-only storage, plus the vector file, written in Set before the
// slot is published (the pq storage reads it back to rerank).
type exactStorage struct {
	hnsw.Storage
	file *exactFile
	bufs sync.Pool // *[]byte encode buffers
}

// Grow implements hnsw.Storage.
func (s *exactStorage) Grow(n int) {
	s.file.grow(n)
	s.Storage.Grow(n)
}

// Set implements hnsw.Storage.
func (s *exactStorage) Set(slot uint32, vec []float32) {
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	s.file.set(slot, vec, bp)
	s.bufs.Put(bp)
	s.Storage.Set(slot, vec)
}

var (
	_ pq.ExactSource = (*exactFile)(nil)
	_ pq.ExactViewer = (*exactFile)(nil)
	_ hnsw.Storage   = (*exactStorage)(nil)
)

// removeExactLocked closes and deletes the collection's vector file, if
// any, and forgets the quantizer. The caller holds c.mu for writing and has
// closed the index.
func (c *Collection) removeExactLocked() {
	if e := c.mu.quant.exact; e != nil {
		if err := e.remove(); err != nil {
			c.db.opts.Logger.Errorf("collection %q: %v", c.name, err)
		}
	}
	c.mu.quant = quantizer{}
}

// closeExactLocked marks the collection's vector file clean for the
// checkpoint at seq when clean is set (the index holds nothing that
// checkpoint lacks, and no write can follow), then closes it. The caller
// holds c.mu for writing and has closed the index.
func (c *Collection) closeExactLocked(clean bool, seq uint64) error {
	e := c.mu.quant.exact
	if e == nil {
		return nil
	}
	var err error
	if clean {
		err = e.markClean(seq)
	}
	if cerr := e.close(); err == nil && cerr != nil {
		err = fmt.Errorf("cannot close vector file: %w", cerr)
	}
	return err
}

// removeStrayExactFiles deletes the vector files no quantized index owns
// (dropped collections, dropped indexes, a crash in between). Called by
// Open after every collection is loaded.
func (db *DB) removeStrayExactFiles() {
	fs := db.opts.FS
	names, err := fs.List(db.exactDir)
	if err != nil {
		db.opts.Logger.Errorf("cannot list vector files: %v", err)
		return
	}
	keep := map[string]bool{}
	for _, c := range db.mu.colls {
		if e := c.mu.quant.exact; e != nil {
			keep[fs.PathBase(e.path)] = true
		}
	}
	for _, n := range names {
		if !keep[n] {
			_ = fs.Remove(fs.PathJoin(db.exactDir, n))
		}
	}
}
