// Package kernels holds the distance kernels every other package calls: squared
// L2, inner product and cosine over float32, the int8 forms the scalar quantizer
// needs, and the PQ asymmetric distance (ADC) table sums.
//
// Each kernel has a generic Go implementation (always compiled; the test
// oracle) and, where the CPU supports it, an assembly one (AVX2+FMA or AVX-512
// on amd64, NEON on arm64). The choice is made once at start from the CPU's
// features and can be forced with the LSMVEC_KERNELS environment variable
// (generic, avx2, avx512, neon). Impl reports the choice.
//
// Length rules: the two operands of a kernel have equal lengths; a batch form
// reads len(out) vectors of len(q) elements each. A shorter operand is a
// programming error and panics; it is never reachable from user input, which
// the callers validate first.
//
// All functions are safe for concurrent use and allocate nothing.
package kernels

// The exported kernels. The dispatching bodies live in dispatch.go; the
// generic implementations in generic.go.

// L2Sq returns the squared Euclidean distance Σ (a[i]-b[i])².
func L2Sq(a, b []float32) float32 { return l2Sq(a, b) }

// Dot returns the inner product Σ a[i]·b[i].
func Dot(a, b []float32) float32 { return dot(a, b) }

// Norm returns the Euclidean norm of a.
func Norm(a []float32) float32 { return sqrt32(dot(a, a)) }

// CosineDistance returns 1 − ⟨a,b⟩/(‖a‖·‖b‖), or 1 when either vector is zero.
func CosineDistance(a, b []float32) float32 {
	na, nb := dot(a, a), dot(b, b)
	if na == 0 || nb == 0 {
		return 1
	}
	return 1 - dot(a, b)/sqrt32(na*nb)
}

// CosineDistanceNorms returns 1 − ⟨a,b⟩/(na·nb) for precomputed norms na, nb
// (each > 0); it costs one inner product.
func CosineDistanceNorms(a, b []float32, na, nb float32) float32 {
	return 1 - dot(a, b)/(na*nb)
}

// L2SqBatch sets out[i] = L2Sq(q, data[i*d:(i+1)*d]) for d = len(q).
func L2SqBatch(q, data []float32, out []float32) { l2SqBatch(q, data, out) }

// DotBatch sets out[i] = Dot(q, data[i*d:(i+1)*d]) for d = len(q).
func DotBatch(q, data []float32, out []float32) { dotBatch(q, data, out) }

// L2SqGather sets out[i] = L2Sq(q, arena[ids[i]*d:(ids[i]+1)*d]) for d = len(q)
// and i < len(ids); out must hold len(ids) values. It is the form the graph
// index uses over a node's neighbour list.
func L2SqGather(q, arena []float32, ids []uint32, out []float32) { l2SqGather(q, arena, ids, out) }

// DotGather is the inner-product form of L2SqGather.
func DotGather(q, arena []float32, ids []uint32, out []float32) { dotGather(q, arena, ids, out) }

// L2SqInt8 returns Σ (a[i]-b[i])² over int8 vectors with int32 accumulation
// (exact for len ≤ 33 025).
func L2SqInt8(a, b []int8) int32 { return l2SqInt8(a, b) }

// DotInt8 returns Σ a[i]·b[i] over int8 vectors with int32 accumulation
// (exact for len ≤ 133 152).
func DotInt8(a, b []int8) int32 { return dotInt8(a, b) }

// DotF32Int8 returns Σ q[i]·float32(c[i]): a float32 query against int8 codes.
// A scalar quantizer with x[i] = s[i]·c[i] + o[i] (per dimension) computes
// ⟨q,x⟩ = DotF32Int8(q∘s, c) + ⟨q,o⟩, and with x = s·c + o (per vector)
// ⟨q,x⟩ = s·DotF32Int8(q, c) + o·Σq; L2 follows from ‖q‖² − 2⟨q,x⟩ + ‖x‖².
func DotF32Int8(q []float32, c []int8) float32 { return dotF32Int8(q, c) }

// DotF32Int8Gather sets out[i] = DotF32Int8(q, arena[ids[i]*d:(ids[i]+1)*d]).
func DotF32Int8Gather(q []float32, arena []int8, ids []uint32, out []float32) {
	dotF32Int8Gather(q, arena, ids, out)
}

// ADC8 sets out[i] = Σ_j table[j*256 + codes[i*m+j]] for m = len(table)/256:
// the PQ asymmetric distance of 8-bit codes against a per-query M×256 table.
// codes holds len(out)·m bytes.
func ADC8(table []float32, codes []uint8, out []float32) { adc8(table, codes, out) }

// ADC16 is ADC8 for 16-bit codes: m = len(table)/65536 and
// out[i] = Σ_j table[j*65536 + codes[i*m+j]].
func ADC16(table []float32, codes []uint16, out []float32) { adc16(table, codes, out) }
