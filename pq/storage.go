package pq

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lsmvec/lsmvec/hnsw"
	"github.com/lsmvec/lsmvec/kernels"
)

// ExactSource supplies full-precision vectors to a quantized storage that
// does not keep them in RAM (the store's vector file, for instance). It must
// be safe for concurrent use, under the hnsw.Storage rules: a slot handed to
// it during a search holds the same vector until that search ends.
type ExactSource interface {
	// AppendVector appends the full-precision vector stored under the index
	// slot to dst (as the index passed it to Storage.Set: normalised for
	// cosine) and returns the extended slice and true; or dst and false when
	// it cannot (the vector is being removed, a read failed): the candidate
	// then keeps its approximate distance.
	AppendVector(slot uint32, dst []float32) ([]float32, bool)
}

// ExactViewer is an optional extension of ExactSource for sources that hold
// the vectors in addressable memory (a mapped file): ViewVector returns the
// vector of slot without copying it, or false as AppendVector does. The
// slice is read-only and valid while the slot is readable (until the search
// that was handed the slot ends).
type ExactViewer interface {
	ViewVector(slot uint32) ([]float32, bool)
}

// StorageOptions configures NewInt8Storage and NewPQStorage. The zero value
// keeps a float32 copy of every vector for reranking.
type StorageOptions struct {
	// CodesOnly drops the float32 copy: the storage holds codes only (a
	// quarter of float32 for int8, M or 2·M bytes for PQ), and exact
	// distances come from Exact. With CodesOnly and no Exact the storage does
	// not rerank: results carry approximate distances. Default false.
	CodesOnly bool
	// Exact supplies full-precision vectors for the rerank step when
	// CodesOnly is set. Its cost is one fetch per reranked candidate
	// (hnsw.Options.Rerank bounds how many).
	Exact ExactSource
}

func (o *StorageOptions) keepF32() bool { return !o.CodesOnly }

// metricFor maps an index metric onto the quantizer's: the index stores
// cosine vectors normalised and measures them with 1 − ⟨q,x⟩, which is
// InnerProduct here.
func metricFor(m hnsw.Metric) (Metric, error) {
	switch m {
	case hnsw.L2:
		return L2, nil
	case hnsw.InnerProduct, hnsw.Cosine:
		return InnerProduct, nil
	}
	return 0, fmt.Errorf("cannot init storage: unknown metric %v: %w", m, ErrInvalidArgument)
}

// exactDistances fills out with the metric's exact distances from q to the
// float32 vectors of slots, from the kept arena or from src. It reports
// whether every vector was available; a missing one leaves NaN in out (the
// caller puts the approximate distance there).
func exactDistances(metric Metric, q, f32 []float32, src ExactSource, buf *[]float32, slots []uint32, out []float32) bool {
	if f32 != nil {
		if metric == L2 {
			kernels.L2SqGather(q, f32, slots, out)
			return true
		}
		kernels.DotGather(q, f32, slots, out)
		for i := range slots {
			out[i] = 1 - out[i]
		}
		return true
	}
	all := true
	view, _ := src.(ExactViewer)
	for i, s := range slots {
		var v []float32
		var ok bool
		if view != nil {
			v, ok = view.ViewVector(s)
		}
		if !ok {
			v, ok = src.AppendVector(s, (*buf)[:0])
			*buf = v[:0]
		}
		if !ok || len(v) != len(q) {
			out[i] = float32(math.NaN())
			all = false
			continue
		}
		if metric == L2 {
			out[i] = kernels.L2Sq(q, v)
		} else {
			out[i] = 1 - kernels.Dot(q, v)
		}
	}
	return all
}

// viewDistance is the exact distance between two slots when view holds
// both vectors in memory: neighbour selection and repair then see the
// graph the float32 storage would build, at the cost of reading the
// vectors where they live (a mapped file: as cheap as the heap).
func viewDistance(view ExactViewer, metric Metric, x, y uint32) (float32, bool) {
	if view == nil {
		return 0, false
	}
	vx, ok := view.ViewVector(x)
	if !ok {
		return 0, false
	}
	vy, ok := view.ViewVector(y)
	if !ok || len(vx) != len(vy) {
		return 0, false
	}
	if metric == L2 {
		return kernels.L2Sq(vx, vy), true
	}
	return 1 - kernels.Dot(vx, vy), true
}

// fillApprox replaces the NaNs exactDistances left in out with approximate
// distances from q.
func fillApprox(q hnsw.Querier, slots []uint32, out []float32) {
	for i := range slots {
		if out[i] != out[i] {
			q.Distances(slots[i:i+1], out[i:i+1])
		}
	}
}

// Int8Storage is an hnsw.Storage over int8 scalar-quantized codes: the graph
// is walked with kernels.DotF32Int8Gather on Dim bytes per vector, and the
// index's final candidates are reranked with exact float32 distances (from
// the kept float32 copy, or from StorageOptions.Exact). Distance between two
// stored slots (neighbour selection, repair) is exact when the float32 copy
// is kept or Exact is an ExactViewer, else computed on the codes. It follows the
// hnsw.Storage concurrency rules: Set and Grow serialise on a mutex, readers
// take no lock and load the current arena once per call.
type Int8Storage struct {
	sq     *ScalarQuantizer
	opts   StorageOptions
	view   ExactViewer // opts.Exact's, when it is one
	dim    int
	metric Metric
	arena  atomic.Pointer[int8Arena]
	mu     sync.Mutex // serialises Grow and Set
}

type int8Arena struct {
	codes []int8    // dim per slot
	aux   []float32 // one per slot: ScalarQuantizer.Aux
	f32   []float32 // dim per slot, nil with CodesOnly
}

// NewInt8Storage returns an empty Int8Storage over the trained quantizer sq
// (TrainScalar, typically on a sample of the collection), to pass as
// hnsw.Options.Storage. The storage keeps sq; it belongs to one index.
func NewInt8Storage(sq *ScalarQuantizer, opts StorageOptions) *Int8Storage {
	s := &Int8Storage{sq: sq, opts: opts}
	s.view, _ = opts.Exact.(ExactViewer)
	s.arena.Store(&int8Arena{})
	return s
}

// Init implements hnsw.Storage. It fails when dim differs from the
// quantizer's.
func (s *Int8Storage) Init(dim int, m hnsw.Metric) error {
	if s.sq == nil || dim != s.sq.Dim {
		return fmt.Errorf("cannot init int8 storage: index dim %d, quantizer dim %d: %w", dim, s.quantDim(), ErrInvalidArgument)
	}
	metric, err := metricFor(m)
	if err != nil {
		return err
	}
	s.dim, s.metric = dim, metric
	return nil
}

func (s *Int8Storage) quantDim() int {
	if s.sq == nil {
		return 0
	}
	return s.sq.Dim
}

// Grow implements hnsw.Storage.
func (s *Int8Storage) Grow(n int) {
	s.mu.Lock()
	s.growLocked(n)
	s.mu.Unlock()
}

func (s *Int8Storage) growLocked(n int) {
	old := s.arena.Load()
	if n <= len(old.aux) {
		return
	}
	c := max(n, 2*len(old.aux), 1024)
	a := &int8Arena{codes: make([]int8, c*s.dim), aux: make([]float32, c)}
	copy(a.codes, old.codes)
	copy(a.aux, old.aux)
	if s.opts.keepF32() {
		a.f32 = make([]float32, c*s.dim)
		copy(a.f32, old.f32)
	}
	s.arena.Store(a)
}

// Set implements hnsw.Storage: it encodes vec (and copies it unless
// CodesOnly).
func (s *Int8Storage) Set(slot uint32, vec []float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.growLocked(int(slot) + 1)
	a := s.arena.Load()
	o := int(slot) * s.dim
	code := a.codes[o : o+s.dim]
	if err := s.sq.Encode(vec, code); err != nil {
		panic("BUG: int8 storage: " + err.Error()) // the index checks the length
	}
	a.aux[slot] = s.sq.Aux(code, s.metric)
	if a.f32 != nil {
		copy(a.f32[o:o+s.dim], vec)
	}
}

// Vector implements hnsw.Storage: the float32 copy if kept, else the
// decoded code.
func (s *Int8Storage) Vector(slot uint32, dst []float32) []float32 {
	a := s.arena.Load()
	o := int(slot) * s.dim
	if a.f32 != nil {
		return append(dst, a.f32[o:o+s.dim]...)
	}
	n := len(dst)
	dst = slices.Grow(dst, s.dim)[:n+s.dim]
	_ = s.sq.Decode(a.codes[o:o+s.dim], dst[n:])
	return dst
}

// Distance implements hnsw.Storage: exact from the float32 copy if kept,
// else computed on the two codes.
func (s *Int8Storage) Distance(x, y uint32) float32 {
	a := s.arena.Load()
	ox, oy := int(x)*s.dim, int(y)*s.dim
	if a.f32 != nil {
		vx, vy := a.f32[ox:ox+s.dim], a.f32[oy:oy+s.dim]
		if s.metric == L2 {
			return kernels.L2Sq(vx, vy)
		}
		return 1 - kernels.Dot(vx, vy)
	}
	if d, ok := viewDistance(s.view, s.metric, x, y); ok {
		return d
	}
	cx, cy := a.codes[ox:ox+s.dim], a.codes[oy:oy+s.dim]
	sc, off := s.sq.Scale[:s.dim], s.sq.Offset[:s.dim]
	if s.metric == L2 {
		if s.sq.Global {
			return sc[0] * sc[0] * float32(kernels.L2SqInt8(cx, cy))
		}
		var d float32
		for i := range cx {
			v := sc[i] * float32(int32(cx[i])-int32(cy[i]))
			d += v * v
		}
		return d
	}
	var dot float32
	for i := range cx {
		dot += (sc[i]*float32(cx[i]) + off[i]) * (sc[i]*float32(cy[i]) + off[i])
	}
	return 1 - dot
}

// MemoryBytes implements hnsw.Storage.
func (s *Int8Storage) MemoryBytes() int64 {
	a := s.arena.Load()
	return int64(cap(a.codes)) + 4*int64(cap(a.aux)) + 4*int64(cap(a.f32))
}

// NewQuerier implements hnsw.Storage.
func (s *Int8Storage) NewQuerier() hnsw.Querier {
	p, _ := s.sq.NewQuery(s.metric) // the metric was validated by Init
	q := &int8Querier{s: s, p: p, buf: make([]float32, s.dim)}
	if s.opts.keepF32() || s.opts.Exact != nil {
		return &int8RerankQuerier{q}
	}
	return q
}

// int8Querier is Int8Storage's Querier without rerank.
type int8Querier struct {
	s   *Int8Storage
	p   *Query
	q   []float32 // the current query (the caller's or buf)
	buf []float32 // SetSlot's query vector
	fet []float32 // ExactSource scratch
}

func (q *int8Querier) SetQuery(v []float32) {
	q.q = v
	_ = q.p.Reset(v) // the index passes dim values
}

func (q *int8Querier) SetSlot(slot uint32) {
	q.buf = q.s.Vector(slot, q.buf[:0])
	q.SetQuery(q.buf)
}

func (q *int8Querier) Distances(slots []uint32, out []float32) {
	a := q.s.arena.Load()
	q.p.DistanceGather(a.codes, a.aux, slots, out)
}

// int8RerankQuerier adds hnsw.Reranker.
type int8RerankQuerier struct{ *int8Querier }

func (q *int8RerankQuerier) ExactDistances(slots []uint32, out []float32) {
	if !exactDistances(q.s.metric, q.q, q.s.arena.Load().f32, q.s.opts.Exact, &q.fet, slots, out) {
		fillApprox(q.int8Querier, slots, out)
	}
}

// Save implements hnsw.Storage: a header (format, dim, flags, the
// quantizer's scales and offsets), then n codes, n aux values and, when
// kept, n float32 vectors, all little-endian.
func (s *Int8Storage) Save(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	a := s.arena.Load()
	hdr := []uint32{int8Format, uint32(s.dim), boolU32(a.f32 != nil)}
	for _, v := range hdr {
		_ = binary.Write(bw, binary.LittleEndian, v)
	}
	_ = binary.Write(bw, binary.LittleEndian, s.sq.Scale)
	_ = binary.Write(bw, binary.LittleEndian, s.sq.Offset)
	codes := a.codes[:min(n*s.dim, len(a.codes))]
	for _, c := range codes {
		_ = bw.WriteByte(byte(c))
	}
	for i := len(codes); i < n*s.dim; i++ {
		_ = bw.WriteByte(0)
	}
	writeFloats(bw, a.aux, n)
	if a.f32 != nil {
		writeFloats(bw, a.f32, n*s.dim)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot save int8 storage: %w", err)
	}
	return nil
}

// Load implements hnsw.Storage. The saved quantizer must equal this
// storage's, and the float32 copy must be present exactly when kept.
func (s *Int8Storage) Load(r io.Reader, n int) error {
	br := r // read exactly this storage's bytes: the snapshot continues after them
	var hdr [3]uint32
	if err := binary.Read(br, binary.LittleEndian, &hdr); err != nil {
		return fmt.Errorf("cannot load int8 storage: %w", err)
	}
	if hdr[0] != int8Format || int(hdr[1]) != s.dim || (hdr[2] == 1) != s.opts.keepF32() {
		return fmt.Errorf("cannot load int8 storage: header %v does not match dim %d, float32 copy %v: %w", hdr, s.dim, s.opts.keepF32(), ErrInvalidArgument)
	}
	sc := make([]float32, s.dim)
	of := make([]float32, s.dim)
	if err := binary.Read(br, binary.LittleEndian, sc); err != nil {
		return fmt.Errorf("cannot load int8 storage: %w", err)
	}
	if err := binary.Read(br, binary.LittleEndian, of); err != nil {
		return fmt.Errorf("cannot load int8 storage: %w", err)
	}
	for i := range sc {
		if sc[i] != s.sq.Scale[i] || of[i] != s.sq.Offset[i] {
			return fmt.Errorf("cannot load int8 storage: saved quantizer differs at dimension %d: %w", i, ErrInvalidArgument)
		}
	}
	c := max(n, 1024)
	a := &int8Arena{codes: make([]int8, c*s.dim), aux: make([]float32, c)}
	raw := make([]byte, n*s.dim)
	if _, err := io.ReadFull(br, raw); err != nil {
		return fmt.Errorf("cannot load int8 storage: %w", err)
	}
	for i, b := range raw {
		a.codes[i] = int8(b)
	}
	if err := readFloats(br, a.aux[:n]); err != nil {
		return fmt.Errorf("cannot load int8 storage: %w", err)
	}
	if s.opts.keepF32() {
		a.f32 = make([]float32, c*s.dim)
		if err := readFloats(br, a.f32[:n*s.dim]); err != nil {
			return fmt.Errorf("cannot load int8 storage: %w", err)
		}
	}
	s.mu.Lock()
	s.arena.Store(a)
	s.mu.Unlock()
	return nil
}

// Snapshot format tags.
const (
	int8Format = 0x69386c31 // "i8l1"
	pqFormat   = 0x70716c31 // "pql1"
)

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// writeFloats writes the first n values of v (zeros past its end); errors
// surface at the bufio.Writer's Flush.
func writeFloats(w *bufio.Writer, v []float32, n int) {
	var b [4]byte
	for i := 0; i < n; i++ {
		var bits uint32
		if i < len(v) {
			bits = math.Float32bits(v[i])
		}
		binary.LittleEndian.PutUint32(b[:], bits)
		_, _ = w.Write(b[:])
	}
}

// readFloats reads len(v) little-endian values from r, exactly.
func readFloats(r io.Reader, v []float32) error {
	var b [4096]byte
	for i := 0; i < len(v); i += len(b) / 4 {
		m := min(len(b)/4, len(v)-i)
		if _, err := io.ReadFull(r, b[:4*m]); err != nil {
			return err
		}
		for j := 0; j < m; j++ {
			v[i+j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
		}
	}
	return nil
}

// PQStorage is an hnsw.Storage over product-quantization codes: the graph
// is walked with asymmetric distances (one Codebook.Table per query, then
// kernels.ADC8 or ADC16 per neighbour) on CodeSize bytes per vector, and the
// index's final candidates are reranked with exact float32 distances (from
// the kept float32 copy, or from StorageOptions.Exact; Distance between two
// stored slots is exact when the copy is kept or Exact is an ExactViewer).
// Cosine is refused (Init fails with ErrCosine). It follows the hnsw.Storage concurrency rules
// like Int8Storage.
type PQStorage struct {
	cb     *Codebook
	opts   StorageOptions
	view   ExactViewer // opts.Exact's, when it is one
	dim, m int
	metric Metric
	arena  atomic.Pointer[pqArena]
	mu     sync.Mutex
}

type pqArena struct {
	n       int
	codes8  []uint8   // m per slot (pq8)
	codes16 []uint16  // m per slot (pq16)
	f32     []float32 // dim per slot, nil with CodesOnly
}

// NewPQStorage returns an empty PQStorage over the codebook cb, to pass as
// hnsw.Options.Storage. The storage keeps cb; it belongs to one index.
func NewPQStorage(cb *Codebook, opts StorageOptions) *PQStorage {
	s := &PQStorage{cb: cb, opts: opts}
	s.view, _ = opts.Exact.(ExactViewer)
	s.arena.Store(&pqArena{})
	return s
}

// Init implements hnsw.Storage. It fails for cosine (ErrCosine) and when
// dim differs from the codebook's.
func (s *PQStorage) Init(dim int, m hnsw.Metric) error {
	if m == hnsw.Cosine {
		return fmt.Errorf("cannot init PQ storage: %w", ErrCosine)
	}
	if s.cb == nil || dim != s.cb.Dim {
		d := 0
		if s.cb != nil {
			d = s.cb.Dim
		}
		return fmt.Errorf("cannot init PQ storage: index dim %d, codebook dim %d: %w", dim, d, ErrInvalidArgument)
	}
	metric, err := metricFor(m)
	if err != nil {
		return err
	}
	s.dim, s.m, s.metric = dim, s.cb.M, metric
	return nil
}

// Grow implements hnsw.Storage.
func (s *PQStorage) Grow(n int) {
	s.mu.Lock()
	s.growLocked(n)
	s.mu.Unlock()
}

func (s *PQStorage) growLocked(n int) {
	old := s.arena.Load()
	if n <= old.n {
		return
	}
	c := max(n, 2*old.n, 1024)
	a := &pqArena{n: c}
	if s.cb.Bits == 8 {
		a.codes8 = make([]uint8, c*s.m)
		copy(a.codes8, old.codes8)
	} else {
		a.codes16 = make([]uint16, c*s.m)
		copy(a.codes16, old.codes16)
	}
	if s.opts.keepF32() {
		a.f32 = make([]float32, c*s.dim)
		copy(a.f32, old.f32)
	}
	s.arena.Store(a)
}

// Set implements hnsw.Storage.
func (s *PQStorage) Set(slot uint32, vec []float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.growLocked(int(slot) + 1)
	a := s.arena.Load()
	o := int(slot) * s.m
	var err error
	if a.codes8 != nil {
		err = s.cb.Encode8(vec, a.codes8[o:o+s.m])
	} else {
		err = s.cb.Encode16(vec, a.codes16[o:o+s.m])
	}
	if err != nil {
		panic("BUG: PQ storage: " + err.Error()) // the index checks the length
	}
	if a.f32 != nil {
		copy(a.f32[int(slot)*s.dim:(int(slot)+1)*s.dim], vec)
	}
}

// centroid returns the centroid row of subquantizer j that slot's code
// selects.
func (s *PQStorage) centroid(a *pqArena, slot uint32, j int) []float32 {
	var k int
	if a.codes8 != nil {
		k = int(a.codes8[int(slot)*s.m+j])
	} else {
		k = int(a.codes16[int(slot)*s.m+j])
	}
	d := s.cb.dsub
	return s.cb.Centroids[j][k*d : (k+1)*d]
}

// Vector implements hnsw.Storage: the float32 copy if kept, else the
// decoded code.
func (s *PQStorage) Vector(slot uint32, dst []float32) []float32 {
	a := s.arena.Load()
	if a.f32 != nil {
		o := int(slot) * s.dim
		return append(dst, a.f32[o:o+s.dim]...)
	}
	for j := 0; j < s.m; j++ {
		dst = append(dst, s.centroid(a, slot, j)...)
	}
	return dst
}

// Distance implements hnsw.Storage: exact from the float32 copy if kept,
// else between the two decoded vectors (summed per subspace, no decoding
// buffer).
func (s *PQStorage) Distance(x, y uint32) float32 {
	a := s.arena.Load()
	if a.f32 != nil {
		vx := a.f32[int(x)*s.dim : (int(x)+1)*s.dim]
		vy := a.f32[int(y)*s.dim : (int(y)+1)*s.dim]
		if s.metric == L2 {
			return kernels.L2Sq(vx, vy)
		}
		return 1 - kernels.Dot(vx, vy)
	}
	if d, ok := viewDistance(s.view, s.metric, x, y); ok {
		return d
	}
	var sum float32
	for j := 0; j < s.m; j++ {
		if s.metric == L2 {
			sum += kernels.L2Sq(s.centroid(a, x, j), s.centroid(a, y, j))
		} else {
			sum += kernels.Dot(s.centroid(a, x, j), s.centroid(a, y, j))
		}
	}
	if s.metric == L2 {
		return sum
	}
	return 1 - sum
}

// MemoryBytes implements hnsw.Storage.
func (s *PQStorage) MemoryBytes() int64 {
	a := s.arena.Load()
	return int64(cap(a.codes8)) + 2*int64(cap(a.codes16)) + 4*int64(cap(a.f32))
}

// NewQuerier implements hnsw.Storage. Each Querier holds a TableSize
// table (M·256 floats for pq8, M·65 536 for pq16).
func (s *PQStorage) NewQuerier() hnsw.Querier {
	q := &pqQuerier{s: s, table: make([]float32, s.cb.TableSize()), buf: make([]float32, 0, s.dim)}
	if s.opts.keepF32() || s.opts.Exact != nil {
		return &pqRerankQuerier{q}
	}
	return q
}

// pqQuerier is PQStorage's Querier without rerank.
type pqQuerier struct {
	s     *PQStorage
	table []float32
	q     []float32
	buf   []float32
	fet   []float32
}

func (q *pqQuerier) SetQuery(v []float32) {
	q.q = v
	_ = q.s.cb.Table(v, q.s.metric, q.table) // Init refused cosine; the index passes dim values
}

func (q *pqQuerier) SetSlot(slot uint32) {
	q.buf = q.s.Vector(slot, q.buf[:0])
	q.SetQuery(q.buf)
}

func (q *pqQuerier) Distances(slots []uint32, out []float32) {
	a := q.s.arena.Load()
	m := q.s.m
	out = out[:len(slots)]
	if a.codes8 != nil {
		for i, s := range slots {
			o := int(s) * m
			kernels.ADC8(q.table, a.codes8[o:o+m], out[i:i+1])
		}
	} else {
		for i, s := range slots {
			o := int(s) * m
			kernels.ADC16(q.table, a.codes16[o:o+m], out[i:i+1])
		}
	}
	if q.s.metric == InnerProduct {
		for i := range out {
			out[i] += 1
		}
	}
}

// pqRerankQuerier adds hnsw.Reranker.
type pqRerankQuerier struct{ *pqQuerier }

func (q *pqRerankQuerier) ExactDistances(slots []uint32, out []float32) {
	if !exactDistances(q.s.metric, q.q, q.s.arena.Load().f32, q.s.opts.Exact, &q.fet, slots, out) {
		fillApprox(q.pqQuerier, slots, out)
	}
}

// Save implements hnsw.Storage: a header (format, dim, M, bits, flags),
// then n codes (M bytes or M uint16 each) and, when kept, n float32
// vectors, all little-endian. The codebook itself is persisted by its owner
// (the store's PQ configuration); Load checks the shape only.
func (s *PQStorage) Save(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	a := s.arena.Load()
	for _, v := range []uint32{pqFormat, uint32(s.dim), uint32(s.m), uint32(s.cb.Bits), boolU32(a.f32 != nil)} {
		_ = binary.Write(bw, binary.LittleEndian, v)
	}
	var b [2]byte
	for i := 0; i < n*s.m; i++ {
		if a.codes8 != nil {
			var c uint8
			if i < len(a.codes8) {
				c = a.codes8[i]
			}
			_ = bw.WriteByte(c)
		} else {
			var c uint16
			if i < len(a.codes16) {
				c = a.codes16[i]
			}
			binary.LittleEndian.PutUint16(b[:], c)
			_, _ = bw.Write(b[:])
		}
	}
	if a.f32 != nil {
		writeFloats(bw, a.f32, n*s.dim)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot save PQ storage: %w", err)
	}
	return nil
}

// Load implements hnsw.Storage. Codes past a subquantizer's rows are
// rejected.
func (s *PQStorage) Load(r io.Reader, n int) error {
	br := r // read exactly this storage's bytes: the snapshot continues after them
	var hdr [5]uint32
	if err := binary.Read(br, binary.LittleEndian, &hdr); err != nil {
		return fmt.Errorf("cannot load PQ storage: %w", err)
	}
	if hdr[0] != pqFormat || int(hdr[1]) != s.dim || int(hdr[2]) != s.m || int(hdr[3]) != s.cb.Bits || (hdr[4] == 1) != s.opts.keepF32() {
		return fmt.Errorf("cannot load PQ storage: header %v does not match the codebook or options: %w", hdr, ErrInvalidArgument)
	}
	c := max(n, 1024)
	a := &pqArena{n: c}
	if s.cb.Bits == 8 {
		a.codes8 = make([]uint8, c*s.m)
		if _, err := io.ReadFull(br, a.codes8[:n*s.m]); err != nil {
			return fmt.Errorf("cannot load PQ storage: %w", err)
		}
	} else {
		a.codes16 = make([]uint16, c*s.m)
		if err := binary.Read(br, binary.LittleEndian, a.codes16[:n*s.m]); err != nil {
			return fmt.Errorf("cannot load PQ storage: %w", err)
		}
	}
	for i := 0; i < n*s.m; i++ {
		var k int
		if a.codes8 != nil {
			k = int(a.codes8[i])
		} else {
			k = int(a.codes16[i])
		}
		if k >= s.cb.rows[i%s.m] {
			return fmt.Errorf("cannot load PQ storage: slot %d code %d past the codebook: %w", i/s.m, k, ErrInvalidArgument)
		}
	}
	if s.opts.keepF32() {
		a.f32 = make([]float32, c*s.dim)
		if err := readFloats(br, a.f32[:n*s.dim]); err != nil {
			return fmt.Errorf("cannot load PQ storage: %w", err)
		}
	}
	s.mu.Lock()
	s.arena.Store(a)
	s.mu.Unlock()
	return nil
}

var (
	_ hnsw.Storage  = (*Int8Storage)(nil)
	_ hnsw.Storage  = (*PQStorage)(nil)
	_ hnsw.Reranker = (*int8RerankQuerier)(nil)
	_ hnsw.Reranker = (*pqRerankQuerier)(nil)
)
