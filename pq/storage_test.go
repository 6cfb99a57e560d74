package pq

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/lsmvec/lsmvec/hnsw"
	"github.com/lsmvec/lsmvec/kernels"
)

// sliceSource is an ExactSource over an in-memory matrix indexed by slot
// (the test inserts ids 0..n-1 sequentially, so slot == id).
type sliceSource struct {
	data []float32
	dim  int
}

func (s sliceSource) AppendVector(slot uint32, dst []float32) ([]float32, bool) {
	if int(slot+1)*s.dim > len(s.data) {
		return dst, false
	}
	return append(dst, s.data[int(slot)*s.dim:(int(slot)+1)*s.dim]...), true
}

// viewSource is sliceSource with ExactViewer: no copy per fetch.
type viewSource struct{ sliceSource }

func (s viewSource) ViewVector(slot uint32) ([]float32, bool) {
	if int(slot+1)*s.dim > len(s.data) {
		return nil, false
	}
	return s.data[int(slot)*s.dim : (int(slot)+1)*s.dim], true
}

type storageCase struct {
	name   string
	rerank bool
	make   func(t *testing.T, data []float32, dim int) hnsw.Storage
}

func storageCases() []storageCase {
	i8 := func(opts StorageOptions) func(t *testing.T, data []float32, dim int) hnsw.Storage {
		return func(t *testing.T, data []float32, dim int) hnsw.Storage {
			sq, err := TrainScalar(data, dim, ScalarOptions{})
			if err != nil {
				t.Fatal(err)
			}
			switch opts.Exact.(type) {
			case sliceSource:
				opts.Exact = sliceSource{data, dim}
			case viewSource:
				opts.Exact = viewSource{sliceSource{data, dim}}
			}
			return NewInt8Storage(sq, opts)
		}
	}
	pqs := func(bits int, opts StorageOptions) func(t *testing.T, data []float32, dim int) hnsw.Storage {
		return func(t *testing.T, data []float32, dim int) hnsw.Storage {
			cb, err := Train(data, dim, 8, bits, TrainOptions{Seed: 1, Centroids: 64, Iterations: 10})
			if err != nil {
				t.Fatal(err)
			}
			switch opts.Exact.(type) {
			case sliceSource:
				opts.Exact = sliceSource{data, dim}
			case viewSource:
				opts.Exact = viewSource{sliceSource{data, dim}}
			}
			return NewPQStorage(cb, opts)
		}
	}
	src := sliceSource{} // placeholder: replaced by the data's source
	return []storageCase{
		{"i8", true, i8(StorageOptions{})},
		{"i8/codes-only", false, i8(StorageOptions{CodesOnly: true})},
		{"i8/exact-source", true, i8(StorageOptions{CodesOnly: true, Exact: src})},
		{"pq8", true, pqs(8, StorageOptions{})},
		{"pq16", true, pqs(16, StorageOptions{})},
		{"pq8/codes-only", false, pqs(8, StorageOptions{CodesOnly: true})},
		{"pq8/exact-source", true, pqs(8, StorageOptions{CodesOnly: true, Exact: src})},
		{"i8/exact-view", true, i8(StorageOptions{CodesOnly: true, Exact: viewSource{}})},
		{"pq16/exact-view", true, pqs(16, StorageOptions{CodesOnly: true, Exact: viewSource{}})},
	}
}

func bruteKNN(data, q []float32, dim, k int, metric hnsw.Metric) []uint64 {
	n := len(data) / dim
	type pair struct {
		d  float32
		id int
	}
	all := make([]pair, n)
	for i := 0; i < n; i++ {
		x := data[i*dim : (i+1)*dim]
		d := kernels.L2Sq(q, x)
		if metric != hnsw.L2 {
			d = 1 - kernels.Dot(q, x)
		}
		all[i] = pair{d, i}
	}
	slices.SortFunc(all, func(a, b pair) int {
		if a.d != b.d {
			if a.d < b.d {
				return -1
			}
			return 1
		}
		return a.id - b.id
	})
	ids := make([]uint64, k)
	for i := range ids {
		ids[i] = uint64(all[i].id)
	}
	return ids
}

// TestStorageSearch builds a small index over each storage and checks
// recall against brute force, and that reranked distances are exact.
func TestStorageSearch(t *testing.T) {
	rng := newRand(t)
	n, nq := 3000, 40
	const dim, k = 32, 10
	if raceEnabled {
		n, nq = 600, 10
	}
	// Clustered data, so that quantization keeps neighbours meaningful.
	centres := randVecs(rng, 30, dim)
	data := make([]float32, n*dim)
	for i := range data {
		data[i] = 3*centres[(i/dim)%30*dim+i%dim] + float32(rng.NormFloat64())
	}
	queries := make([]float32, nq*dim)
	metrics := []hnsw.Metric{hnsw.L2, hnsw.InnerProduct}
	if testing.Short() {
		metrics = metrics[:1]
	}
	for i := 0; i < nq; i++ {
		copy(queries[i*dim:], data[rng.IntN(n)*dim:][:dim])
		for j := 0; j < dim; j++ {
			queries[i*dim+j] += 0.3 * float32(rng.NormFloat64())
		}
	}
	for _, metric := range metrics {
		for _, tc := range storageCases() {
			t.Run(metric.String()+"/"+tc.name, func(t *testing.T) {
				st := tc.make(t, data, dim)
				x, err := hnsw.New(hnsw.Options{Dim: dim, Metric: metric, Storage: st, RepairInterval: -1, EfConstruction: 64})
				if err != nil {
					t.Fatal(err)
				}
				defer x.Close()
				for i := 0; i < n; i++ {
					if err := x.Add(uint64(i), data[i*dim:(i+1)*dim]); err != nil {
						t.Fatal(err)
					}
				}
				var recall float64
				var res []hnsw.Result
				for qi := 0; qi < nq; qi++ {
					q := queries[qi*dim : (qi+1)*dim]
					res = x.Search(q, k, 100, res[:0])
					truth := bruteKNN(data, q, dim, k, metric)
					for _, r := range res {
						if slices.Contains(truth, r.ID) {
							recall++
						}
						if tc.rerank {
							v := data[int(r.ID)*dim : (int(r.ID)+1)*dim]
							want := kernels.L2Sq(q, v)
							if metric != hnsw.L2 {
								want = 1 - kernels.Dot(q, v)
							}
							if math.Abs(float64(r.Distance-want)) > 1e-3*(1+math.Abs(float64(want))) {
								t.Fatalf("query %d id %d: distance %v, exact %v", qi, r.ID, r.Distance, want)
							}
						}
					}
				}
				recall /= float64(nq * k)
				t.Logf("recall@%d = %.3f, storage %d bytes", k, recall, st.MemoryBytes())
				// Without rerank PQ (8 subspaces of 64 centroids here) is
				// coarse; everything else must be close to exact.
				want := 0.9
				if tc.name == "pq8/codes-only" {
					want = 0.25
				}
				if recall < want {
					t.Fatalf("recall %.3f below %.2f", recall, want)
				}
			})
		}
	}
}

func TestStorageInitErrors(t *testing.T) {
	rng := newRand(t)
	data := randVecs(rng, 300, 8)
	cb, err := Train(data, 8, 2, 8, TrainOptions{Seed: 1, Centroids: 16})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hnsw.New(hnsw.Options{Dim: 8, Metric: hnsw.Cosine, Storage: NewPQStorage(cb, StorageOptions{}), RepairInterval: -1}); !errors.Is(err, ErrCosine) {
		t.Errorf("PQ with cosine: %v", err)
	}
	if _, err := hnsw.New(hnsw.Options{Dim: 16, Storage: NewPQStorage(cb, StorageOptions{}), RepairInterval: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("PQ with another dim: %v", err)
	}
	sq, _ := TrainScalar(data, 8, ScalarOptions{})
	if _, err := hnsw.New(hnsw.Options{Dim: 4, Storage: NewInt8Storage(sq, StorageOptions{}), RepairInterval: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("int8 with another dim: %v", err)
	}
	x, err := hnsw.New(hnsw.Options{Dim: 8, Metric: hnsw.Cosine, Storage: NewInt8Storage(sq, StorageOptions{}), RepairInterval: -1})
	if err != nil {
		t.Fatalf("int8 with cosine: %v", err)
	}
	x.Close()
}

// TestStorageSnapshot round-trips an index through WriteTo and Read with
// each storage: the reloaded index answers identically.
func TestStorageSnapshot(t *testing.T) {
	rng := newRand(t)
	n, dim := 1500, 16
	if raceEnabled {
		n = 400
	}
	data := randVecs(rng, n, dim)
	for _, tc := range storageCases() {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.make(t, data, dim)
			x, err := hnsw.New(hnsw.Options{Dim: dim, Storage: st, RepairInterval: -1, EfConstruction: 48})
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			for i := 0; i < n; i++ {
				_ = x.Add(uint64(i), data[i*dim:(i+1)*dim])
			}
			var buf bytes.Buffer
			if _, err := x.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			st2 := tc.make(t, data, dim) // same training, same quantizer
			y, err := hnsw.Read(bytes.NewReader(buf.Bytes()), st2)
			if err != nil {
				t.Fatal(err)
			}
			defer y.Close()
			for qi := 0; qi < 20; qi++ {
				q := randVecs(rng, 1, dim)
				a := x.Search(q, 5, 50, nil)
				b := y.Search(q, 5, 50, nil)
				if !slices.Equal(a, b) {
					t.Fatalf("query %d: %v before, %v after reload", qi, a, b)
				}
			}
		})
	}
}

// TestStorageConcurrent runs inserts and searches at once (meaningful under
// -race).
func TestStorageConcurrent(t *testing.T) {
	rng := newRand(t)
	const dim = 16
	n := 1200
	if raceEnabled {
		n = 500 // the race detector makes each insert ~10x slower
	}
	data := randVecs(rng, n, dim)
	for _, tc := range storageCases() {
		t.Run(tc.name, func(t *testing.T) {
			x, err := hnsw.New(hnsw.Options{Dim: dim, Storage: tc.make(t, data, dim), RepairInterval: -1, EfConstruction: 32})
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			for i := 0; i < 100; i++ {
				_ = x.Add(uint64(i), data[i*dim:(i+1)*dim])
			}
			var wg sync.WaitGroup
			for w := 0; w < 3; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 100 + w; i < n; i += 3 {
						_ = x.Add(uint64(i), data[i*dim:(i+1)*dim])
					}
				}(w)
			}
			for r := 0; r < 2; r++ {
				wg.Add(1)
				go func(r int) {
					defer wg.Done()
					var res []hnsw.Result
					for i := 0; i < 300; i++ {
						res = x.Search(data[(i*7+r)%n*dim:][:dim], 5, 32, res[:0])
						_, _ = x.Vector(uint64(i), nil)
					}
				}(r)
			}
			wg.Wait()
			if x.Len() != n {
				t.Fatalf("len %d, want %d", x.Len(), n)
			}
		})
	}
}

func TestQuerierAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items on purpose)")
	}
	rng := newRand(t)
	const n, dim = 500, 32
	data := randVecs(rng, n, dim)
	slots := []uint32{5, 17, 400, 3, 99}
	out := make([]float32, len(slots))
	for _, tc := range storageCases() {
		st := tc.make(t, data, dim)
		if err := st.Init(dim, hnsw.L2); err != nil {
			t.Fatal(err)
		}
		st.Grow(n)
		for i := 0; i < n; i++ {
			st.Set(uint32(i), data[i*dim:(i+1)*dim])
		}
		q := st.NewQuerier()
		rr, _ := q.(hnsw.Reranker)
		if a := testing.AllocsPerRun(50, func() {
			q.SetQuery(data[:dim])
			q.Distances(slots, out)
			if rr != nil {
				rr.ExactDistances(slots, out)
			}
			q.SetSlot(7)
			_ = st.Distance(1, 2)
		}); a != 0 {
			t.Errorf("%s: querier allocates %v times per query", tc.name, a)
		}
	}
}

// TestExactSourceMissing: a vector the ExactSource cannot supply keeps its
// approximate distance; the others get exact ones.
func TestExactSourceMissing(t *testing.T) {
	rng := newRand(t)
	const n, dim = 300, 16
	data := randVecs(rng, n, dim)
	sq, err := TrainScalar(data, dim, ScalarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := Train(data, dim, 4, 8, TrainOptions{Seed: 1, Centroids: 32, Iterations: 5})
	if err != nil {
		t.Fatal(err)
	}
	// The sources hold only the first half of the slots.
	half := sliceSource{data[:n/2*dim], dim}
	for _, st := range []hnsw.Storage{
		NewInt8Storage(sq, StorageOptions{CodesOnly: true, Exact: half}),
		NewPQStorage(cb, StorageOptions{CodesOnly: true, Exact: viewSource{half}}),
	} {
		if err := st.Init(dim, hnsw.L2); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			st.Set(uint32(i), data[i*dim:(i+1)*dim])
		}
		q := st.NewQuerier()
		query := data[7*dim : 8*dim]
		q.SetQuery(query)
		slots := []uint32{3, 200, 149, 150, 299}
		approx := make([]float32, len(slots))
		q.Distances(slots, approx)
		exact := make([]float32, len(slots))
		q.(hnsw.Reranker).ExactDistances(slots, exact)
		for i, s := range slots {
			want := approx[i]
			if int(s) < n/2 {
				want = kernels.L2Sq(query, data[int(s)*dim:(int(s)+1)*dim])
			}
			if exact[i] != want {
				t.Errorf("%T slot %d: distance %v, want %v (approximate %v)", st, s, exact[i], want, approx[i])
			}
		}
	}
}
