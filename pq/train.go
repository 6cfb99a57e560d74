package pq

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// TrainOptions configures Train. The zero value is ready to use.
type TrainOptions struct {
	// Centroids is the number of centroids per subquantizer, at most 2^bits.
	// Default: 2^bits, capped at the number of training vectors.
	Centroids int
	// MaxSamples caps the number of vectors k-means sees; a larger input is
	// sampled uniformly (seeded). Default 256·Centroids (at least 65 536);
	// negative means no cap.
	MaxSamples int
	// Iterations caps the Lloyd iterations per subquantizer. Default 25.
	Iterations int
	// Seed seeds sampling and k-means; subquantizer j uses Seed+j. Equal
	// seeds and inputs give identical codebooks.
	Seed uint64
	// Threads is the number of goroutines. Default (0) runtime.GOMAXPROCS(0).
	// The result does not depend on it.
	Threads int
	// RandomInit replaces k-means++ initialization with uniform sampling
	// (see KMeansOptions.RandomInit).
	RandomInit bool
}

// Train learns a product-quantization codebook of m subquantizers with
// bits-wide codes (8 or 16) from the n = len(vectors)/dim vectors (row-major)
// by running KMeans in each subspace. Subspaces train concurrently when there
// are at least as many as threads; otherwise each k-means uses all threads.
// vectors is read, never retained. Train is safe for concurrent use.
func Train(vectors []float32, dim, m, bits int, opts TrainOptions) (*Codebook, error) {
	if bits != 8 && bits != 16 {
		return nil, fmt.Errorf("cannot train codebook: bits = %d, want 8 or 16: %w", bits, ErrInvalidArgument)
	}
	if dim <= 0 || m <= 0 || dim%m != 0 {
		return nil, fmt.Errorf("cannot train codebook: dim %d is not a positive multiple of m = %d: %w", dim, m, ErrInvalidArgument)
	}
	if len(vectors) == 0 || len(vectors)%dim != 0 {
		return nil, fmt.Errorf("cannot train codebook: %d values do not make vectors of dim %d: %w", len(vectors), dim, ErrInvalidArgument)
	}
	n := len(vectors) / dim
	k := opts.Centroids
	if k == 0 {
		k = min(1<<bits, n)
	}
	if k < 0 || k > 1<<bits {
		return nil, fmt.Errorf("cannot train codebook: %d centroids with %d-bit codes: %w", k, bits, ErrTooManyCentroids)
	}
	if n < k {
		return nil, fmt.Errorf("cannot train codebook: %d vectors for %d centroids: %w", n, k, ErrTooFewVectors)
	}
	maxS := opts.MaxSamples
	if maxS == 0 {
		maxS = max(256*k, 65536)
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}

	// Pick the sample rows: all, or a seeded uniform subset in index order.
	rows := make([]int32, n)
	for i := range rows {
		rows[i] = int32(i)
	}
	if maxS > 0 && n > maxS {
		rng := rand.New(rand.NewPCG(opts.Seed, 0x5851f42d4c957f2d))
		for i := 0; i < maxS; i++ {
			j := i + rng.IntN(n-i)
			rows[i], rows[j] = rows[j], rows[i]
		}
		rows = rows[:maxS]
		slices.Sort(rows)
	}

	dsub := dim / m
	subs := make([][]float32, m)
	errs := make([]error, m)
	perKM := 1
	if m < threads {
		perKM = threads
	}
	train := func(j int) {
		sub := make([]float32, len(rows)*dsub)
		for r, i := range rows {
			copy(sub[r*dsub:(r+1)*dsub], vectors[int(i)*dim+j*dsub:int(i)*dim+(j+1)*dsub])
		}
		subs[j], errs[j] = KMeans(sub, dsub, k, KMeansOptions{
			Iterations: opts.Iterations,
			Seed:       opts.Seed + uint64(j),
			Threads:    perKM,
			RandomInit: opts.RandomInit,
		})
	}
	if perKM > 1 {
		for j := 0; j < m; j++ {
			train(j)
		}
	} else {
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < threads; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range next {
					train(j)
				}
			}()
		}
		for j := 0; j < m; j++ {
			next <- j
		}
		close(next)
		wg.Wait()
	}
	for j, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("cannot train codebook: subquantizer %d: %w", j, err)
		}
	}
	return NewCodebook(dim, bits, subs)
}
