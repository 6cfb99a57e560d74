//go:build unix

package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/store/filter"
)

// TestV1FashionMNIST builds fashion-mnist-784 over HTTP with POST
// /v1/build/bulk (vectors plus a payload array) and checks filtered
// search through POST /v1/search against exact filtered ground truth: a
// payload field "cat", uniform in 0..99 (seeded), is matched by {"cat": 0}
// (1% of the vectors), {"cat": {"$lt": 10}} (10%) and {"cat": {"$gte": 50}}
// (50%); every query must get k results, all matching, and the mean
// recall@10 must reach 0.95 for each.
//
// By default it uses the first 10 000 base vectors and 200 queries
// (skipped with -short). With LSMVEC_BENCH=1 it uses all 60 000 vectors and
// 1 000 queries at the default graph parameters, and also measures in the
// same run (docs/benchmarks.md, "## /v1") the bulk build over HTTP against
// store.Collection.BulkLoad in process on the same bytes (alternating,
// starting and ending in process, LSMVEC_BENCH_BULK_ROUNDS HTTP builds,
// default 3; the median HTTP rate must reach 80% of the median in-process
// rate),
// and search QPS over HTTP (LSMVEC_BENCH_CLIENTS concurrent connections,
// default 4) unfiltered and at each selectivity, alternating for
// LSMVEC_BENCH_ROUNDS rounds (default 3) of LSMVEC_BENCH_SECONDS each
// (default 5): the 10% QPS must reach 30% of the unfiltered QPS (median of
// the per-round ratios). The same phases run in process on
// Collection.SearchWhere (2 goroutines) for reference.
//
//	LSMVEC_BENCH=1 go test -run TestV1FashionMNIST -v -timeout 60m ./server/
func TestV1FashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a fashion-mnist index: skipped with -short")
	}
	set := dataset.LoadOrSkip(t, dataset.FashionMNIST)
	benchMode := os.Getenv("LSMVEC_BENCH") != ""
	n, nq, efc := 10000, 200, 100
	if benchMode {
		n, nq, efc = set.N(), 1000, DefaultEfConstr
	}
	const k = 10
	dim := set.Dim
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("LSMVEC_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (LSMVEC_SEED to repeat); %d × %d, %d queries, ef_construction %d, GOMAXPROCS %d",
		seed, n, dim, nq, efc, runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	cats := make([]int, n)
	for i := range cats {
		cats[i] = rng.IntN(100)
	}

	// The bulk body: n·dim little-endian float32, then the payload array.
	body := make([]byte, 0, n*dim*4+n*12)
	for _, f := range set.Base[:n*dim] {
		body = binary.LittleEndian.AppendUint32(body, math.Float32bits(f))
	}
	body = append(body, '[')
	for i, c := range cats {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"cat":%d}`, c)
	}
	body = append(body, ']')

	opts := Options{LogLevel: "warn", LogOutput: io.Discard, EfConstruction: efc}
	inProcess := func() float64 {
		db := openTestStore(t)
		defer db.Close()
		s, err := New(db, opts) // only for the collection configuration
		if err != nil {
			t.Fatal(err)
		}
		c, err := db.EnsureCollection(s.v1Config(dim))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := c.BulkLoad(bytes.NewReader(body), n, 0)
		if err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		rate := float64(n) / el.Seconds()
		t.Logf("in-process BulkLoad: %d vectors, %d threads, %v: %.0f vectors/s", res.N, res.Threads, el.Round(time.Millisecond), rate)
		return rate
	}
	httpBuild := func() (*testServer, float64) {
		ts := startServer(t, opts)
		req, err := http.NewRequest("POST", ts.base+"/v1/build/bulk", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-LSMVec-N", strconv.Itoa(n))
		req.Header.Set("X-LSMVec-Dim", strconv.Itoa(dim))
		req.Header.Set("Content-Type", "application/octet-stream")
		client := &http.Client{Timeout: 30 * time.Minute}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		el := time.Since(start)
		if resp.StatusCode != 200 {
			t.Fatalf("bulk build: %d %s", resp.StatusCode, rb)
		}
		var br struct {
			N        int `json:"n"`
			Payloads int `json:"payloads"`
		}
		if err := json.Unmarshal(rb, &br); err != nil || br.N != n || br.Payloads != n {
			t.Fatalf("bulk build response %s: %v", rb, err)
		}
		rate := float64(n) / el.Seconds()
		t.Logf("HTTP bulk build: %s; client-side %v: %.0f vectors/s", rb, el.Round(time.Millisecond), rate)
		return ts, rate
	}
	// Bench mode alternates in-process and HTTP builds (in, HTTP, in, ...,
	// in) so that drifting machine load hits both alike; the last HTTP
	// build's server serves the searches below.
	var (
		ts                 *testServer
		inRates, httpRates []float64
	)
	bulkRounds := 1
	if benchMode {
		bulkRounds = envInt("LSMVEC_BENCH_BULK_ROUNDS", 3)
		inRates = append(inRates, inProcess())
	}
	for range bulkRounds {
		var rate float64
		ts, rate = httpBuild()
		httpRates = append(httpRates, rate)
		if benchMode {
			inRates = append(inRates, inProcess())
		}
	}
	if benchMode {
		// Medians: one build now and then runs far faster or slower than
		// its neighbours as the machine's load changes.
		ratio := medianOf(httpRates) / medianOf(inRates)
		t.Logf("HTTP / in-process bulk rate: %.2f (median of HTTP %.0f, of in-process %.0f vectors/s)", ratio, httpRates, inRates)
		if ratio < 0.8 {
			t.Errorf("HTTP bulk build reaches %.0f%% of the in-process rate, want >= 80%%", 100*ratio)
		}
	}

	// Recall against exact filtered ground truth.
	queries := set.Queries[:nq*dim]
	filters := []struct {
		name, json string
		allow      func(i int) bool
	}{
		{"1%", `{"cat": 0}`, func(i int) bool { return cats[i] == 0 }},
		{"10%", `{"cat": {"$lt": 10}}`, func(i int) bool { return cats[i] < 10 }},
		// Half the vectors: a graph walk whatever n (the smaller sets above
		// are listed and searched exactly below 2048 matches).
		{"50%", `{"cat": {"$gte": 50}}`, func(i int) bool { return cats[i] >= 50 }},
	}
	bodies := make(map[string][][]byte)
	for _, f := range append(filters, struct {
		name, json string
		allow      func(i int) bool
	}{"none", "", nil}) {
		for q := range nq {
			vb, _ := json.Marshal(set.Query(q))
			b := []byte(`{"vector":` + string(vb) + `,"k":10`)
			if f.json != "" {
				b = append(b, `,"filter":`+f.json...)
			}
			bodies[f.name] = append(bodies[f.name], append(b, '}'))
		}
	}
	hc := &fasthttp.HostClient{Addr: ts.base[len("http://"):], MaxConns: 16, ReadTimeout: time.Minute}
	doSearch := func(w *loadWorker, b []byte) ([]uint64, error) {
		req, resp := &w.req, &w.resp
		req.Header.SetMethod("POST")
		req.SetRequestURI(ts.base + "/v1/search")
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(b)
		if err := hc.Do(req, resp); err != nil {
			return nil, err
		}
		if resp.StatusCode() != 200 {
			return nil, fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
		}
		var out struct {
			Results []v1Hit `json:"results"`
		}
		if err := json.Unmarshal(resp.Body(), &out); err != nil {
			return nil, err
		}
		ids := make([]uint64, len(out.Results))
		for i, h := range out.Results {
			ids[i] = h.ID
		}
		return ids, nil
	}
	for _, f := range filters {
		matches := 0
		for i := range n {
			if f.allow(i) {
				matches++
			}
		}
		truth := dataset.GroundTruthFiltered(set.Base[:n*dim], queries, dim, k, "l2", f.allow)
		got := make([][]uint64, nq)
		var w loadWorker
		for q := range nq {
			ids, err := doSearch(&w, bodies[f.name][q])
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != k {
				t.Fatalf("filter %s, query %d: %d results, want %d", f.name, q, len(ids), k)
			}
			for _, id := range ids {
				if !f.allow(int(id)) {
					t.Fatalf("filter %s, query %d: id %d does not match", f.name, q, id)
				}
			}
			got[q] = ids
		}
		r := dataset.MeanRecall(got, truth, k)
		t.Logf("filter %s (%d of %d match): recall@10 %.4f over %d queries", f.name, matches, n, r, nq)
		if r < 0.95 {
			t.Errorf("filter %s: recall@10 %.4f < 0.95", f.name, r)
		}
	}
	if !benchMode {
		return
	}

	// QPS: HTTP and in-process phases alternate per round.
	secs := envInt("LSMVEC_BENCH_SECONDS", 5)
	rounds := envInt("LSMVEC_BENCH_ROUNDS", 3)
	clients := envInt("LSMVEC_BENCH_CLIENTS", 4)
	dur := time.Duration(secs) * time.Second
	c, err := ts.db.Collection(DefaultCollection)
	if err != nil {
		t.Fatal(err)
	}
	compiled := map[string]*filter.Filter{"none": nil}
	for _, f := range filters {
		if compiled[f.name], err = filter.Compile([]byte(f.json)); err != nil {
			t.Fatal(err)
		}
	}
	phases := []string{"none", "10%", "1%", "50%"}
	var mu sync.Mutex
	qps, cpuQPS := map[string][]float64{}, map[string][]float64{}
	for round := range rounds {
		for _, via := range []string{"http", "in-process"} {
			for _, ph := range phases {
				var r loadResult
				if via == "http" {
					r = runLoad(clients, dur, nq, func(q int, w *loadWorker) error {
						_, err := doSearch(w, bodies[ph][q])
						return err
					})
				} else {
					r = runLoad(2, dur, nq, func(q int, _ *loadWorker) error {
						_, err := c.SearchWhere(set.Query(q), k, 0, compiled[ph], nil)
						return err
					})
				}
				if r.err != nil {
					t.Fatalf("round %d %s %s: %v", round+1, via, ph, r.err)
				}
				mu.Lock()
				qps[via+" "+ph] = append(qps[via+" "+ph], r.qps)
				cpuQPS[via+" "+ph] = append(cpuQPS[via+" "+ph], r.cpuQPS)
				mu.Unlock()
				t.Logf("round %d %-10s filter %-4s %s", round+1, via, ph, r)
			}
		}
	}
	for _, via := range []string{"http", "in-process"} {
		for _, ph := range phases[1:] {
			var ratios, cpuRatios []float64
			for i := range rounds {
				ratios = append(ratios, qps[via+" "+ph][i]/qps[via+" none"][i])
				cpuRatios = append(cpuRatios, cpuQPS[via+" "+ph][i]/cpuQPS[via+" none"][i])
			}
			ratio := median(ratios)
			t.Logf("%s: QPS at %s / unfiltered: %.2f (per round %.2f; median QPS unfiltered %.0f, filtered %.0f); per CPU-time %.2f (per round %.2f)",
				via, ph, ratio, ratios, median(qps[via+" none"]), median(qps[via+" "+ph]), median(cpuRatios), cpuRatios)
			if via == "http" && ph == "10%" && ratio < 0.3 {
				t.Errorf("HTTP QPS at 10%% selectivity is %.0f%% of unfiltered, want >= 30%%", 100*ratio)
			}
		}
	}
}

// medianOf is the median of xs (the mean of the middle two for an even
// count).
func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
