package hnsw

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/kernels"
)

// benchEnabled gates the long comparison runs: LSMVEC_BENCH=1.
func benchEnabled(t *testing.T) {
	if os.Getenv("LSMVEC_BENCH") != "1" {
		t.Skip("skipping: set LSMVEC_BENCH=1 to run the fashion-mnist QPS comparison")
	}
}

// interpolate returns the QPS at recall target by linear interpolation
// between the measured points (sorted by ef, so by rising recall), or 0
// when the target is out of range.
func interpolate(recalls, qps []float64, target float64) float64 {
	for i := 1; i < len(recalls); i++ {
		r0, r1 := recalls[i-1], recalls[i]
		if r0 <= target && target <= r1 && r1 > r0 {
			f := (target - r0) / (r1 - r0)
			return qps[i-1] + f*(qps[i]-qps[i-1])
		}
	}
	if len(recalls) > 0 && recalls[0] >= target {
		return qps[0]
	}
	return 0
}

func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// TestFashionMNISTQPS prints our recall/QPS per ef on fashion-mnist-784
// (M=16, efC=200, k=10, one query goroutine) in the format of
// ../shared/tools/hnswlib-ref, the QPS interpolated at recall 0.95 and
// 0.99, the 2-thread build time, the 2-goroutine search scaling and the RSS.
// Run it next to hnswlib-ref in one shell command (see docs/benchmarks.md).
func TestFashionMNISTQPS(t *testing.T) {
	benchEnabled(t)
	ds := dataset.LoadOrSkip(t, dataset.FashionMNIST)
	name := dataset.FashionMNIST
	if s := os.Getenv("LSMVEC_BENCH_SET"); s != "" {
		ds = dataset.LoadOrSkip(t, s)
		name = s
	}
	rss0 := rssMiB()
	x, build := buildSet(t, ds, Options{M: 16, EfConstruction: 200}, 2)
	runtime.GC()
	st := x.Stats()
	fmt.Printf("# lsmvec %s n=%d d=%d nq=%d M=16 efC=200 build(2 threads) %.2fs kernels=%s rss=%.0fMiB (data %.0fMiB) index=%.0fMiB\n",
		name, ds.N(), ds.Dim, ds.NQ(), build.Seconds(), kernels.Impl(), rssMiB(), rss0, float64(st.MemoryBytes)/(1<<20))
	var recalls, qpss []float64
	for _, ef := range []int{10, 16, 24, 32, 48, 64, 96, 128, 192, 256} {
		r, q := measure(x, ds, 10, ef, ds.NQ())
		recalls, qpss = append(recalls, r), append(qpss, q)
		fmt.Printf("lsmvec ef=%d recall@10=%.4f qps=%.0f\n", ef, r, q)
	}
	our95, our99 := interpolate(recalls, qpss, 0.95), interpolate(recalls, qpss, 0.99)
	fmt.Printf("lsmvec qps@recall0.95=%.0f qps@recall0.99=%.0f\n", our95, our99)
	if path := os.Getenv("LSMVEC_HNSWLIB_OUT"); path != "" {
		// The output of ../shared/tools/hnswlib-ref from the same shell
		// command: compare at equal recall.
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var hr, hq []float64
		var hbuild float64
		for _, line := range strings.Split(string(b), "\n") {
			var ef int
			var r, q float64
			if n, _ := fmt.Sscanf(line, "hnswlib ef=%d recall@10=%f qps=%f", &ef, &r, &q); n == 3 {
				hr, hq = append(hr, r), append(hq, q)
			}
			if i := strings.Index(line, "threads) "); strings.HasPrefix(line, "# hnswlib") && i >= 0 {
				fmt.Sscanf(line[i+len("threads) "):], "%fs", &hbuild)
			}
		}
		h95, h99 := interpolate(hr, hq, 0.95), interpolate(hr, hq, 0.99)
		fmt.Printf("hnswlib qps@recall0.95=%.0f qps@recall0.99=%.0f build %.2fs\n", h95, h99, hbuild)
		fmt.Printf("ratio lsmvec/hnswlib: qps@0.95 x%.2f, qps@0.99 x%.2f, build time x%.2f\n", our95/h95, our99/h99, build.Seconds()/hbuild)
	}

	// Search scaling: the same queries on 1 and 2 goroutines.
	for _, ef := range []int{16, 32} {
		q1 := parallelQPS(x, ds, ef, 1)
		q2 := parallelQPS(x, ds, ef, 2)
		fmt.Printf("lsmvec ef=%d search scaling: 1 goroutine %.0f qps, 2 goroutines %.0f qps, x%.2f\n", ef, q1, q2, q2/q1)
	}
}

func parallelQPS(x *Index, ds *dataset.Set, ef, threads int) float64 {
	nq := ds.NQ()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < threads; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := make([]Result, 0, 10)
			for i := int(next.Add(1)) - 1; i < nq; i = int(next.Add(1)) - 1 {
				res = x.Search(ds.Query(i), 10, ef, res[:0])
			}
		}()
	}
	wg.Wait()
	return float64(nq) / time.Since(start).Seconds()
}
