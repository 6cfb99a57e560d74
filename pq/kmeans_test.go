package pq

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lsmvec/lsmvec/kernels"
)

// blobs returns n points in dim dimensions around k well-separated centres
// (spacing 100, spread 1) and the centres.
func blobs(rng *rand.Rand, n, dim, k int) (pts, centres []float32) {
	centres = make([]float32, k*dim)
	for i := range centres {
		centres[i] = float32(rng.IntN(1000)) * 100
	}
	pts = make([]float32, n*dim)
	for i := 0; i < n; i++ {
		c := i % k
		for j := 0; j < dim; j++ {
			pts[i*dim+j] = centres[c*dim+j] + float32(rng.NormFloat64())
		}
	}
	return pts, centres
}

func TestKMeansFindsSeparatedClusters(t *testing.T) {
	rng := newRand(t)
	const n, dim, k = 2000, 8, 10
	pts, centres := blobs(rng, n, dim, k)
	got, st, err := KMeansWithStats(pts, dim, k, KMeansOptions{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Converged {
		t.Errorf("did not converge in %d iterations", st.Iterations)
	}
	// Every true centre has a centroid within 0.5 (the mean of 200 points
	// with unit spread is within ~0.07 per coordinate).
	for c := 0; c < k; c++ {
		best := math.Inf(1)
		for g := 0; g < k; g++ {
			best = min(best, float64(kernels.L2Sq(centres[c*dim:(c+1)*dim], got[g*dim:(g+1)*dim])))
		}
		if best > 0.25 {
			t.Errorf("centre %d: nearest centroid at squared distance %v", c, best)
		}
	}
}

// TestKMeansFixedPoint checks the accelerated assignment against brute force:
// after convergence every point's nearest centroid is the one it is
// assigned to, and every centroid is the mean of its points.
func TestKMeansFixedPoint(t *testing.T) {
	rng := newRand(t)
	const n, dim, k = 3000, 6, 40
	pts := randVecs(rng, n, dim)
	for _, elkan := range []bool{true, false} {
		opts := KMeansOptions{Seed: 3, Iterations: 500}
		opts.EnsureDefaults()
		km := newKMeans(pts, dim, k, opts)
		if !elkan {
			km.lowerK, km.drift, km.centHalf, km.centOrder = nil, nil, nil, nil
		}
		st := km.run()
		if !st.Converged {
			t.Fatalf("elkan=%v: no convergence in %d iterations", elkan, st.Iterations)
		}
		sum := make([]float64, k*dim)
		cnt := make([]int, k)
		buf := make([]float32, k)
		for i := 0; i < n; i++ {
			x := pts[i*dim : (i+1)*dim]
			kernels.L2SqBatch(x, km.cent, buf)
			a := km.assign[i]
			if m := slices.Min(buf); buf[a] > m*(1+1e-5)+1e-6 {
				t.Fatalf("elkan=%v: point %d assigned at %v, nearest at %v", elkan, i, buf[a], m)
			}
			cnt[a]++
			for j, v := range x {
				sum[int(a)*dim+j] += float64(v)
			}
		}
		for c := 0; c < k; c++ {
			if cnt[c] == 0 {
				continue
			}
			for j := 0; j < dim; j++ {
				if mean := sum[c*dim+j] / float64(cnt[c]); math.Abs(mean-float64(km.cent[c*dim+j])) > 1e-5 {
					t.Fatalf("elkan=%v: centroid %d[%d] = %v, mean %v", elkan, c, j, km.cent[c*dim+j], mean)
				}
			}
		}
		t.Logf("elkan=%v: %d iterations, inertia %.4f", elkan, st.Iterations, st.Inertia)
	}
}

// TestKMeansElkanMatchesHamerly runs both accelerations from the same
// initialization: they must produce the same centroids.
func TestKMeansElkanMatchesHamerly(t *testing.T) {
	rng := newRand(t)
	const n, dim, k = 4000, 5, 64
	pts := randVecs(rng, n, dim)
	var res [2][]float32
	for e := range res {
		opts := KMeansOptions{Seed: 11, Iterations: 20}
		opts.EnsureDefaults()
		km := newKMeans(pts, dim, k, opts)
		if e == 1 {
			km.lowerK, km.drift, km.centHalf, km.centOrder = nil, nil, nil, nil
		}
		km.run()
		res[e] = km.cent
	}
	if !slices.Equal(res[0], res[1]) {
		t.Fatal("Elkan and Hamerly iterations differ")
	}
}

func TestKMeansDeterministic(t *testing.T) {
	rng := newRand(t)
	const n, dim, k = 5000, 12, 32
	pts := randVecs(rng, n, dim)
	var ref []float32
	for _, threads := range []int{1, 2, 3, 8} {
		for rep := 0; rep < 2; rep++ {
			c, err := KMeans(pts, dim, k, KMeansOptions{Seed: 99, Threads: threads, Iterations: 10})
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref = c
			} else if !slices.Equal(ref, c) {
				t.Fatalf("threads=%d rep=%d: centroids differ from threads=1", threads, rep)
			}
		}
	}
	// The sampled k-means++ seeding is deterministic too.
	var sampled []float32
	for _, threads := range []int{1, 3} {
		c, err := KMeans(pts, dim, k, KMeansOptions{Seed: 99, Threads: threads, Iterations: 10, InitSample: 700})
		if err != nil {
			t.Fatal(err)
		}
		if sampled == nil {
			sampled = c
		} else if !slices.Equal(sampled, c) {
			t.Fatalf("InitSample 700, threads=%d: centroids differ from threads=1", threads)
		}
	}
	if slices.Equal(sampled, ref) {
		t.Fatal("InitSample 700 gave the same centroids as seeding from every point")
	}
	other, err := KMeans(pts, dim, k, KMeansOptions{Seed: 100, Iterations: 10})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(ref, other) {
		t.Fatal("seeds 99 and 100 gave identical centroids")
	}
}

// TestKMeansDuplicates feeds fewer distinct points than clusters: k-means++
// runs out of positive weights and clusters empty out; nothing may loop,
// panic or produce a non-finite centroid.
func TestKMeansDuplicates(t *testing.T) {
	const dim, k = 3, 16
	pts := make([]float32, 0, 300*dim)
	for i := 0; i < 300; i++ {
		v := float32(i % 4)
		pts = append(pts, v, -v, 2*v)
	}
	for _, random := range []bool{false, true} {
		c, st, err := KMeansWithStats(pts, dim, k, KMeansOptions{Seed: 1, RandomInit: random})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range c {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("random=%v: non-finite centroid value", random)
			}
		}
		if st.Inertia > 1e-6 {
			t.Errorf("random=%v: inertia %v, want 0 (4 distinct points, 16 clusters)", random, st.Inertia)
		}
	}
}

func TestKMeansErrors(t *testing.T) {
	nan := make([]float32, 20)
	nan[7] = float32(math.Inf(1))
	tests := []struct {
		name string
		data []float32
		dim  int
		k    int
		want error
	}{
		{"ragged", make([]float32, 10), 3, 2, ErrInvalidArgument},
		{"empty", nil, 3, 2, ErrInvalidArgument},
		{"zero dim", make([]float32, 10), 0, 2, ErrInvalidArgument},
		{"zero k", make([]float32, 10), 2, 0, ErrInvalidArgument},
		{"k above n", make([]float32, 10), 2, 6, ErrTooFewVectors},
		{"not finite", nan, 2, 2, ErrNotFinite},
	}
	for _, tc := range tests {
		if _, err := KMeans(tc.data, tc.dim, tc.k, KMeansOptions{}); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := KMeans(make([]float32, 10), 2, 2, KMeansOptions{Iterations: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative iterations: %v", err)
	}
}
