package hnsw

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/internal/cputime"
	"github.com/lsmvec/lsmvec/kernels"
	"github.com/lsmvec/lsmvec/store/filter"
)

// bitmapFilter allows the external ids whose bit is set: the cost of a
// payload index's prefiltered bitmap (one bounds check, one load, one bit
// test per Allow). Safe for concurrent use (read-only).
type bitmapFilter struct{ bits []uint64 }

func (b *bitmapFilter) Allow(id uint64) bool {
	w := id >> 6
	return w < uint64(len(b.bits)) && b.bits[w]&(1<<(id&63)) != 0
}

// randomBitmap allows exactly round(frac·n) of the ids 0..n-1, drawn at
// random, and returns the filter and that count.
func randomBitmap(rng *rand.Rand, n int, frac float64) (*bitmapFilter, int) {
	b := &bitmapFilter{bits: make([]uint64, (n+63)/64)}
	m := int(frac*float64(n) + 0.5)
	for _, i := range rng.Perm(n)[:m] {
		b.bits[i>>6] |= 1 << (i & 63)
	}
	return b, m
}

func (b *bitmapFilter) allowRow(i int) bool { return b.Allow(uint64(i)) }

// benchIndex returns fashion-mnist (or the set named) built with M=16,
// efC=200 on 2 threads. With LSMVEC_HNSW_CACHE=DIR the graph is kept there
// as a snapshot and read back by later runs (seconds instead of a minute).
func benchIndex(t *testing.T, ds *dataset.Set) *Index {
	t.Helper()
	dir := os.Getenv("LSMVEC_HNSW_CACHE")
	path := ""
	if dir != "" {
		path = filepath.Join(dir, fmt.Sprintf("%s-n%d-M16-efc200.hnsw", ds.Name, ds.N()))
		if b, err := os.ReadFile(path); err == nil {
			x, err := Read(bytes.NewReader(b), nil)
			if err != nil {
				t.Fatalf("cannot read cached index %s: %v", path, err)
			}
			t.Logf("index read from %s", path)
			return x
		}
	}
	x, build := buildSet(t, ds, Options{M: 16, EfConstruction: 200}, 2)
	t.Logf("built %d in %v", x.Len(), build)
	if path != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := x.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envInts(name string, def []int) []int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return def
		}
		out = append(out, v)
	}
	return out
}

// filterCase is one configuration of a filtered-search measurement.
type filterCase struct {
	name     string
	f        Filter // nil: unfiltered Search
	allowed  int    // allowed ids (the whole set when f is nil)
	truth    [][]int32
	exactMax int // Index.exactFilterMax during the run
}

// timing is one timed pass over the queries.
type timing struct {
	cpu, wall time.Duration
	recall    float64
}

// runFilterCase runs the queries of c once on a locked OS thread and
// returns the thread's CPU time, the wall time and the mean recall@k. It
// fails t when a search returns other than min(k, allowed) results or an id
// the filter does not allow.
func runFilterCase(t *testing.T, x *Index, ds *dataset.Set, c *filterCase, k, ef, nq int, buf []Result, got []uint64) timing {
	t.Helper()
	x.exactFilterMax = c.exactMax
	defer func() { x.exactFilterMax = 2048 }()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf = buf[:0]
	cpu0, start := cputime.Thread(), time.Now()
	for i := 0; i < nq; i++ {
		if c.f == nil {
			buf = x.Search(ds.Query(i), k, ef, buf)
		} else {
			buf = x.SearchFilter(ds.Query(i), k, ef, c.f, buf)
		}
	}
	tm := timing{cpu: cputime.Thread() - cpu0, wall: time.Since(start)}
	want := min(k, c.allowed)
	if len(buf) != nq*want {
		t.Fatalf("%s ef=%d: %d results for %d queries, want %d each", c.name, ef, len(buf), nq, want)
	}
	var sum float64
	for i := 0; i < nq; i++ {
		got = got[:0]
		for _, r := range buf[i*want : (i+1)*want] {
			if c.f != nil && !c.f.Allow(r.ID) {
				t.Fatalf("%s: id %d not allowed", c.name, r.ID)
			}
			got = append(got, r.ID)
		}
		truth := ds.GroundTruth[i]
		if c.truth != nil {
			truth = c.truth[i]
		}
		sum += dataset.Recall(got, truth, k)
	}
	tm.recall = sum / float64(nq)
	return tm
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TestFilteredQPS measures filtered search against unfiltered search on
// fashion-mnist-784 (M=16, efC=200, k=10, one goroutine): recall@10 against
// the exact filtered ground truth and QPS for no filter, random bitmap
// filters allowing 10% and 1% of the ids, and store/filter predicates of
// 10% and 1% over random payloads, per ef. The cases run interleaved
// (rotating which goes first) for LSMVEC_FILTER_ROUNDS rounds (default 7)
// and the table reports medians of QPS by thread CPU time and by wall time,
// and the median of the per-round ratio to unfiltered QPS. Gated by
// LSMVEC_BENCH=1; LSMVEC_FILTER_QUERIES (default 1000), LSMVEC_FILTER_EF
// (default 10,12,16,24,32,64), LSMVEC_BENCH_SET and LSMVEC_HNSW_CACHE also
// apply. It ends with the QPS of each case interpolated at recall@10 0.95
// and 0.97, and its ratio to unfiltered at the same recall.
func TestFilteredQPS(t *testing.T) {
	benchEnabled(t)
	name := dataset.FashionMNIST
	if s := os.Getenv("LSMVEC_BENCH_SET"); s != "" {
		name = s
	}
	ds := dataset.LoadOrSkip(t, name)
	x := benchIndex(t, ds)
	defer x.Close()
	const k = 10
	nq := min(envInt("LSMVEC_FILTER_QUERIES", 1000), ds.NQ())
	rounds := envInt("LSMVEC_FILTER_ROUNDS", 7)
	efs := envInts("LSMVEC_FILTER_EF", []int{10, 12, 16, 24, 32, 64})
	seed := int64(envInt("LSMVEC_FILTER_SEED", 1))
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	queries := ds.Queries[:nq*ds.Dim]
	cases := []*filterCase{{name: "unfiltered", allowed: ds.N(), exactMax: 2048}}
	for _, frac := range []float64{0.10, 0.01} {
		f, n := randomBitmap(rng, ds.N(), frac)
		cases = append(cases, &filterCase{
			name:     fmt.Sprintf("bitmap %g%%", 100*frac),
			f:        f,
			allowed:  n,
			truth:    dataset.GroundTruthFiltered(ds.Base, queries, ds.Dim, k, ds.Metric, f.allowRow),
			exactMax: 2048,
		})
	}
	// store/filter predicates over random payloads (seeded): cat has 10
	// values (10% each), rare 100 (1% each). The eq filter is answered by
	// the inverted index and prefiltered into a bitmap over doc slots; with
	// MaxPrefilter -1 every Allow evaluates the filter on the payload; the
	// 1% one is listed (AllowedIDs), so hnsw searches it exactly.
	for _, pc := range []struct {
		name, filter string
		maxPre       int
	}{
		{"payload 10%", `{"cat": "c3"}`, 0},
		{"payload 10% eval", `{"cat": "c3"}`, -1},
		{"payload 1% listed", `{"rare": 5}`, 0},
	} {
		px, err := filter.NewIndex(filter.Options{MaxPrefilter: pc.maxPre})
		if err != nil {
			t.Fatal(err)
		}
		pr := rand.New(rand.NewSource(seed + 1))
		for i := 0; i < ds.N(); i++ {
			p := fmt.Sprintf(`{"cat": "c%d", "rare": %d, "price": %d}`, pr.Intn(10), pr.Intn(100), pr.Intn(1000))
			if err := px.Set(uint64(i), []byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		cf, err := filter.Compile([]byte(pc.filter))
		if err != nil {
			t.Fatal(err)
		}
		// Bound once for the whole run (no writers): the cost measured is
		// Allow's, not Bind's.
		pred := px.Bind(cf)
		defer pred.Release()
		n := 0
		for i := 0; i < ds.N(); i++ {
			if pred.Allow(uint64(i)) {
				n++
			}
		}
		cases = append(cases, &filterCase{
			name:     pc.name,
			f:        pred,
			allowed:  n,
			truth:    dataset.GroundTruthFiltered(ds.Base, queries, ds.Dim, k, ds.Metric, func(i int) bool { return pred.Allow(uint64(i)) }),
			exactMax: 2048,
		})
	}
	fmt.Printf("# %s n=%d nq=%d k=%d kernels=%s rounds=%d (medians; QPS by thread CPU time, wall in brackets)\n",
		name, ds.N(), nq, k, kernels.Impl(), rounds)
	for _, c := range cases {
		fmt.Printf("# %s: %d ids allowed\n", c.name, c.allowed)
	}
	buf := make([]Result, 0, nq*k)
	got := make([]uint64, 0, k)
	curveR := make([][]float64, len(cases)) // recall per ef, per case
	curveQ := make([][]float64, len(cases)) // median QPS per ef, per case
	for _, ef := range efs {
		cpuQPS := make([][]float64, len(cases))
		wallQPS := make([][]float64, len(cases))
		ratio := make([][]float64, len(cases))
		recall := make([]float64, len(cases))
		for r := 0; r < rounds; r++ {
			tms := make([]timing, len(cases))
			for j := range cases {
				c := (j + r) % len(cases)
				tms[c] = runFilterCase(t, x, ds, cases[c], k, ef, nq, buf, got)
			}
			for c, tm := range tms {
				cpuQPS[c] = append(cpuQPS[c], float64(nq)/tm.cpu.Seconds())
				wallQPS[c] = append(wallQPS[c], float64(nq)/tm.wall.Seconds())
				ratio[c] = append(ratio[c], tms[0].cpu.Seconds()/tm.cpu.Seconds())
				recall[c] += tm.recall / float64(rounds)
			}
		}
		for c, fc := range cases {
			fmt.Printf("ef=%-4d %-18s recall@10=%.4f qps=%6.0f [%6.0f] ratio=%.2f\n",
				ef, fc.name, recall[c], median(cpuQPS[c]), median(wallQPS[c]), median(ratio[c]))
			curveR[c] = append(curveR[c], recall[c])
			curveQ[c] = append(curveQ[c], median(cpuQPS[c]))
		}
	}
	// Equal recall: QPS interpolated between the efs (the first ef's QPS
	// when even it exceeds the target; 0 when no ef reaches it).
	for _, target := range []float64{0.95, 0.97} {
		base := interpolate(curveR[0], curveQ[0], target)
		for c, fc := range cases {
			q := interpolate(curveR[c], curveQ[c], target)
			fmt.Printf("recall@10=%.2f %-18s qps=%6.0f ratio=%.2f\n", target, fc.name, q, q/base)
		}
	}
}

// TestFilteredCrossover measures, per selectivity, each filter plan forced
// (the 2-hop walk, the distance walk, the exact scan) and the planner's
// choice, on the same random bitmap filters: the data behind planFilter's
// cost model. Gated by LSMVEC_BENCH=1; the LSMVEC_FILTER_* variables of
// TestFilteredQPS apply (defaults: 300 queries, 3 rounds, ef 16,64) and
// LSMVEC_FILTER_SEL lists the selectivities in per mille.
func TestFilteredCrossover(t *testing.T) {
	benchEnabled(t)
	name := dataset.FashionMNIST
	if s := os.Getenv("LSMVEC_BENCH_SET"); s != "" {
		name = s
	}
	ds := dataset.LoadOrSkip(t, name)
	x := benchIndex(t, ds)
	defer x.Close()
	const k = 10
	nq := min(envInt("LSMVEC_FILTER_QUERIES", 300), ds.NQ())
	rounds := envInt("LSMVEC_FILTER_ROUNDS", 3)
	efs := envInts("LSMVEC_FILTER_EF", []int{16, 64})
	sels := envInts("LSMVEC_FILTER_SEL", []int{2, 5, 10, 20, 30, 50, 100, 200, 500})
	seed := int64(envInt("LSMVEC_FILTER_SEED", 1))
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	queries := ds.Queries[:nq*ds.Dim]
	buf := make([]Result, 0, nq*k)
	got := make([]uint64, 0, k)
	fmt.Printf("# %s n=%d nq=%d k=%d kernels=%s rounds=%d: recall@10 and QPS (thread CPU time, median) per plan\n",
		name, ds.N(), nq, k, kernels.Impl(), rounds)
	for _, pm := range sels {
		frac := float64(pm) / 1000
		f, n := randomBitmap(rng, ds.N(), frac)
		truth := dataset.GroundTruthFiltered(ds.Base, queries, ds.Dim, k, ds.Metric, f.allowRow)
		cases := []*filterCase{
			{name: "auto", f: f, allowed: n, truth: truth, exactMax: 2048},
			{name: "2hop", f: f, allowed: n, truth: truth, exactMax: forceTwoHop},
			{name: "dist", f: f, allowed: n, truth: truth, exactMax: forceDistWalk},
			{name: "scan", f: f, allowed: n, truth: truth, exactMax: 1 << 30},
		}
		for _, ef := range efs {
			qps := make([][]float64, len(cases))
			rec := make([]float64, len(cases))
			for r := 0; r < rounds; r++ {
				for j := range cases {
					c := (j + r) % len(cases)
					tm := runFilterCase(t, x, ds, cases[c], k, ef, nq, buf, got)
					qps[c] = append(qps[c], float64(nq)/tm.cpu.Seconds())
					rec[c] += tm.recall / float64(rounds)
				}
			}
			line := fmt.Sprintf("sel=%5.1f%% ef=%-4d", 100*frac, ef)
			for c, fc := range cases {
				line += fmt.Sprintf("  %s %.4f %6.0f", fc.name, rec[c], median(qps[c]))
			}
			fmt.Println(line)
		}
	}
}
