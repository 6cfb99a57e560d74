package bench

import (
	"math"
	"slices"
)

// Point is one ef_search setting of a recall-versus-speed sweep.
type Point struct {
	Ef     int     `json:"ef"`
	Recall float64 `json:"recall"`
	// QPS is the single-thread throughput (queries per second of wall time).
	QPS float64 `json:"qps"`
	// QPSThreads is the throughput with Config.Threads query goroutines (0
	// when not measured).
	QPSThreads float64 `json:"qps_threads,omitempty"`
	// P50 and P99 are single-thread per-query latencies in microseconds (0
	// when not measured, as for hnswlib).
	P50 float64 `json:"p50_us,omitempty"`
	P99 float64 `json:"p99_us,omitempty"`
}

// Interp is a curve's throughput interpolated at one recall level.
type Interp struct {
	Recall float64 `json:"recall"`
	// QPS is the interpolated single-thread throughput; valid only when OK.
	QPS float64 `json:"qps"`
	// OK is false when the curve never reaches Recall.
	OK bool `json:"ok"`
	// LowerBound is set when the curve's lowest setting already exceeds
	// Recall: QPS is then that setting's throughput, a lower bound of the
	// throughput at Recall.
	LowerBound bool `json:"lower_bound,omitempty"`
}

// QPSAtRecall interpolates a sweep's single-thread QPS at recall target,
// linearly in recall between the two sweep points around it, taking the
// points in increasing ef order (ties in ef keep their order). The segment
// used is the first one that reaches target: its lower end has recall below
// target and its upper end at or above. A curve whose first point already
// reaches target yields that point's QPS as a lower bound; one that never
// reaches it yields OK false. Points with NaN or non-positive QPS are
// ignored. QPSAtRecall does not modify pts.
func QPSAtRecall(pts []Point, target float64) Interp {
	return interpolate(pts, target, func(p Point) float64 { return p.QPS })
}

// QPSThreadsAtRecall is QPSAtRecall over the N-thread throughput.
func QPSThreadsAtRecall(pts []Point, target float64) Interp {
	return interpolate(pts, target, func(p Point) float64 { return p.QPSThreads })
}

func interpolate(pts []Point, target float64, qps func(Point) float64) Interp {
	out := Interp{Recall: target}
	s := make([]Point, 0, len(pts))
	for _, p := range pts {
		if q := qps(p); q > 0 && !math.IsNaN(q) && !math.IsInf(q, 0) && !math.IsNaN(p.Recall) {
			s = append(s, p)
		}
	}
	slices.SortStableFunc(s, func(a, b Point) int { return a.Ef - b.Ef })
	for i, p := range s {
		if p.Recall < target {
			continue
		}
		out.OK = true
		if i == 0 {
			out.QPS, out.LowerBound = qps(p), true
			return out
		}
		a := s[i-1]
		qa, qb := qps(a), qps(p)
		t := (target - a.Recall) / (p.Recall - a.Recall)
		out.QPS = qa + t*(qb-qa)
		return out
	}
	return out
}

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of xs by the
// nearest-rank method, sorting xs in place; 0 for an empty slice.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	r := int(math.Ceil(p / 100 * float64(len(xs))))
	return xs[min(max(r, 1), len(xs))-1]
}
