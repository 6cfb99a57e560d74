//go:build filterbench

// The end-to-end filtered-search measurement: an hnsw index over a real data
// set with a filter.Index of synthetic payloads, comparing the QPS and
// recall of filtered searches with unfiltered ones. It depends on package
// hnsw, which is built elsewhere, so it is behind the filterbench tag:
//
//	go test -tags filterbench -run SearchFiltered -v ./store/filter
//	go test -tags filterbench -run SearchFiltered -v ./store/filter -filter.dataset=fashion-mnist-784
//	go test -tags filterbench -run SearchFiltered -v ./store/filter -filter.dataset=synthetic -filter.n=60000 -filter.dim=784
package filter

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/hnsw"
)

var (
	benchSet     = flag.String("filter.dataset", dataset.SiftSmall, "data set: a shared set's name, or synthetic")
	benchN       = flag.Int("filter.n", 60000, "synthetic: base vectors")
	benchDim     = flag.Int("filter.dim", 784, "synthetic: dimension")
	benchQueries = flag.Int("filter.queries", 200, "queries per configuration")
	benchEf      = flag.Int("filter.ef", 64, "ef_search")
	benchPasses  = flag.Int("filter.passes", 3, "timed passes per configuration (the best counts)")
	benchPre     = flag.Int("filter.maxprefilter", 0, "Options.MaxPrefilter (-1: off)")
)

// synthetic returns n clustered random vectors and nq queries.
func synthetic(n, nq, dim int, seed uint64) *dataset.Set {
	r := rand.New(rand.NewPCG(seed, 9))
	const clusters = 64
	cent := make([]float32, clusters*dim)
	for i := range cent {
		cent[i] = float32(r.NormFloat64()) * 4
	}
	gen := func(m int) []float32 {
		v := make([]float32, m*dim)
		for i := range m {
			c := r.IntN(clusters)
			for j := range dim {
				v[i*dim+j] = cent[c*dim+j] + float32(r.NormFloat64())
			}
		}
		return v
	}
	return &dataset.Set{Name: "synthetic", Dim: dim, Base: gen(n), Queries: gen(nq), Metric: "l2"}
}

func TestSearchFiltered(t *testing.T) {
	var set *dataset.Set
	if *benchSet == "synthetic" {
		set = synthetic(*benchN, *benchQueries, *benchDim, 1)
	} else {
		set = dataset.LoadOrSkip(t, *benchSet).FirstQueries(*benchQueries)
	}
	n, nq, dim := set.N(), set.NQ(), set.Dim
	t.Logf("data set %s: %d × %d, %d queries, ef %d, GOMAXPROCS %d, max prefilter %d", set.Name, n, dim, nq, *benchEf, runtime.GOMAXPROCS(0), *benchPre)

	start := time.Now()
	hx, err := hnsw.New(hnsw.Options{Dim: dim, RepairInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer hx.Close()
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := hx.Add(uint64(i), set.BaseVec(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("hnsw build: %v", time.Since(start).Round(time.Millisecond))

	// Payloads: cat (10 values: 10% each), rare (100 values: 1% each),
	// price 0..999, drawn at random (seed 5) so they do not follow the
	// data set's order.
	px, err := NewIndex(Options{MaxPrefilter: *benchPre})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	start = time.Now()
	for i := range n {
		p := fmt.Sprintf(`{"cat": "c%d", "rare": %d, "price": %d, "tags": ["t%d"]}`, r.IntN(10), r.IntN(100), r.IntN(1000), r.IntN(50))
		if err := px.Set(uint64(i), []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("payload index: %d payloads in %v, %d bytes", n, time.Since(start).Round(time.Millisecond), px.MemoryBytes())

	const k = 10
	configs := []struct{ name, filter string }{
		{"unfiltered", ``},
		{"sel=10%/eq", `{"cat": "c3"}`},
		{"sel=10%/range", `{"price": {"$lt": 100}}`},
		{"sel=10%/2-clause", `{"cat": {"$in": ["c3", "c4"]}, "price": {"$lt": 500}}`},
		{"sel=1%/eq (listed)", `{"rare": 5}`},
		{"sel=1%/range", `{"price": {"$lt": 10}}`},
		{"sel=2%/tags", `{"tags": "t7"}`},
	}
	var baseQPS float64
	for _, c := range configs {
		var f *Filter
		if c.filter != "" {
			if f, err = Compile([]byte(c.filter)); err != nil {
				t.Fatal(err)
			}
		}
		// Exact filtered ground truth.
		var allow func(int) bool
		matches := n
		if f != nil {
			p := px.Bind(f)
			ok := make([]bool, n)
			matches = 0
			for i := range n {
				ok[i] = p.Allow(uint64(i))
				if ok[i] {
					matches++
				}
			}
			p.Release()
			allow = func(i int) bool { return ok[i] }
		}
		truth := dataset.GroundTruthFiltered(set.Base, set.Queries, dim, k, set.Metric, allow)
		got := make([][]uint64, nq)
		dst := make([]hnsw.Result, 0, k)
		best := time.Duration(1 << 62)
		listed := false
		for range *benchPasses {
			start := time.Now()
			for q := range nq {
				dst = dst[:0]
				if f == nil {
					dst = hx.Search(set.Query(q), k, *benchEf, dst)
				} else {
					p := px.Bind(f)
					_, listed = p.(interface{ AllowedIDs() []uint64 })
					dst = hx.SearchFilter(set.Query(q), k, *benchEf, p, dst)
					p.Release()
				}
				ids := make([]uint64, len(dst))
				for i, res := range dst {
					ids[i] = res.ID
				}
				got[q] = ids
			}
			best = min(best, time.Since(start))
		}
		qps := float64(nq) / best.Seconds()
		if f == nil {
			baseQPS = qps
		}
		recall := dataset.MeanRecall(got, truth, k)
		short := 0
		for q := range nq {
			if len(got[q]) < min(k, matches) {
				short++
			}
		}
		t.Logf("%-20s matches %6d (%5.2f%%) listed %-5v  QPS %8.0f  ratio %.2f  recall@%d %.4f  short answers %d",
			c.name, matches, 100*float64(matches)/float64(n), listed, qps, qps/baseQPS, k, recall, short)
		if short > 0 {
			t.Errorf("%s: %d queries got fewer than min(k, matches) results", c.name, short)
		}
	}
}
