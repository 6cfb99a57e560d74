//go:build unix

package server

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/bench/httpload"
	"github.com/lsmvec/lsmvec/store"
)

// TestServerThroughput measures Casper search over HTTP on
// fashion-mnist-784 at recall@10 >= 0.95: QPS and p50/p99 latency of a
// concurrent Go client over loopback (output=bin and output=json), against
// in-process Collection.Search with 2 goroutines, on the same index in the
// same run. It needs LSMVEC_SERVER_BENCH=1 (it builds a 60 000-vector index)
// and the shared data sets; docs/benchmarks.md ("## Server") quotes it.
//
//	LSMVEC_SERVER_BENCH=1 go test -run TestServerThroughput -v -timeout 30m ./server/
//
// It measures three Go clients, each from 16 concurrent goroutines by
// default: fasthttp.HostClient and bench/httpload (pre-encoded requests,
// responses read by their length) with one request in flight per
// connection, and fasthttp.PipelineClient, 8 requests in flight on each of
// 2 connections. The 60% target of issue 6 is checked on the pipelined
// client's output=bin; docs/benchmarks.md explains why the one-in-flight
// clients stop near 0.5 on this machine.
//
// LSMVEC_SERVER_BENCH_SECONDS (default 5) sets each phase's duration,
// LSMVEC_SERVER_BENCH_ROUNDS (default 3) how often the phases alternate,
// and LSMVEC_SERVER_BENCH_CLIENTS (default "8,16") the connections of the
// one-in-flight clients. LSMVEC_SERVER_BENCH_DATA keeps the store (and its
// index) in a directory for later runs; LSMVEC_SERVER_BENCH_CPUPROFILE
// writes a CPU profile of the phase LSMVEC_SERVER_BENCH_PROFILE_PHASE
// (default "bin lean c=16") in the first round.
func TestServerThroughput(t *testing.T) {
	if os.Getenv("LSMVEC_SERVER_BENCH") == "" {
		t.Skip("set LSMVEC_SERVER_BENCH=1 to run the HTTP throughput benchmark")
	}
	secs := envInt("LSMVEC_SERVER_BENCH_SECONDS", 5)
	var clients []int
	for _, f := range strings.Split(cmp.Or(os.Getenv("LSMVEC_SERVER_BENCH_CLIENTS"), "8,16"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("LSMVEC_SERVER_BENCH_CLIENTS: bad concurrency %q", f)
		}
		clients = append(clients, n)
	}
	rounds := envInt("LSMVEC_SERVER_BENCH_ROUNDS", 3)
	set := dataset.LoadOrSkip(t, dataset.FashionMNIST)
	const k = 10
	t.Logf("%s: %d × %d, %d queries; GOMAXPROCS %d", set.Name, set.N(), set.Dim, set.NQ(), runtime.GOMAXPROCS(0))

	var db *store.DB
	if dir := os.Getenv("LSMVEC_SERVER_BENCH_DATA"); dir != "" {
		// A kept data directory: the index is built once and reopened
		// from its checkpoint by later runs.
		var err error
		if db, err = store.Open(store.Options{Dir: dir, Logger: quietStoreLogger{t}}); err != nil {
			t.Fatal(err)
		}
	}
	ts := startServerOn(t, db, Options{LogLevel: "warn"})
	c, err := ts.db.Collection("fmnist")
	if err == nil {
		if info, ierr := c.Info(); ierr != nil || info.Index == nil || info.Size != int64(set.N()) {
			t.Fatalf("LSMVEC_SERVER_BENCH_DATA holds an incomplete fmnist collection (%+v, %v): remove it", info, ierr)
		}
		t.Logf("reopened the kept index")
	} else if c, err = ts.db.CreateCollection(store.CollectionConfig{Name: "fmnist", Dim: set.Dim, MaxSize: int64(set.N()), Family: store.FamilyCasper}); err != nil {
		t.Fatal(err)
	} else if err = buildFashion(t, set, c); err != nil {
		t.Fatal(err)
	}

	// The smallest ef_search with recall@10 >= 0.95 over every query.
	nq := set.NQ()
	ef, recall := 0, 0.0
	for _, e := range []int{10, 16, 24, 32, 48, 64, 96, 128, 192, 256} {
		got := make([][]uint64, nq)
		var res []store.Result
		for i := range nq {
			res, err = c.Search(set.Query(i), k, e, nil, res[:0])
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				got[i] = append(got[i], r.ID)
			}
		}
		recall = dataset.MeanRecall(got, set.GroundTruth, k)
		t.Logf("ef_search %d: recall@10 %.4f", e, recall)
		if recall >= 0.95 {
			ef = e
			break
		}
	}
	if ef == 0 {
		t.Fatalf("no ef_search reached recall@10 0.95 (last %.4f)", recall)
	}

	// The phases alternate for several rounds so that load from other
	// processes on the machine hits every phase alike; each phase's figure
	// is its median over the rounds, and the ratios are medians of the
	// per-round ratios.
	dur := time.Duration(secs) * time.Second
	addr := ts.base[len("http://"):]
	bodies := make([][]byte, nq)
	for i := range nq {
		bodies[i], _ = json.Marshal(map[string]any{"vector": set.Query(i)})
	}
	got := map[string][][]uint64{"bin": make([][]uint64, nq), "json": make([][]uint64, nq)}
	seenOnce := map[string][]atomic.Bool{"bin": make([]atomic.Bool, nq), "json": make([]atomic.Bool, nq)}
	// record keeps the ids of the first HTTP answer to each query, for
	// the recall check.
	record := func(output string, q int, body []byte) error {
		if once := seenOnce[output]; !once[q].Load() && once[q].CompareAndSwap(false, true) {
			ids, err := decodeHits(body, output)
			if err != nil {
				return err
			}
			got[output][q] = ids
		}
		return nil
	}
	searchURI := func(output string) string {
		return fmt.Sprintf("/collection/fmnist/search?limit=%d&ef_search=%d&output=%s", k, ef, output)
	}

	// fasthttpLoad runs the searches through fasthttp's general-purpose
	// clients: one request in flight per connection (depth 0:
	// fasthttp.HostClient), or depth of them (fasthttp.PipelineClient),
	// which a client can do with any HTTP/1.1 server; fasthttp answers a
	// connection's queued requests in order and flushes once, so the
	// syscalls per request drop.
	fasthttpLoad := func(output string, conns, depth int) loadResult {
		uri := ts.base + searchURI(output)
		var do func(*fasthttp.Request, *fasthttp.Response) error
		workers := conns
		if depth > 0 {
			pc := &fasthttp.PipelineClient{Addr: addr, MaxConns: conns, MaxPendingRequests: 4 * depth, ReadTimeout: time.Minute}
			do, workers = pc.Do, conns*depth
		} else {
			hc := &fasthttp.HostClient{Addr: addr, MaxConns: conns, ReadTimeout: time.Minute}
			defer hc.CloseIdleConnections()
			do = hc.Do
		}
		return runLoad(workers, dur, nq, func(q int, w *loadWorker) error {
			req, resp := &w.req, &w.resp
			req.Header.SetMethod("POST")
			req.SetRequestURI(uri)
			req.Header.SetContentType("application/json")
			req.SetBodyRaw(bodies[q])
			if err := do(req, resp); err != nil {
				return err
			}
			if resp.StatusCode() != 200 {
				return fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
			}
			return record(output, q, resp.Body())
		})
	}
	// leanLoad runs them through bench/httpload: each query's request
	// bytes built once, written whole, the response read by its length;
	// one request in flight per connection.
	leanReqs := map[string][][]byte{}
	leanLoad := func(output string, conns int) loadResult {
		reqs := leanReqs[output]
		if reqs == nil {
			for q := range nq {
				reqs = append(reqs, httpload.AppendRequest(nil, "POST", addr, searchURI(output), "application/json", bodies[q]))
			}
			leanReqs[output] = reqs
		}
		var mu sync.Mutex
		var open []*httpload.Conn
		defer func() {
			for _, c := range open {
				c.Close()
			}
		}()
		return runLoad(conns, dur, nq, func(q int, w *loadWorker) error {
			if w.conn == nil {
				c, err := httpload.Dial(addr, time.Minute)
				if err != nil {
					return err
				}
				mu.Lock()
				open = append(open, c)
				mu.Unlock()
				w.conn = c
			}
			st, body, err := w.conn.Do(reqs[q])
			if err != nil {
				return err
			}
			if st != 200 {
				return fmt.Errorf("status %d: %s", st, body)
			}
			return record(output, q, body)
		})
	}

	type phase struct {
		name   string
		output string // "" in-process
		client string // "fasthttp", "lean" or "pipelined"
		conns  int
	}
	phases := []phase{{name: "in-process"}}
	for _, output := range []string{"bin", "json"} {
		for _, cl := range []string{"fasthttp", "lean"} {
			for _, n := range clients {
				phases = append(phases, phase{fmt.Sprintf("%s %s c=%d", output, cl, n), output, cl, n})
			}
		}
	}
	for _, output := range []string{"bin", "json"} {
		phases = append(phases, phase{output + " pipelined 2x8", output, "pipelined", 2})
	}
	profPhase := cmp.Or(os.Getenv("LSMVEC_SERVER_BENCH_PROFILE_PHASE"), fmt.Sprintf("bin lean c=%d", slices.Max(clients)))
	res := map[string][]loadResult{}
	ratios, cpuRatios := map[string][]float64{}, map[string][]float64{}
	for round := range rounds {
		for _, ph := range phases {
			stop := func() {}
			if round == 0 && ph.name == profPhase {
				stop = startCPUProfile(t, os.Getenv("LSMVEC_SERVER_BENCH_CPUPROFILE"))
			}
			var r loadResult
			switch ph.client {
			case "":
				r = runLoad(2, dur, nq, func(q int, _ *loadWorker) error {
					_, err := c.Search(set.Query(q), k, ef, nil, nil)
					return err
				})
			case "fasthttp":
				r = fasthttpLoad(ph.output, ph.conns, 0)
			case "lean":
				r = leanLoad(ph.output, ph.conns)
			case "pipelined":
				r = fasthttpLoad(ph.output, ph.conns, 8)
			}
			stop()
			if r.err != nil {
				t.Fatalf("round %d %s: %v", round+1, ph.name, r.err)
			}
			res[ph.name] = append(res[ph.name], r)
			t.Logf("round %d %-18s %s", round+1, ph.name, r)
		}
		for _, ph := range phases[1:] {
			ratios[ph.name] = append(ratios[ph.name], res[ph.name][round].qps/res["in-process"][round].qps)
			cpuRatios[ph.name] = append(cpuRatios[ph.name], res[ph.name][round].cpuQPS/res["in-process"][round].cpuQPS)
		}
	}
	for _, output := range []string{"bin", "json"} {
		var seen [][]uint64
		var truth [][]int32
		for i, ids := range got[output] {
			if ids != nil {
				seen, truth = append(seen, ids), append(truth, set.GroundTruth[i])
			}
		}
		r := dataset.MeanRecall(seen, truth, k)
		t.Logf("HTTP output=%s: recall@10 %.4f over %d queries", output, r, len(seen))
		if r < 0.95 {
			t.Errorf("HTTP output=%s recall@10 %.4f < 0.95", output, r)
		}
	}
	t.Logf("medians over %d rounds of %v (ef_search %d, k %d; HTTP over loopback, c = client connections):", rounds, dur, ef, k)
	for _, ph := range phases {
		t.Logf("  %-18s %s", ph.name, medianResult(res[ph.name]))
	}
	// The headline: for each output, the pipelined client, and the best
	// of the one-request-per-connection clients.
	best := map[string]string{}
	for _, ph := range phases[1:] {
		ratio := median(ratios[ph.name])
		t.Logf("  HTTP %-18s / in-process QPS: %.2f (per round %.2f); per CPU-time: %.2f (per round %.2f)",
			ph.name, ratio, ratios[ph.name], median(cpuRatios[ph.name]), cpuRatios[ph.name])
		if ph.client == "pipelined" {
			continue
		}
		if b := best[ph.output]; b == "" || ratio > median(ratios[b]) {
			best[ph.output] = ph.name
		}
	}
	for _, output := range []string{"bin", "json"} {
		for _, name := range []string{output + " pipelined 2x8", best[output]} {
			r := medianResult(res[name])
			t.Logf("HTTP %s: %.0f QPS = %.2f of in-process, p50 %v, p99 %v", name, r.qps, median(ratios[name]), r.p50, r.p99)
		}
	}
	if ratio := median(ratios["bin pipelined 2x8"]); ratio < 0.6 {
		t.Errorf("HTTP bin (pipelined 2x8) reaches %.0f%% of in-process QPS, want >= 60%%", 100*ratio)
	}
}

// buildFashion stores the data set in c and builds its HNSW index.
func buildFashion(t *testing.T, set *dataset.Set, c *store.Collection) error {
	start := time.Now()
	const batch = 5000
	for lo := 0; lo < set.N(); lo += batch {
		hi := min(lo+batch, set.N())
		es := make([]store.Entry, 0, hi-lo)
		for i := lo; i < hi; i++ {
			es = append(es, store.Entry{ID: uint64(i), Vector: set.BaseVec(i)})
		}
		if err := c.Update(es, nil); err != nil {
			return err
		}
	}
	t.Logf("stored %d vectors in %v", set.N(), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := c.CreateIndex(store.IndexConfig{Metric: "euclidean", M: 16, M0: 32, EfConstruction: 200}); err != nil {
		return err
	}
	t.Logf("built the index (m=16, m0=32, ef_construction=200) in %v", time.Since(start).Round(time.Millisecond))
	return nil
}

// startCPUProfile writes a CPU profile of the process (client and server)
// to path until the returned function runs; with path empty it does
// nothing.
func startCPUProfile(t *testing.T, path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// medianResult is the round with the median QPS.
func medianResult(rs []loadResult) loadResult {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b loadResult) int { return cmpFloat(a.qps, b.qps) })
	return s[len(s)/2]
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n > 0 {
		return n
	}
	return def
}

// decodeHits reads the ids of a Casper search response.
func decodeHits(body []byte, output string) ([]uint64, error) {
	var ids []uint64
	if output == "bin" {
		if len(body) < 4 {
			return nil, fmt.Errorf("short bin body")
		}
		n := int(binary.LittleEndian.Uint32(body))
		if len(body) != 4+8*n {
			return nil, fmt.Errorf("bin body of %d bytes for %d hits", len(body), n)
		}
		for i := range n {
			ids = append(ids, uint64(binary.LittleEndian.Uint32(body[4+8*i:])))
		}
		return ids, nil
	}
	var hits [][2]float64
	if err := json.Unmarshal(body, &hits); err != nil {
		return nil, err
	}
	for _, h := range hits {
		ids = append(ids, uint64(h[0]))
	}
	return ids, nil
}

// loadWorker is one load goroutine's reusable state.
type loadWorker struct {
	req  fasthttp.Request
	resp fasthttp.Response
	lat  []time.Duration
	conn *httpload.Conn // leanLoad's connection
}

type loadResult struct {
	err           error // the first request that failed, if any
	n             int
	qps           float64
	p50, p99, max time.Duration
	// cpuQPS is queries per second of this process's CPU time (user +
	// system, client included) times the number of cores: the QPS the phase would
	// reach with every core to itself. On a machine shared with other
	// work it is steadier than qps, which also counts waiting for a core.
	cpuQPS float64
}

func (r loadResult) String() string {
	return fmt.Sprintf("%d queries, %.0f QPS (%.0f per CPU-time), p50 %v, p99 %v", r.n, r.qps, r.cpuQPS, r.p50, r.p99)
}

// cpuTime returns the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runLoad runs fn from workers goroutines for d, cycling through queries
// 0..nq-1, and reports throughput and latency percentiles.
func runLoad(workers int, d time.Duration, nq int, fn func(q int, w *loadWorker) error) loadResult {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
	)
	ws := make([]*loadWorker, workers)
	cpu0 := cpuTime()
	start := time.Now()
	deadline := start.Add(d)
	for i := range ws {
		w := &loadWorker{}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				q := int(next.Add(1)-1) % nq
				t0 := time.Now()
				if err := fn(q, w); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				w.lat = append(w.lat, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	if e := firstErr.Load(); e != nil {
		return loadResult{err: *e}
	}
	var all []time.Duration
	for _, w := range ws {
		all = append(all, w.lat...)
	}
	slices.Sort(all)
	return summarize(all, elapsed, cpu)
}

// summarize returns the figures of a load phase of elapsed wall time and
// cpu process CPU time whose requests took all (sorted).
func summarize(all []time.Duration, elapsed, cpu time.Duration) loadResult {
	if len(all) == 0 {
		return loadResult{}
	}
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(math.Ceil(p*float64(len(all))))-1)] }
	return loadResult{n: len(all), qps: float64(len(all)) / elapsed.Seconds(), p50: pct(0.5), p99: pct(0.99), max: all[len(all)-1],
		cpuQPS: float64(len(all)) / cpu.Seconds() * float64(runtime.NumCPU())}
}
