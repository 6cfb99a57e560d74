package hnsw

import (
	"bytes"
	"context"
	"math"
	"math/rand"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/kernels"
)

// buildSet inserts every base vector of ds (id = row) with threads
// goroutines and returns the index and the build time.
func buildSet(t testing.TB, ds *dataset.Set, o Options, threads int) (*Index, time.Duration) {
	t.Helper()
	o.Dim = ds.Dim
	o.Capacity = ds.N()
	x := mustNew(t, o)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < threads; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= ds.N() {
					return
				}
				if err := x.Add(uint64(i), ds.BaseVec(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return x, time.Since(start)
}

// measure runs every query once (single goroutine) and returns recall@k
// and queries per second.
func measure(x *Index, ds *dataset.Set, k, ef, nq int) (recall, qps float64) {
	nq = min(nq, ds.NQ())
	res := make([]Result, 0, k)
	got := make([]uint64, k)
	// Warm up.
	for i := 0; i < min(50, nq); i++ {
		res = x.Search(ds.Query(i), k, ef, res[:0])
	}
	var sum float64
	start := time.Now()
	all := make([][]Result, nq)
	buf := make([]Result, 0, nq*k)
	for i := 0; i < nq; i++ {
		n := len(buf)
		buf = x.Search(ds.Query(i), k, ef, buf)
		all[i] = buf[n:len(buf):len(buf)]
	}
	el := time.Since(start)
	for i, r := range all {
		got = got[:0]
		for _, h := range r {
			got = append(got, h.ID)
		}
		sum += dataset.Recall(got, ds.GroundTruth[i], k)
	}
	return sum / float64(nq), float64(nq) / el.Seconds()
}

func TestSiftSmallRecall(t *testing.T) {
	if raceEnabled {
		t.Skip("skipping: data set builds are too slow under -race")
	}
	ds := dataset.LoadOrSkip(t, dataset.SiftSmall)
	x, build := buildSet(t, ds, Options{M: 16, EfConstruction: 200}, runtime.GOMAXPROCS(0))
	t.Logf("siftsmall: built %d in %v", x.Len(), build)
	for _, ef := range []int{16, 32, 64, 128} {
		r, qps := measure(x, ds, 10, ef, ds.NQ())
		t.Logf("ef=%d recall@10=%.4f qps=%.0f", ef, r, qps)
		if ef == 64 && r < 0.99 {
			t.Errorf("recall@10 at ef=64 = %.4f, want >= 0.99", r)
		}
	}
}

// fashionIndex builds fashion-mnist-784 once per test binary (M=16,
// efC=200, all cores) for the tests that only read it.
var fashion struct {
	once  sync.Once
	x     *Index
	build time.Duration
}

func fashionIndex(t *testing.T, ds *dataset.Set) (*Index, time.Duration) {
	fashion.once.Do(func() {
		o := Options{M: 16, EfConstruction: 200, Dim: ds.Dim, Capacity: ds.N()}
		x, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < ds.N(); i = int(next.Add(1)) - 1 {
					if err := x.Add(uint64(i), ds.BaseVec(i)); err != nil {
						panic(err)
					}
				}
			}()
		}
		wg.Wait()
		fashion.x, fashion.build = x, time.Since(start)
	})
	if fashion.x == nil {
		t.Fatal("fashion-mnist build failed earlier")
	}
	return fashion.x, fashion.build
}

// TestFashionMNIST checks, on one build of fashion-mnist-784 (M=16,
// efC=200): recall@10, filtered recall at 1% and 10% selectivity, snapshot
// load time against build time, and churn (30% deleted and reinserted under
// new ids, then repaired) against the fresh build.
func TestFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: fashion-mnist build takes tens of seconds (-short)")
	}
	if raceEnabled {
		t.Skip("skipping: data set builds are too slow under -race")
	}
	ds := dataset.LoadOrSkip(t, dataset.FashionMNIST)
	x, build := fashionIndex(t, ds)
	t.Logf("fashion-mnist-784: built %d in %v (%d threads, kernels %s)", x.Len(), build, runtime.GOMAXPROCS(0), kernels.Impl())
	const nq, k, churnEF = 2000, 10, 32
	fresh := map[int]float64{}
	t.Run("recall", func(t *testing.T) {
		best := 0.0
		for _, ef := range []int{churnEF, 64, 128} {
			r, qps := measure(x, ds, k, ef, nq)
			fresh[ef] = r
			t.Logf("ef=%d recall@10=%.4f qps=%.0f", ef, r, qps)
			if ef == 64 && r < 0.95 {
				t.Errorf("recall@10 at ef=64 = %.4f, want >= 0.95", r)
			}
			best = max(best, r)
		}
		if best < 0.99 {
			t.Errorf("best recall@10 = %.4f, want >= 0.99 at some ef", best)
		}
	})
	t.Run("filtered", func(t *testing.T) {
		const fq = 200
		queries := ds.Queries[:fq*ds.Dim]
		for _, tc := range []struct {
			name     string
			mod      uint64
			exactMax int
		}{{"1pct", 100, 2048}, {"10pct", 10, 2048}, {"1pct/graph", 100, -1}, {"10pct/graph", 10, -1}} {
			allow := func(id uint64) bool { return id%tc.mod == 7 }
			truth := dataset.GroundTruthFiltered(ds.Base, queries, ds.Dim, k, "l2", func(i int) bool { return allow(uint64(i)) })
			x.exactFilterMax = tc.exactMax
			var sum float64
			got := make([]uint64, 0, k)
			res := make([]Result, 0, k)
			start := time.Now()
			for i := 0; i < fq; i++ {
				res = x.SearchFilter(ds.Query(i), k, 64, FilterFunc(allow), res[:0])
				if len(res) != k {
					t.Fatalf("%s: query %d: %d results", tc.name, i, len(res))
				}
				got = got[:0]
				for _, r := range res {
					if !allow(r.ID) {
						t.Fatalf("%s: id %d not allowed", tc.name, r.ID)
					}
					got = append(got, r.ID)
				}
				sum += dataset.Recall(got, truth[i], k)
			}
			qps := float64(fq) / time.Since(start).Seconds()
			x.exactFilterMax = 2048
			r := sum / fq
			t.Logf("%s: filtered recall@10=%.4f qps=%.0f", tc.name, r, qps)
			if r < 0.95 {
				t.Errorf("%s: filtered recall@10 = %.4f, want >= 0.95", tc.name, r)
			}
		}
	})
	t.Run("snapshot", func(t *testing.T) {
		var buf bytes.Buffer
		start := time.Now()
		if _, err := x.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		write := time.Since(start)
		// The best of three loads: one run on a loaded machine can stall.
		var y *Index
		load := time.Duration(math.MaxInt64)
		for i := 0; i < 3; i++ {
			if y != nil {
				y.Close()
			}
			runtime.GC()
			start = time.Now()
			var err error
			y, err = Read(bytes.NewReader(buf.Bytes()), nil)
			if err != nil {
				t.Fatal(err)
			}
			load = min(load, time.Since(start))
		}
		defer y.Close()
		t.Logf("snapshot %d MiB: write %v, load %v (%.1f%% of the build)", buf.Len()>>20, write, load, 100*load.Seconds()/build.Seconds())
		if load > build/20 {
			t.Errorf("load took %v, more than 5%% of the %v build", load, build)
		}
		if r, _ := measure(y, ds, k, 64, 500); r < 0.95 {
			t.Errorf("loaded index recall %.4f", r)
		}
	})
	t.Run("churn", func(t *testing.T) {
		if os.Getenv("LSMVEC_BENCH") != "1" {
			t.Skip("skipping: set LSMVEC_BENCH=1 for the churn run (a 30% delete, repair and reinsert)")
		}
		runtime.GC()
		mem0 := x.Stats().MemoryBytes
		rss0 := rssMiB()
		seed := time.Now().UnixNano()
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewSource(seed))
		const newBase = 1 << 32
		perm := rng.Perm(ds.N())[:ds.N()*3/10]
		start := time.Now()
		for _, i := range perm {
			if !x.Delete(uint64(i)) {
				t.Fatalf("Delete(%d) failed", i)
			}
		}
		// Repair first, so the reinserts reuse the reclaimed slots (the
		// background repairer does the same once tombstones pass
		// RepairRatio; arenas never shrink, slots are recycled).
		if err := x.Repair(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Logf("deleted and repaired %d in %v", len(perm), time.Since(start))
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := int(next.Add(1)) - 1; j < len(perm); j = int(next.Add(1)) - 1 {
					if err := x.Add(newBase+uint64(perm[j]), ds.BaseVec(perm[j])); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := x.Repair(context.Background()); err != nil {
			t.Fatal(err)
		}
		churn := time.Since(start)
		runtime.GC()
		st := x.Stats()
		t.Logf("churned %d in %v: %+v", len(perm), churn, st)
		if st.Tombstones != 0 || st.Live != ds.N() {
			t.Fatalf("after churn: %+v", st)
		}
		if d := float64(st.MemoryBytes-mem0) / float64(mem0); d > 0.10 {
			t.Errorf("index memory grew %.1f%% (%d -> %d bytes)", 100*d, mem0, st.MemoryBytes)
		}
		t.Logf("index memory %d -> %d bytes, RSS %.0f -> %.0f MiB", mem0, st.MemoryBytes, rss0, rssMiB())
		// Recall with the new ids mapped back to rows.
		res := make([]Result, 0, k)
		got := make([]uint64, 0, k)
		var sum float64
		for i := 0; i < nq; i++ {
			res = x.Search(ds.Query(i), k, churnEF, res[:0])
			got = got[:0]
			for _, r := range res {
				got = append(got, r.ID%newBase)
			}
			sum += dataset.Recall(got, ds.GroundTruth[i], k)
		}
		r := sum / nq
		t.Logf("recall@10 at ef=%d: fresh %.4f, after churn %.4f", churnEF, fresh[churnEF], r)
		if f, ok := fresh[churnEF]; ok && r < f-0.01 {
			t.Errorf("recall after churn %.4f, fresh %.4f: lost more than 0.01", r, f)
		}
	})
}
