package pq

import (
	"errors"
	"slices"
	"testing"
)

func TestTrainDeterministic(t *testing.T) {
	rng := newRand(t)
	const n, dim, m = 3000, 16, 4
	data := randVecs(rng, n, dim)
	opts := TrainOptions{Seed: 5, Iterations: 8, Centroids: 64, MaxSamples: 2000}
	var ref *Codebook
	for _, threads := range []int{1, 2, 5} {
		opts.Threads = threads
		cb, err := Train(data, dim, m, 8, opts)
		if err != nil {
			t.Fatal(err)
		}
		if cb.M != m || cb.Rows(0) != 64 || cb.SubDim() != dim/m {
			t.Fatalf("codebook M=%d rows=%d dsub=%d", cb.M, cb.Rows(0), cb.SubDim())
		}
		if ref == nil {
			ref = cb
			continue
		}
		for j := 0; j < m; j++ {
			if !slices.Equal(ref.Centroids[j], cb.Centroids[j]) {
				t.Fatalf("threads=%d: subquantizer %d differs", threads, j)
			}
		}
	}
	opts.Seed = 6
	cb, err := Train(data, dim, m, 8, opts)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(ref.Centroids[0], cb.Centroids[0]) {
		t.Fatal("seeds 5 and 6 gave the same codebook")
	}
}

// TestTrainReducesError checks that a trained codebook beats a random one
// (centroids drawn from the data) on reconstruction error.
func TestTrainReducesError(t *testing.T) {
	rng := newRand(t)
	const n, dim, m = 4000, 16, 4
	data := randVecs(rng, n, dim)
	trained, err := Train(data, dim, m, 8, TrainOptions{Seed: 1, Centroids: 32})
	if err != nil {
		t.Fatal(err)
	}
	subs := make([][]float32, m)
	for j := range subs {
		for r := 0; r < 32; r++ {
			i := rng.IntN(n)
			subs[j] = append(subs[j], data[i*dim+j*4:i*dim+j*4+4]...)
		}
	}
	random, err := NewCodebook(dim, 8, subs)
	if err != nil {
		t.Fatal(err)
	}
	mse := func(cb *Codebook) float64 {
		code := make([]byte, cb.CodeSize())
		dec := make([]float32, dim)
		var s float64
		for i := 0; i < n; i++ {
			x := data[i*dim : (i+1)*dim]
			_ = cb.Encode(x, code)
			_ = cb.Decode(code, dec)
			for j := range x {
				d := float64(x[j] - dec[j])
				s += d * d
			}
		}
		return s / n
	}
	mt, mr := mse(trained), mse(random)
	t.Logf("reconstruction MSE: trained %.4f, random centroids %.4f", mt, mr)
	if mt >= 0.9*mr {
		t.Fatalf("trained MSE %.4f not clearly below random %.4f", mt, mr)
	}
}

func TestTrainErrors(t *testing.T) {
	data := make([]float32, 100*8)
	tests := []struct {
		name         string
		dim, m, bits int
		opts         TrainOptions
		want         error
	}{
		{"bits", 8, 2, 12, TrainOptions{}, ErrInvalidArgument},
		{"m does not divide dim", 8, 3, 8, TrainOptions{}, ErrInvalidArgument},
		{"zero m", 8, 0, 8, TrainOptions{}, ErrInvalidArgument},
		{"too many centroids", 8, 2, 8, TrainOptions{Centroids: 300}, ErrTooManyCentroids},
		{"too few vectors", 8, 2, 8, TrainOptions{Centroids: 200}, ErrTooFewVectors},
		{"ragged", 7, 1, 8, TrainOptions{}, ErrInvalidArgument},
	}
	for _, tc := range tests {
		if _, err := Train(data, tc.dim, tc.m, tc.bits, tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
	// pq16 with the default centroid count caps at the number of vectors.
	cb, err := Train(randVecs(newRand(t), 100, 8), 8, 2, 16, TrainOptions{Seed: 1, Iterations: 2})
	if err != nil {
		t.Fatal(err)
	}
	if cb.Rows(0) != 100 || cb.Bits != 16 {
		t.Fatalf("pq16 default centroids: rows %d bits %d", cb.Rows(0), cb.Bits)
	}
}
