package hnsw

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/lsmvec/lsmvec/kernels"
)

// Storage holds an Index's vectors, one per slot, and computes distances
// over them. The default is Float32Storage; package pq implements int8 and
// PQ forms, which search on approximate distances and rerank with exact ones
// (see Reranker). One Storage belongs to one Index.
//
// Slots are dense u32 indexes chosen by the index. The calling rules:
//
//   - Init is called once, before anything else.
//   - Grow(n) asks for room for slots [0, n); it and Set are called by
//     writers, possibly from several goroutines at once (for different
//     slots), and concurrently with readers of other slots.
//   - Set(slot, vec) stores a vector before the slot becomes reachable by any
//     reader; vec is already normalised for Cosine and is owned by the
//     caller (copy it). A slot is written again only after it was freed and
//     every reader that could still see it has finished, so readers never
//     need a lock: a published slot's data is immutable while it is readable.
//   - Vector, Distance and the Querier methods may run concurrently with each
//     other, with Grow and with Set of other slots. They must not retain the
//     slices they are given beyond the call.
//   - Save and Load move slots [0, n) to and from a snapshot; Save runs while
//     no writer does.
type Storage interface {
	// Init fixes the vector length and the metric.
	Init(dim int, m Metric) error
	// Grow makes room for slots [0, n).
	Grow(n int)
	// Set stores vec (len dim) under slot.
	Set(slot uint32, vec []float32)
	// Vector appends the stored (decoded, for lossy forms) vector of slot to
	// dst.
	Vector(slot uint32, dst []float32) []float32
	// Distance returns the metric's distance between two stored slots (used
	// by neighbour selection and repair).
	Distance(a, b uint32) float32
	// NewQuerier returns a Querier for one goroutine at a time. The index
	// pools them, so it may be expensive.
	NewQuerier() Querier
	// MemoryBytes reports the bytes the storage holds.
	MemoryBytes() int64
	// Save writes slots [0, n) to w.
	Save(w io.Writer, n int) error
	// Load reads slots [0, n) written by Save from r, replacing the content.
	Load(r io.Reader, n int) error
}

// Querier computes distances from one query to many stored slots. A Querier
// is used by one goroutine at a time and reused across queries: the index
// calls SetQuery (or SetSlot) once per query, then Distances once per
// neighbour list, so per-query preparation (a PQ distance table, a scaled
// int8 query) belongs in SetQuery.
type Querier interface {
	// SetQuery prepares for query q (len dim, normalised for Cosine). q is
	// owned by the caller and stays unchanged until the next SetQuery or
	// SetSlot; the Querier may keep a reference to it until then.
	SetQuery(q []float32)
	// SetSlot prepares for the stored vector of slot as the query.
	SetSlot(slot uint32)
	// Distances sets out[i] to the distance from the query to slots[i];
	// len(out) ≥ len(slots).
	Distances(slots []uint32, out []float32)
}

// Reranker is implemented by a Querier whose Distances are approximate (a
// quantized Storage). After the graph walk the index recomputes the
// distances of its ef best candidates with ExactDistances, reorders them and
// returns the best k, so the reported distances are exact.
type Reranker interface {
	// ExactDistances is Distances with full precision, for the current query.
	ExactDistances(slots []uint32, out []float32)
}

// Float32Storage is the default Storage: float32 vectors in one flat arena
// of dim values per slot, read by the gather kernels. The arena grows by
// copying into a larger one (published atomically); readers load the current
// arena once per call, so they never see a reallocation in progress. It is
// safe for concurrent use under the Storage rules.
type Float32Storage struct {
	dim    int
	metric Metric
	arena  atomic.Pointer[[]float32]
	mu     sync.Mutex // serialises Grow and Set
}

// NewFloat32Storage returns an empty Float32Storage.
func NewFloat32Storage() *Float32Storage {
	s := &Float32Storage{}
	empty := []float32{}
	s.arena.Store(&empty)
	return s
}

// Init implements Storage.
func (s *Float32Storage) Init(dim int, m Metric) error {
	if dim < 1 {
		return fmt.Errorf("cannot init float32 storage with dim %d: %w", dim, ErrInvalidOptions)
	}
	s.dim, s.metric = dim, m
	return nil
}

// Grow implements Storage.
func (s *Float32Storage) Grow(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.growLocked(n)
}

func (s *Float32Storage) growLocked(n int) {
	old := *s.arena.Load()
	need := n * s.dim
	if need <= len(old) {
		return
	}
	c := max(need, 2*len(old), 1024*s.dim)
	a := make([]float32, c)
	copy(a, old)
	s.arena.Store(&a)
}

// Set implements Storage.
func (s *Float32Storage) Set(slot uint32, vec []float32) {
	s.mu.Lock()
	o := int(slot) * s.dim
	s.growLocked(int(slot) + 1)
	a := *s.arena.Load()
	copy(a[o:o+s.dim], vec)
	s.mu.Unlock()
}

func (s *Float32Storage) vec(a []float32, slot uint32) []float32 {
	o := int(slot) * s.dim
	return a[o : o+s.dim : o+s.dim]
}

// Vector implements Storage.
func (s *Float32Storage) Vector(slot uint32, dst []float32) []float32 {
	return append(dst, s.vec(*s.arena.Load(), slot)...)
}

// Distance implements Storage.
func (s *Float32Storage) Distance(a, b uint32) float32 {
	ar := *s.arena.Load()
	if s.metric == L2 {
		return kernels.L2Sq(s.vec(ar, a), s.vec(ar, b))
	}
	return 1 - kernels.Dot(s.vec(ar, a), s.vec(ar, b))
}

// MemoryBytes implements Storage.
func (s *Float32Storage) MemoryBytes() int64 { return int64(cap(*s.arena.Load())) * 4 }

// NewQuerier implements Storage.
func (s *Float32Storage) NewQuerier() Querier { return &float32Querier{s: s} }

// Save implements Storage: n·dim little-endian float32 values.
func (s *Float32Storage) Save(w io.Writer, n int) error {
	a := *s.arena.Load()
	return writeF32s(w, a[:min(n*s.dim, len(a))], n*s.dim, make([]byte, 4*ioChunk))
}

// Load implements Storage.
func (s *Float32Storage) Load(r io.Reader, n int) error {
	// The index reads n slots' worth of lists before calling Load, so a
	// corrupt n cannot make this allocation much larger than the input.
	a := make([]float32, max(n, 1024)*s.dim)
	if err := readF32s(r, a[:n*s.dim], make([]byte, 4*ioChunk)); err != nil {
		return err
	}
	s.mu.Lock()
	s.arena.Store(&a)
	s.mu.Unlock()
	return nil
}

// float32Querier is Float32Storage's Querier. The index calls it directly
// (not through the interface) when the storage is a Float32Storage.
type float32Querier struct {
	s *Float32Storage
	q []float32
}

func (f *float32Querier) SetQuery(q []float32) { f.q = q }

func (f *float32Querier) SetSlot(slot uint32) { f.q = f.s.vec(*f.s.arena.Load(), slot) }

func (f *float32Querier) Distances(slots []uint32, out []float32) {
	a := *f.s.arena.Load()
	if f.s.metric == L2 {
		kernels.L2SqGather(f.q, a, slots, out)
		return
	}
	kernels.DotGather(f.q, a, slots, out)
	out = out[:len(slots)]
	for i := range out {
		out[i] = 1 - out[i]
	}
}

// The snapshot helpers: little-endian values. On little-endian machines the
// values are moved as bytes with no conversion (1 MiB at a time, so the
// checksum runs on data still in cache); elsewhere through a caller's
// scratch buffer (any length ≥ 4 bytes).

const ioChunk = 1 << 14 // values per 64 KiB scratch buffer

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func u32Bytes(v []uint32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}

func f32Bytes(v []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}

const rawChunk = 1 << 20

func writeRaw(w io.Writer, b []byte) error {
	for len(b) > 0 {
		m := min(len(b), rawChunk)
		if _, err := w.Write(b[:m]); err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
}

func readRaw(r io.Reader, b []byte) error {
	for len(b) > 0 {
		m := min(len(b), rawChunk)
		if _, err := io.ReadFull(r, b[:m]); err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
}

// writeF32s writes n values: v, then zeros if v is shorter.
func writeF32s(w io.Writer, v []float32, n int, buf []byte) error {
	if littleEndian {
		if err := writeRaw(w, f32Bytes(v[:min(n, len(v))])); err != nil {
			return err
		}
		clear(buf)
		for rest := n - min(n, len(v)); rest > 0; {
			m := min(rest, len(buf)/4)
			if _, err := w.Write(buf[:m*4]); err != nil {
				return err
			}
			rest -= m
		}
		return nil
	}
	chunk := len(buf) / 4
	for i := 0; i < n; i += chunk {
		m := min(chunk, n-i)
		b := buf[:m*4]
		for j := 0; j < m; j++ {
			var bits uint32
			if i+j < len(v) {
				bits = math.Float32bits(v[i+j])
			}
			binary.LittleEndian.PutUint32(b[j*4:], bits)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func readF32s(r io.Reader, v []float32, buf []byte) error {
	if littleEndian {
		return readRaw(r, f32Bytes(v))
	}
	chunk := len(buf) / 4
	for i := 0; i < len(v); i += chunk {
		m := min(chunk, len(v)-i)
		b := buf[:m*4]
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		dst := v[i : i+m]
		for j := range dst {
			dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[j*4:]))
		}
	}
	return nil
}

func writeU32s(w io.Writer, v []uint32, buf []byte) error {
	if littleEndian {
		return writeRaw(w, u32Bytes(v))
	}
	chunk := len(buf) / 4
	for i := 0; i < len(v); i += chunk {
		m := min(chunk, len(v)-i)
		b := buf[:m*4]
		for j, x := range v[i : i+m] {
			binary.LittleEndian.PutUint32(b[j*4:], x)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func readU32s(r io.Reader, v []uint32, buf []byte) error {
	if littleEndian {
		return readRaw(r, u32Bytes(v))
	}
	chunk := len(buf) / 4
	for i := 0; i < len(v); i += chunk {
		m := min(chunk, len(v)-i)
		b := buf[:m*4]
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		dst := v[i : i+m]
		for j := range dst {
			dst[j] = binary.LittleEndian.Uint32(b[j*4:])
		}
	}
	return nil
}
