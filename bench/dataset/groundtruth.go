package dataset

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lsmvec/lsmvec/kernels"
)

// The metrics GroundTruth understands.
const (
	MetricL2     = "l2"     // squared Euclidean distance, smallest first
	MetricIP     = "ip"     // inner product, largest first
	MetricCosine = "cosine" // 1 − cosine similarity, smallest first
)

// ValidateMetric returns nil for a metric GroundTruth understands and an
// error wrapping ErrUnsupported otherwise. Callers passing user input to
// GroundTruth check it here first.
func ValidateMetric(metric string) error {
	switch metric {
	case MetricL2, MetricIP, MetricCosine:
		return nil
	}
	return fmt.Errorf("cannot compute ground truth: %w: metric %q (want l2, ip or cosine)", ErrUnsupported, metric)
}

// Tuning of the brute force: each worker takes gtGroup queries at a time and
// walks the base in blocks of about gtBlockBytes, so a block is read from
// memory once and from cache by the group's other queries.
const (
	gtGroup      = 8
	gtBlockBytes = 256 << 10
)

// GroundTruth computes the exact k nearest base vectors of each query by
// brute force: result[i] lists the ids (row numbers in base) of query i's
// min(k, N) nearest, nearest first, ties broken towards the lower id. Metric
// is "l2" (squared distance), "ip" (largest inner product first, i.e.
// smallest 1−ip) or "cosine" (smallest 1 − cos, computed as
// kernels.CosineDistance does, a zero vector at distance 1). NaN distances
// rank last.
//
// It runs on runtime.GOMAXPROCS(0) goroutines over the kernels package's
// batch kernels, and only reads base and queries. The result rows share one
// backing array. dim must be positive, base and queries whole rows, and the
// metric valid (see ValidateMetric); anything else is a programming error
// and panics.
func GroundTruth(base, queries []float32, dim, k int, metric string) [][]int32 {
	return groundTruth(base, queries, dim, k, metric, nil, gtGroup)
}

// GroundTruthFiltered is GroundTruth over the base vectors i for which
// allow(i) is true: the exact answer a filtered search should return. A
// query's row is shorter than k when fewer than k vectors are allowed.
// allow is called once per base vector, in order, from the calling goroutine
// (it need not be safe for concurrent use); a nil allow admits everything.
func GroundTruthFiltered(base, queries []float32, dim, k int, metric string, allow func(i int) bool) [][]int32 {
	if allow == nil {
		return groundTruth(base, queries, dim, k, metric, nil, gtGroup)
	}
	n := 0
	if dim > 0 {
		n = len(base) / dim
	}
	ids := make([]uint32, 0, n)
	for i := range n {
		if allow(i) {
			ids = append(ids, uint32(i))
		}
	}
	return groundTruth(base, queries, dim, k, metric, ids, gtGroup)
}

// groundTruth is the brute force; ids, when non-nil, restricts the base to
// those rows (ascending); group is the number of queries a worker runs over
// each base block (gtGroup; a parameter so the benchmark can compare).
func groundTruth(base, queries []float32, dim, k int, metric string, ids []uint32, group int) [][]int32 {
	if dim <= 0 {
		panic(fmt.Sprintf("dataset: GroundTruth: dimension %d", dim))
	}
	if len(base)%dim != 0 || len(queries)%dim != 0 {
		panic(fmt.Sprintf("dataset: GroundTruth: base (%d values) or queries (%d values) not a multiple of dimension %d", len(base), len(queries), dim))
	}
	if err := ValidateMetric(metric); err != nil {
		panic(err)
	}
	n, nq := len(base)/dim, len(queries)/dim
	if n > math.MaxInt32 {
		panic(fmt.Sprintf("dataset: GroundTruth: %d base vectors exceed int32 ids", n))
	}
	m := n
	if ids != nil {
		m = len(ids)
	}
	kk := max(0, min(k, m))
	flat := make([]int32, nq*kk)
	out := make([][]int32, nq)
	for i := range out {
		out[i] = flat[i*kk : (i+1)*kk : (i+1)*kk]
	}
	if kk == 0 || nq == 0 {
		return out
	}

	var norms []float32 // cosine: squared norms of the base rows
	if metric == MetricCosine {
		norms = make([]float32, n)
		for i := range norms {
			v := base[i*dim : (i+1)*dim]
			norms[i] = kernels.Dot(v, v)
		}
	}

	block := max(1, gtBlockBytes/(4*dim))
	groups := (nq + group - 1) / group
	workers := max(1, min(runtime.GOMAXPROCS(0), groups))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dist := make([]float32, block)
			heaps := make([]topK, group)
			qnorms := make([]float32, group)
			for i := range heaps {
				heaps[i].e = make([]gtEntry, 0, kk)
			}
			for {
				g := int(next.Add(1) - 1)
				if g >= groups {
					return
				}
				q0, q1 := g*group, min((g+1)*group, nq)
				for qi := q0; qi < q1; qi++ {
					heaps[qi-q0].reset(kk)
					if norms != nil {
						q := queries[qi*dim : (qi+1)*dim]
						qnorms[qi-q0] = kernels.Dot(q, q)
					}
				}
				for b0 := 0; b0 < m; b0 += block {
					b1 := min(b0+block, m)
					d := dist[:b1-b0]
					for qi := q0; qi < q1; qi++ {
						q := queries[qi*dim : (qi+1)*dim]
						h := &heaps[qi-q0]
						var blockIDs []uint32
						switch {
						case ids != nil && metric == MetricL2:
							blockIDs = ids[b0:b1]
							kernels.L2SqGather(q, base, blockIDs, d)
						case ids != nil:
							blockIDs = ids[b0:b1]
							kernels.DotGather(q, base, blockIDs, d)
						case metric == MetricL2:
							kernels.L2SqBatch(q, base[b0*dim:b1*dim], d)
						default:
							kernels.DotBatch(q, base[b0*dim:b1*dim], d)
						}
						qn := qnorms[qi-q0]
						for j, x := range d {
							id := int32(b0 + j)
							if blockIDs != nil {
								id = int32(blockIDs[j])
							}
							switch metric {
							case MetricIP:
								x = -x
							case MetricCosine:
								if bn := norms[id]; qn == 0 || bn == 0 {
									x = 1
								} else {
									x = 1 - x/float32(math.Sqrt(float64(qn*bn)))
								}
							}
							if x != x { // NaN ranks last
								x = float32(math.Inf(1))
							}
							h.push(gtEntry{x, id})
						}
					}
				}
				for qi := q0; qi < q1; qi++ {
					heaps[qi-q0].sortedIDs(out[qi])
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// gtEntry is a candidate: its distance key (smaller is nearer) and id.
type gtEntry struct {
	d  float32
	id int32
}

// worse reports whether a ranks after b: farther, or as far with a higher id.
func worse(a, b gtEntry) bool {
	return a.d > b.d || (a.d == b.d && a.id > b.id)
}

// topK keeps the k best entries seen, as a max-heap on worse (the worst
// kept entry at e[0]). Not safe for concurrent use.
type topK struct {
	e []gtEntry
	k int
}

func (h *topK) reset(k int) { h.e, h.k = h.e[:0], k }

func (h *topK) push(c gtEntry) {
	e := h.e
	if len(e) < h.k {
		e = append(e, c)
		for i := len(e) - 1; i > 0; {
			p := (i - 1) / 2
			if !worse(e[i], e[p]) {
				break
			}
			e[i], e[p] = e[p], e[i]
			i = p
		}
		h.e = e
		return
	}
	if !worse(e[0], c) {
		return
	}
	e[0] = c
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(e) {
			break
		}
		w := l
		if r := l + 1; r < len(e) && worse(e[r], e[l]) {
			w = r
		}
		if !worse(e[w], e[i]) {
			break
		}
		e[i], e[w] = e[w], e[i]
		i = w
	}
}

// sortedIDs writes the kept ids, nearest first, into dst (len(dst) == len(h.e)).
func (h *topK) sortedIDs(dst []int32) {
	slices.SortFunc(h.e, func(a, b gtEntry) int {
		if c := cmp.Compare(a.d, b.d); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	for i, x := range h.e {
		dst[i] = x.id
	}
}

// Recall returns |got[:k] ∩ truth[:k]| / k: the fraction of the k true
// nearest neighbours that a search returned in its first k results. got may
// be shorter than k (missing entries count as misses), and an id repeated in
// got counts once. When truth holds fewer than k ids (a filtered query with
// fewer than k matches) the denominator is len(truth), so returning all of
// them scores 1; with nothing to find (k ≤ 0 or empty truth) Recall is 1.
// It allocates nothing and is safe for concurrent use.
func Recall(got []uint64, truth []int32, k int) float64 {
	n := min(k, len(truth))
	if n <= 0 {
		return 1
	}
	got = got[:min(k, len(got))]
	hits := 0
	for _, t := range truth[:n] {
		if t < 0 {
			continue
		}
		for _, g := range got {
			if g == uint64(t) {
				hits++
				break
			}
		}
	}
	return float64(hits) / float64(n)
}

// MeanRecall returns the mean of Recall(got[i], truth[i], k) over the
// queries; len(got) must equal len(truth) (it panics otherwise), and no
// queries give 1.
func MeanRecall(got [][]uint64, truth [][]int32, k int) float64 {
	if len(got) != len(truth) {
		panic(fmt.Sprintf("dataset: MeanRecall: %d results for %d queries", len(got), len(truth)))
	}
	if len(got) == 0 {
		return 1
	}
	var s float64
	for i := range got {
		s += Recall(got[i], truth[i], k)
	}
	return s / float64(len(got))
}

// Normalize L2-normalizes each dim-sized row of vecs in place (for cosine
// and inner-product tests; copy a shared Set's data first). Zero rows stay
// zero. It panics when dim ≤ 0 or vecs is not whole rows.
func Normalize(vecs []float32, dim int) {
	if dim <= 0 || len(vecs)%dim != 0 {
		panic(fmt.Sprintf("dataset: Normalize: %d values are not rows of dimension %d", len(vecs), dim))
	}
	for i := 0; i < len(vecs); i += dim {
		v := vecs[i : i+dim]
		n := kernels.Norm(v)
		if n == 0 || n != n {
			continue
		}
		inv := 1 / n
		for j := range v {
			v[j] *= inv
		}
	}
}
