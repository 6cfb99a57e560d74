package pq

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/lsmvec/lsmvec/kernels"
)

// ScalarOptions configures TrainScalar. The zero value is ready to use.
type ScalarOptions struct {
	// Quantile sets the clipping range: values below the (1−Quantile)
	// quantile or above the Quantile quantile of the training values encode
	// as the range's ends. It lies in [0.5, 1]; 1 keeps the exact minimum
	// and maximum. Default 0.9999.
	Quantile float64
	// PerDimension learns one range per dimension instead of one range for
	// all values. Default false (global): on fashion-mnist both give the same
	// recall after rerank, and only the global form can also be searched with
	// the int8×int8 kernels (SymmetricQuery).
	PerDimension bool
	// MaxSamples caps the number of vectors the quantiles are computed from;
	// a larger input is sampled uniformly (seeded). Default 65 536.
	MaxSamples int
	// Seed seeds the sampling.
	Seed uint64
}

// EnsureDefaults fills the zero fields with their defaults.
func (o *ScalarOptions) EnsureDefaults() {
	if o.Quantile == 0 {
		o.Quantile = 0.9999
	}
	if o.MaxSamples == 0 {
		o.MaxSamples = 65536
	}
}

// Validate reports an option out of range.
func (o *ScalarOptions) Validate() error {
	if !(o.Quantile >= 0.5 && o.Quantile <= 1) {
		return fmt.Errorf("cannot train scalar quantizer: quantile %v outside [0.5, 1]: %w", o.Quantile, ErrInvalidArgument)
	}
	if o.MaxSamples < 0 {
		return fmt.Errorf("cannot train scalar quantizer: max samples %d: %w", o.MaxSamples, ErrInvalidArgument)
	}
	return nil
}

// ScalarQuantizer maps each float32 value to an int8 code in [−127, 127]:
// x[i] ≈ Scale[i]·c[i] + Offset[i], with values outside the trained range
// clipped to its ends. A vector's code is Dim bytes, a quarter of its float32
// form. Distances from a float32 query to codes are computed without decoding
// (Query); the int8×int8 kernels serve global quantizers (SymmetricQuery).
//
// A ScalarQuantizer is immutable once built and safe for concurrent use; its
// exported fields must not be modified.
type ScalarQuantizer struct {
	// Dim is the vector dimension.
	Dim int
	// Scale and Offset hold Dim values each: the step and the centre of each
	// dimension's range. A zero Scale encodes every value as 0 (Offset).
	Scale, Offset []float32
	// Global is true when every dimension shares one range.
	Global bool

	inv []float32 // 1/Scale, 0 where Scale is 0
}

// NewScalarQuantizer builds a quantizer from persisted scales and offsets
// (dim = len(scale) = len(offset); scales ≥ 0, all finite). The slices are
// copied.
func NewScalarQuantizer(scale, offset []float32) (*ScalarQuantizer, error) {
	if len(scale) == 0 || len(scale) != len(offset) {
		return nil, fmt.Errorf("cannot build scalar quantizer: %d scales and %d offsets: %w", len(scale), len(offset), ErrInvalidArgument)
	}
	s := &ScalarQuantizer{
		Dim:    len(scale),
		Scale:  append([]float32(nil), scale...),
		Offset: append([]float32(nil), offset...),
		Global: true,
		inv:    make([]float32, len(scale)),
	}
	for i := range scale {
		sc, of := float64(scale[i]), float64(offset[i])
		if math.IsNaN(sc) || math.IsInf(sc, 0) || math.IsNaN(of) || math.IsInf(of, 0) {
			return nil, fmt.Errorf("cannot build scalar quantizer: dimension %d: %w", i, ErrNotFinite)
		}
		if sc < 0 {
			return nil, fmt.Errorf("cannot build scalar quantizer: dimension %d has negative scale: %w", i, ErrInvalidArgument)
		}
		if scale[i] > 0 {
			s.inv[i] = 1 / scale[i]
		}
		if scale[i] != scale[0] || offset[i] != offset[0] {
			s.Global = false
		}
	}
	return s, nil
}

// TrainScalar learns a scalar quantizer from the n = len(vectors)/dim vectors
// (row-major): the range of each dimension (or of all values) is cut at the
// quantiles opts.Quantile sets, and mapped onto [−127, 127]. vectors is read,
// never retained.
func TrainScalar(vectors []float32, dim int, opts ScalarOptions) (*ScalarQuantizer, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if dim <= 0 || len(vectors) == 0 || len(vectors)%dim != 0 {
		return nil, fmt.Errorf("cannot train scalar quantizer: %d values do not make vectors of dim %d: %w", len(vectors), dim, ErrInvalidArgument)
	}
	for i, v := range vectors {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("cannot train scalar quantizer: vector %d: %w", i/dim, ErrNotFinite)
		}
	}
	n := len(vectors) / dim
	rows := make([]int, 0, min(n, opts.MaxSamples))
	if n <= opts.MaxSamples {
		for i := 0; i < n; i++ {
			rows = append(rows, i)
		}
	} else {
		rng := rand.New(rand.NewPCG(opts.Seed, 0xda3e39cb94b95bdb))
		perm := rng.Perm(n)[:opts.MaxSamples]
		slices.Sort(perm)
		rows = append(rows, perm...)
	}
	lo := make([]float32, dim)
	hi := make([]float32, dim)
	if opts.PerDimension {
		vals := make([]float32, len(rows))
		for j := 0; j < dim; j++ {
			for r, i := range rows {
				vals[r] = vectors[i*dim+j]
			}
			lo[j], hi[j] = quantileRange(vals, opts.Quantile)
		}
	} else {
		vals := make([]float32, 0, len(rows)*dim)
		for _, i := range rows {
			vals = append(vals, vectors[i*dim:(i+1)*dim]...)
		}
		l, h := quantileRange(vals, opts.Quantile)
		for j := range lo {
			lo[j], hi[j] = l, h
		}
	}
	scale := make([]float32, dim)
	offset := make([]float32, dim)
	for j := range scale {
		offset[j] = float32((float64(lo[j]) + float64(hi[j])) / 2)
		scale[j] = float32((float64(hi[j]) - float64(lo[j])) / 254)
	}
	return NewScalarQuantizer(scale, offset)
}

// quantileRange returns the (1−q) and q quantiles of vals (reordered in
// place), by nearest rank.
func quantileRange(vals []float32, q float64) (float32, float32) {
	slices.Sort(vals)
	n := len(vals)
	hiIdx := int(math.Ceil(q*float64(n))) - 1
	hiIdx = max(0, min(n-1, hiIdx))
	loIdx := n - 1 - hiIdx
	return vals[loIdx], vals[hiIdx]
}

// Encode writes vec's code (Dim values) to dst. It allocates nothing.
func (s *ScalarQuantizer) Encode(vec []float32, dst []int8) error {
	if len(vec) != s.Dim {
		return fmt.Errorf("cannot encode vector: %d values, want %d: %w", len(vec), s.Dim, ErrInvalidArgument)
	}
	if len(dst) < s.Dim {
		return fmt.Errorf("cannot encode vector: code buffer holds %d values, want %d: %w", len(dst), s.Dim, ErrInvalidArgument)
	}
	dst = dst[:len(vec)]
	inv, off := s.inv[:len(vec)], s.Offset[:len(vec)]
	for i, v := range vec {
		c := math.Round(float64((v - off[i]) * inv[i]))
		if c > 127 {
			c = 127
		} else if c < -127 || c != c {
			c = -127
		}
		dst[i] = int8(c)
	}
	return nil
}

// Decode writes the reconstruction Scale∘code + Offset (Dim values) to dst.
func (s *ScalarQuantizer) Decode(code []int8, dst []float32) error {
	if len(code) < s.Dim || len(dst) < s.Dim {
		return fmt.Errorf("cannot decode code: %d codes and %d outputs, want %d: %w", len(code), len(dst), s.Dim, ErrInvalidArgument)
	}
	for i := 0; i < s.Dim; i++ {
		dst[i] = s.Scale[i]*float32(code[i]) + s.Offset[i]
	}
	return nil
}

// Aux returns the per-vector value a Query needs next to the code for the
// metric: Σ (Scale[i]·code[i])² for L2, ‖decoded vector‖ for Cosine, 0 for
// InnerProduct. Storage computes it once at insert.
func (s *ScalarQuantizer) Aux(code []int8, metric Metric) float32 {
	var a float64
	switch metric {
	case L2:
		for i, c := range code[:s.Dim] {
			v := float64(s.Scale[i]) * float64(c)
			a += v * v
		}
	case Cosine:
		for i, c := range code[:s.Dim] {
			v := float64(s.Scale[i])*float64(c) + float64(s.Offset[i])
			a += v * v
		}
		a = math.Sqrt(a)
	}
	return float32(a)
}

// Query is a float32 query prepared against a ScalarQuantizer: each distance
// to a code costs one kernels.DotF32Int8 (no decoding), and is the exact
// distance from the query to the decoded vector, up to float rounding. A
// Query is reused across queries with Reset; it is owned by one goroutine at
// a time and allocates nothing after NewQuery.
type Query struct {
	sq     *ScalarQuantizer
	metric Metric
	w      []float32 // per-dimension weights the codes are dotted with
	base   float32   // L2: ‖q−o‖²; IP and cosine: ⟨q,o⟩
	qnorm  float32   // cosine: ‖q‖
}

// NewQuery returns a Query for the metric; Reset it with a vector before use.
func (s *ScalarQuantizer) NewQuery(metric Metric) (*Query, error) {
	if !metric.valid() {
		return nil, fmt.Errorf("cannot prepare query: unknown metric %v: %w", metric, ErrInvalidArgument)
	}
	return &Query{sq: s, metric: metric, w: make([]float32, s.Dim)}, nil
}

// Reset prepares the query for vector q (Dim values). q is not retained.
func (p *Query) Reset(q []float32) error {
	s := p.sq
	if len(q) != s.Dim {
		return fmt.Errorf("cannot prepare query: %d values, want %d: %w", len(q), s.Dim, ErrInvalidArgument)
	}
	w := p.w[:len(q)]
	sc, off := s.Scale[:len(q)], s.Offset[:len(q)]
	var base, qn float64
	for i, v := range q {
		if p.metric == L2 {
			r := v - off[i]
			w[i] = r * sc[i]
			base += float64(r) * float64(r)
		} else {
			w[i] = v * sc[i]
			base += float64(v) * float64(off[i])
			qn += float64(v) * float64(v)
		}
	}
	p.base, p.qnorm = float32(base), float32(math.Sqrt(qn))
	return nil
}

// Distance returns the distance from the prepared query to the vector whose
// code and Aux value (for the query's metric) are given.
func (p *Query) Distance(code []int8, aux float32) float32 {
	return p.finish(kernels.DotF32Int8(p.w, code), aux)
}

func (p *Query) finish(dot, aux float32) float32 {
	switch p.metric {
	case L2:
		return p.base + aux - 2*dot
	case InnerProduct:
		return 1 - (dot + p.base)
	default:
		if aux == 0 || p.qnorm == 0 {
			return 1
		}
		return 1 - (dot+p.base)/(p.qnorm*aux)
	}
}

// DistanceGather sets out[i] to the distance to the vector ids[i] of an
// arena of codes (Dim values per vector) with its Aux values in aux[ids[i]].
// out holds len(ids) values.
func (p *Query) DistanceGather(arena []int8, aux []float32, ids []uint32, out []float32) {
	kernels.DotF32Int8Gather(p.w, arena, ids, out)
	out = out[:len(ids)]
	switch p.metric {
	case L2:
		for i, id := range ids {
			out[i] = p.base + aux[id] - 2*out[i]
		}
	case InnerProduct:
		for i := range out {
			out[i] = 1 - (out[i] + p.base)
		}
	default:
		for i, id := range ids {
			out[i] = p.finish(out[i], aux[id])
		}
	}
}
