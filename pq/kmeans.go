package pq

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lsmvec/lsmvec/kernels"
)

// KMeansOptions configures KMeans. The zero value is ready to use.
type KMeansOptions struct {
	// Iterations caps the Lloyd iterations after initialization. Default 25.
	// Training stops earlier when an iteration changes no assignment.
	Iterations int
	// Seed seeds the k-means++ initialization and the re-seeding of empty
	// clusters. Equal seeds and inputs give bit-identical centroids.
	Seed uint64
	// Threads is the number of goroutines. Default (0) runtime.GOMAXPROCS(0).
	// The result does not depend on it.
	Threads int
	// RandomInit picks the initial centroids uniformly at random among the
	// points instead of by k-means++ (D² sampling). Default false. It saves
	// the initialization pass when k is very large (pq16).
	RandomInit bool
	// InitSample is the number of points (a seeded uniform sample) k-means++
	// seeds from; the Lloyd iterations then use every point. Default
	// max(32·k, 8192); negative means every point.
	InitSample int
}

// EnsureDefaults fills the zero fields with their defaults.
func (o *KMeansOptions) EnsureDefaults() {
	if o.Iterations == 0 {
		o.Iterations = 25
	}
	if o.Threads <= 0 {
		o.Threads = runtime.GOMAXPROCS(0)
	}
}

// initSample returns the k-means++ sample size for k clusters.
func (o *KMeansOptions) initSample(k int) int {
	if o.InitSample == 0 {
		return max(32*k, 8192)
	}
	return o.InitSample
}

// Validate reports an option out of range.
func (o *KMeansOptions) Validate() error {
	if o.Iterations < 0 {
		return fmt.Errorf("cannot run k-means: iterations = %d: %w", o.Iterations, ErrInvalidArgument)
	}
	return nil
}

// KMeansStats describes a finished KMeans run.
type KMeansStats struct {
	// Iterations is the number of Lloyd iterations run.
	Iterations int
	// Converged is true when the last iteration changed no assignment.
	Converged bool
	// Inertia is the sum of squared distances of the points to their
	// centroids at the end.
	Inertia float64
	// Empty counts the clusters re-seeded because they lost all points.
	Empty int
}

// KMeans clusters the n = len(data)/dim points of data (row-major, n·dim
// values) into k clusters and returns the k·dim centroid values (row-major).
// It initializes with k-means++ (D² sampling, seeded by opts.Seed) and runs
// Lloyd iterations accelerated with triangle-inequality bounds (Hamerly's
// per-point bound, then Elkan's per-centroid bounds with the centroids
// visited nearest-first, or Hamerly's alone when k or n·k is large), which
// skip the distances that provably cannot change an assignment; the result
// equals plain Lloyd's up to float rounding. Memory: 4·n·k bytes of bounds
// in Elkan mode (n·k ≤ 2^25). Work is split into fixed chunks over opts.Threads
// goroutines and every reduction runs in a fixed order, so the centroids are
// bit-identical for a given seed whatever the thread count or scheduling.
// data is read, never retained or modified. KMeans is safe for concurrent use.
func KMeans(data []float32, dim, k int, opts KMeansOptions) ([]float32, error) {
	c, _, err := KMeansWithStats(data, dim, k, opts)
	return c, err
}

// KMeansWithStats is KMeans that also reports how the run went.
func KMeansWithStats(data []float32, dim, k int, opts KMeansOptions) ([]float32, KMeansStats, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, KMeansStats{}, err
	}
	if dim <= 0 || len(data)%dim != 0 || len(data) == 0 {
		return nil, KMeansStats{}, fmt.Errorf("cannot run k-means: %d values do not make rows of dim %d: %w", len(data), dim, ErrInvalidArgument)
	}
	n := len(data) / dim
	if k <= 0 {
		return nil, KMeansStats{}, fmt.Errorf("cannot run k-means: k = %d: %w", k, ErrInvalidArgument)
	}
	if n < k {
		return nil, KMeansStats{}, fmt.Errorf("cannot run k-means: %d points for %d clusters: %w", n, k, ErrTooFewVectors)
	}
	if n > math.MaxInt32 || k > math.MaxInt32 {
		return nil, KMeansStats{}, fmt.Errorf("cannot run k-means: %d points: %w", n, ErrInvalidArgument)
	}
	for i, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, KMeansStats{}, fmt.Errorf("cannot run k-means: point %d: %w", i/dim, ErrNotFinite)
		}
	}
	opts.InitSample = opts.initSample(k)
	km := newKMeans(data, dim, k, opts)
	st := km.run()
	return km.cent, st, nil
}

// kmChunk is the number of points one task handles. It is fixed (not derived
// from the thread count) so that chunked results never depend on it.
const kmChunk = 1024

type kmeans struct {
	data    []float32
	d, n, k int
	opts    KMeansOptions
	rng     *rand.Rand

	cent   []float32   // k·d
	assign []int32     // n
	upper  []float32   // n: upper bound on dist(x_i, cent[assign_i])
	lower  []float32   // n: lower bound on dist(x_i, any other centroid)
	half   []float32   // k: half the distance to the nearest other centroid
	move   []float32   // k: how far each centroid moved in the last update
	counts []int32     // k
	bufs   [][]float32 // per worker: k values
	// chunkBufs holds per worker kmChunk values.
	chunkBufs [][]float32

	// Elkan's bounds, used when n·k ≤ elkanLimit and k ≤ halfLimit:
	// lowerK[i*k+c] − drift[c] is a lower bound on dist(x_i, cent[c]),
	// where drift[c] is the total distance centroid c has moved so far
	// (storing the bound plus the drift at the time it was set saves
	// widening n·k bounds every iteration); centHalf[a*k+c] is half of
	// dist(cent[a], cent[c]). Nil in Hamerly mode.
	lowerK   []float32
	drift    []float32
	centHalf []float32
	// cumMax is the sum over iterations of the largest centroid movement:
	// in Elkan mode lower[i] − cumMax is the point's Hamerly bound (on the
	// distance to every centroid but its own), kept with the same offset
	// trick as lowerK.
	cumMax float32
	// centOrder[a*k:(a+1)*k] lists the centroids by distance from a.
	centOrder []int32
}

func newKMeans(data []float32, d, k int, opts KMeansOptions) *kmeans {
	n := len(data) / d
	km := &kmeans{
		data: data, d: d, n: n, k: k, opts: opts,
		rng:    rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15)),
		cent:   make([]float32, k*d),
		assign: make([]int32, n),
		upper:  make([]float32, n),
		lower:  make([]float32, n),
		half:   make([]float32, k),
		move:   make([]float32, k),
		counts: make([]int32, k),
	}
	threads := opts.Threads
	if c := (n + kmChunk - 1) / kmChunk; threads > c {
		threads = c
	}
	km.opts.Threads = threads
	if n*k <= elkanLimit && k <= halfLimit {
		km.lowerK = make([]float32, n*k)
		km.drift = make([]float32, k)
		km.centHalf = make([]float32, k*k)
		km.centOrder = make([]int32, k*k)
	}
	km.bufs = make([][]float32, threads)
	km.chunkBufs = make([][]float32, threads)
	for i := range km.bufs {
		km.bufs[i] = make([]float32, k)
		km.chunkBufs[i] = make([]float32, kmChunk)
	}
	return km
}

func (km *kmeans) point(i int) []float32 { return km.data[i*km.d : (i+1)*km.d] }
func (km *kmeans) centroid(c int) []float32 {
	return km.cent[c*km.d : (c+1)*km.d]
}

// parallel runs fn(worker, lo, hi) over [0, total) in chunks of size chunk on
// the configured goroutines. Each chunk's work must depend only on its range,
// which makes the outcome independent of which worker runs it.
func (km *kmeans) parallel(total, chunk int, fn func(w, lo, hi int)) {
	nchunks := (total + chunk - 1) / chunk
	threads := km.opts.Threads
	if threads > nchunks {
		threads = nchunks
	}
	if threads <= 1 {
		for lo := 0; lo < total; lo += chunk {
			fn(0, lo, min(lo+chunk, total))
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < threads; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= nchunks {
					return
				}
				lo := c * chunk
				fn(w, lo, min(lo+chunk, total))
			}
		}(w)
	}
	wg.Wait()
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

func (km *kmeans) run() KMeansStats {
	switch sample := km.opts.InitSample; {
	case km.opts.RandomInit:
		km.initRandom()
		km.assignAll()
	case sample > 0 && sample < km.n:
		km.initSampled(sample)
		km.assignAll()
	default:
		km.initPlusPlus()
	}
	var st KMeansStats
	for it := 0; it < km.opts.Iterations; it++ {
		st.Empty += km.update()
		st.Iterations++
		changed := km.reassign()
		if changed == 0 {
			st.Converged = true
			break
		}
	}
	st.Inertia = km.inertia()
	return st
}

// initPlusPlus chooses the initial centroids by D² sampling and leaves every
// point assigned to its nearest chosen centroid with exact upper and lower
// bounds, which saves the first full assignment pass.
func (km *kmeans) initPlusPlus() {
	first := km.rng.IntN(km.n)
	copy(km.centroid(0), km.point(first))
	best := make([]float32, km.n)   // squared distance to the nearest centroid
	second := make([]float32, km.n) // squared distance to the second nearest
	km.parallel(km.n, kmChunk, func(_, lo, hi int) {
		c := km.centroid(0)
		for i := lo; i < hi; i++ {
			best[i] = kernels.L2Sq(km.point(i), c)
			second[i] = float32(math.Inf(1))
			km.assign[i] = 0
			if km.lowerK != nil {
				km.lowerK[i*km.k] = sqrt32(best[i])
			}
		}
	})
	partial := make([]float64, (km.n+kmChunk-1)/kmChunk)
	for c := 1; c < km.k; c++ {
		// Sum of weights: per-chunk sums added in chunk order.
		km.parallel(km.n, kmChunk, func(_, lo, hi int) {
			var s float64
			for i := lo; i < hi; i++ {
				s += float64(best[i])
			}
			partial[lo/kmChunk] = s
		})
		var total float64
		for _, s := range partial {
			total += s
		}
		pick := -1
		if total > 0 {
			r := km.rng.Float64() * total
			for ch, s := range partial {
				if r >= s && ch < len(partial)-1 {
					r -= s
					continue
				}
				lo := ch * kmChunk
				for i := lo; i < min(lo+kmChunk, km.n); i++ {
					r -= float64(best[i])
					if r < 0 && best[i] > 0 {
						pick = i
						break
					}
				}
				break
			}
			if pick < 0 { // rounding left r just above zero: take the last positive weight
				for i := km.n - 1; i >= 0; i-- {
					if best[i] > 0 {
						pick = i
						break
					}
				}
			}
		}
		if pick < 0 { // every point coincides with a centroid
			pick = km.rng.IntN(km.n)
		}
		copy(km.centroid(c), km.point(pick))
		cc := km.centroid(c)
		km.parallel(km.n, kmChunk, func(w, lo, hi int) {
			dists := km.chunkBufs[w][:hi-lo]
			kernels.L2SqBatch(cc, km.data[lo*km.d:hi*km.d], dists)
			for i := lo; i < hi; i++ {
				dist := dists[i-lo]
				if km.lowerK != nil {
					km.lowerK[i*km.k+c] = sqrt32(dist)
				}
				if dist < best[i] {
					second[i] = best[i]
					best[i] = dist
					km.assign[i] = int32(c)
				} else if dist < second[i] {
					second[i] = dist
				}
			}
		})
	}
	for i := range best {
		km.upper[i] = sqrt32(best[i])
		km.lower[i] = sqrt32(second[i])
	}
}

// initSampled runs k-means++ over a seeded uniform sample of the points.
// Each k-means++ step is a pass over the points it sees, bound by memory
// bandwidth once they outgrow the caches; on a sample that stays in cache
// the seeding costs a fraction, and the full assignment that follows runs
// point by point against all centroids, which stay in cache.
func (km *kmeans) initSampled(sample int) {
	rows := make([]int32, km.n)
	for i := range rows {
		rows[i] = int32(i)
	}
	for i := 0; i < sample; i++ {
		j := i + km.rng.IntN(km.n-i)
		rows[i], rows[j] = rows[j], rows[i]
	}
	rows = rows[:sample]
	slices.Sort(rows)
	data := make([]float32, 0, sample*km.d)
	for _, i := range rows {
		data = append(data, km.point(int(i))...)
	}
	sub := newKMeans(data, km.d, km.k, km.opts)
	sub.rng = km.rng
	sub.lowerK, sub.drift, sub.centHalf, sub.centOrder = nil, nil, nil, nil
	sub.initPlusPlus()
	copy(km.cent, sub.cent)
}

func (km *kmeans) initRandom() {
	// Partial Fisher-Yates over point indexes: k distinct points.
	perm := make([]int32, km.n)
	for i := range perm {
		perm[i] = int32(i)
	}
	for c := 0; c < km.k; c++ {
		j := c + km.rng.IntN(km.n-c)
		perm[c], perm[j] = perm[j], perm[c]
		copy(km.centroid(c), km.point(int(perm[c])))
	}
}

// nearestTwo scans every centroid for point x using buf (k values) and
// returns the nearest, and the squared distances to the nearest and the
// second nearest.
func (km *kmeans) nearestTwo(x, buf []float32) (int32, float32, float32) {
	kernels.L2SqBatch(x, km.cent, buf)
	b, bd, sd := int32(0), float32(math.Inf(1)), float32(math.Inf(1))
	for c, v := range buf {
		if v < bd {
			b, sd, bd = int32(c), bd, v
		} else if v < sd {
			sd = v
		}
	}
	return b, bd, sd
}

// assignAll assigns every point from scratch with exact bounds.
func (km *kmeans) assignAll() {
	km.parallel(km.n, kmChunk, func(w, lo, hi int) {
		buf := km.bufs[w]
		for i := lo; i < hi; i++ {
			b, bd, sd := km.nearestTwo(km.point(i), buf)
			km.assign[i], km.upper[i], km.lower[i] = b, sqrt32(bd), sqrt32(sd)
			if km.lowerK != nil {
				lb := km.lowerK[i*km.k : (i+1)*km.k]
				for c, v := range buf {
					lb[c] = sqrt32(v) + km.drift[c]
				}
			}
		}
	})
}

// elkanLimit bounds n·k for Elkan's per-centroid lower bounds (4 bytes
// each); above it KMeans uses Hamerly's single lower bound per point.
const elkanLimit = 1 << 25

// halfLimit bounds the k for which the k²/2 centroid-to-centroid distances
// of Hamerly's second test are computed; above it only the per-point lower
// bound prunes.
const halfLimit = 4096

// reassign runs one Hamerly assignment pass and returns how many points
// changed cluster.
func (km *kmeans) reassign() int {
	if km.lowerK != nil {
		return km.reassignElkan()
	}
	if km.k <= halfLimit {
		km.parallel(km.k, 16, func(_, lo, hi int) {
			buf := make([]float32, km.k)
			for c := lo; c < hi; c++ {
				kernels.L2SqBatch(km.centroid(c), km.cent, buf)
				m := float32(math.Inf(1))
				for o, v := range buf {
					if o != c && v < m {
						m = v
					}
				}
				km.half[c] = sqrt32(m) / 2
			}
		})
	} else {
		clear(km.half)
	}
	changed := make([]int, (km.n+kmChunk-1)/kmChunk)
	km.parallel(km.n, kmChunk, func(w, lo, hi int) {
		buf := km.bufs[w]
		ch := 0
		for i := lo; i < hi; i++ {
			a := km.assign[i]
			bound := max(km.half[a], km.lower[i])
			if km.upper[i] <= bound {
				continue
			}
			x := km.point(i)
			km.upper[i] = sqrt32(kernels.L2Sq(x, km.centroid(int(a))))
			if km.upper[i] <= bound {
				continue
			}
			b, bd, sd := km.nearestTwo(x, buf)
			if b != a {
				ch++
			}
			km.assign[i], km.upper[i], km.lower[i] = b, sqrt32(bd), sqrt32(sd)
		}
		changed[lo/kmChunk] = ch
	})
	total := 0
	for _, c := range changed {
		total += c
	}
	return total
}

// centerDistances fills centHalf with half the centroid-to-centroid
// distances and half with each centroid's minimum over the others.
func (km *kmeans) centerDistances() {
	k := km.k
	km.parallel(k, 16, func(_, lo, hi int) {
		for a := lo; a < hi; a++ {
			row := km.centHalf[a*k : (a+1)*k]
			kernels.L2SqBatch(km.centroid(a), km.cent, row)
			m := float32(math.Inf(1))
			for c, v := range row {
				row[c] = sqrt32(v) / 2
				if c != a && row[c] < m {
					m = row[c]
				}
			}
			km.half[a] = m
			if km.centOrder != nil {
				ord := km.centOrder[a*k : (a+1)*k]
				for c := range ord {
					ord[c] = int32(c)
				}
				slices.SortFunc(ord, func(x, y int32) int { return cmp.Compare(row[x], row[y]) })
			}
		}
	})
}

// reassignElkan is reassign with Elkan's bounds: a distance is computed
// only when the point's upper bound exceeds both its lower bound for that
// centroid and half the distance between that centroid and the current one.
func (km *kmeans) reassignElkan() int {
	km.centerDistances()
	k := km.k
	changed := make([]int, (km.n+kmChunk-1)/kmChunk)
	km.parallel(km.n, kmChunk, func(_, lo, hi int) {
		ch := 0
		for i := lo; i < hi; i++ {
			a0 := int(km.assign[i])
			u := km.upper[i]
			// Hamerly's test first: one bound for all other centroids
			// saves looking at the per-centroid ones.
			bound := max(km.half[a0], km.lower[i]-km.cumMax)
			if u <= bound {
				continue
			}
			x := km.point(i)
			lb := km.lowerK[i*k : (i+1)*k]
			drift := km.drift[:len(lb)]
			u0 := sqrt32(kernels.L2Sq(x, km.centroid(a0)))
			lb[a0] = u0 + drift[a0]
			if u0 <= bound {
				km.upper[i] = u0
				continue
			}
			// Visit the other centroids nearest to a0 first. Once
			// dist(a0,c) ≥ 2·u0, dist(x,c) ≥ dist(a0,c) − u0 ≥ u0 for c and
			// every centroid after it, so the scan stops. second collects
			// a lower bound on the distance to every centroid but the
			// final one (the point's new Hamerly bound).
			a, u := a0, u0
			row0 := km.centHalf[a0*k : (a0+1)*k]
			row := row0
			second := float32(math.Inf(1))
			for _, c32 := range km.centOrder[a0*k : (a0+1)*k] {
				c := int(c32)
				if c == a0 {
					continue
				}
				if row0[c] >= u0 {
					second = min(second, 2*row0[c]-u0)
					break
				}
				lbc := lb[c] - drift[c]
				if u <= lbc || u <= row[c] {
					second = min(second, max(lbc, 2*row0[c]-u0, 2*row[c]-u))
					continue
				}
				dc := sqrt32(kernels.L2Sq(x, km.centroid(c)))
				lb[c] = dc + drift[c]
				if dc < u {
					second = min(second, u)
					a, u = c, dc
					row = km.centHalf[a*k : (a+1)*k]
				} else {
					second = min(second, dc)
				}
			}
			km.lower[i] = second + km.cumMax
			if a != a0 {
				ch++
				km.assign[i] = int32(a)
			}
			km.upper[i] = u
		}
		changed[lo/kmChunk] = ch
	})
	total := 0
	for _, c := range changed {
		total += c
	}
	return total
}

// update moves every centroid to the mean of its points, re-seeds empty
// clusters, widens the bounds by the movements and returns the number of
// clusters re-seeded. Points are bucketed by cluster in index order and each
// cluster sums its points in that order, in float64, so the means are
// independent of the thread count.
func (km *kmeans) update() int {
	d := km.d
	clear(km.counts)
	for _, a := range km.assign {
		km.counts[a]++
	}
	start := make([]int32, km.k+1)
	for c := 0; c < km.k; c++ {
		start[c+1] = start[c] + km.counts[c]
	}
	order := make([]int32, km.n)
	pos := append([]int32(nil), start[:km.k]...)
	for i, a := range km.assign {
		order[pos[a]] = int32(i)
		pos[a]++
	}
	km.parallel(km.k, 16, func(_, lo, hi int) {
		sum := make([]float64, d)
		for c := lo; c < hi; c++ {
			pts := order[start[c]:start[c+1]]
			if len(pts) == 0 {
				km.move[c] = 0
				continue
			}
			clear(sum)
			for _, i := range pts {
				for j, v := range km.point(int(i)) {
					sum[j] += float64(v)
				}
			}
			cc := km.centroid(c)
			var mv float64
			inv := 1 / float64(len(pts))
			for j := range cc {
				nv := float32(sum[j] * inv)
				diff := float64(nv - cc[j])
				mv += diff * diff
				cc[j] = nv
			}
			km.move[c] = float32(math.Sqrt(mv))
		}
	})
	// Empty clusters take a random point of a cluster that has more than
	// one, chosen in cluster order with the seeded generator.
	empty := 0
	for c := 0; c < km.k; c++ {
		if km.counts[c] != 0 {
			continue
		}
		empty++
		for try := 0; try < 64; try++ {
			i := km.rng.IntN(km.n)
			if km.counts[km.assign[i]] > 1 {
				km.counts[km.assign[i]]--
				km.counts[c] = 1
				old := append([]float32(nil), km.centroid(c)...)
				copy(km.centroid(c), km.point(i))
				km.move[c] = sqrt32(kernels.L2Sq(old, km.centroid(c)))
				break
			}
		}
	}
	// Widen the bounds: a point's centroid moved by move[a]; any other
	// centroid by at most the largest movement among the others.
	var m1, m2 float32
	var arg int32 = -1
	for c, v := range km.move {
		if v > m1 {
			m2, m1, arg = m1, v, int32(c)
		} else if v > m2 {
			m2 = v
		}
	}
	if km.lowerK != nil {
		for c, m := range km.move {
			km.drift[c] += m
		}
		km.cumMax += m1
		km.parallel(km.n, kmChunk, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				km.upper[i] += km.move[km.assign[i]]
			}
		})
		return empty
	}
	km.parallel(km.n, kmChunk, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			a := km.assign[i]
			km.upper[i] += km.move[a]
			if a == arg {
				km.lower[i] -= m2
			} else {
				km.lower[i] -= m1
			}
		}
	})
	return empty
}

func (km *kmeans) inertia() float64 {
	partial := make([]float64, (km.n+kmChunk-1)/kmChunk)
	km.parallel(km.n, kmChunk, func(_, lo, hi int) {
		var s float64
		for i := lo; i < hi; i++ {
			s += float64(kernels.L2Sq(km.point(i), km.centroid(int(km.assign[i]))))
		}
		partial[lo/kmChunk] = s
	})
	var total float64
	for _, s := range partial {
		total += s
	}
	return total
}
