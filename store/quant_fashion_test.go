package store

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/internal/cputime"
	"github.com/lsmvec/lsmvec/pq"
)

// TestFashionQuantized measures served quantized indexes on
// fashion-mnist-784 (60 000 × 784, euclidean, M=16, ef_construction=200):
// one database per quantization (f32, i8, pq8 with M=16 subspaces × 256
// centroids), each built through the store (bulk load, then CreateIndex:
// i8 and pq8 keep codes in RAM and rerank from the vector file), then
//
//   - open time: clean (checkpoint + trusted vector file) and after a
//     crash (the vector file rebuilt from Pebble);
//   - memory: what opening the database and running the queries adds to
//     the process (RssAnon, RssFile, Go heap), against the storage's own
//     accounting, graph excluded;
//   - single-thread recall@10 and QPS per ef_search through
//     Collection.Search, the three databases side by side: blocks of 50
//     queries on each in turn on one locked OS thread, three times, each
//     block charged its least thread CPU time.
//
// Minutes: gated behind LSMVEC_QUANT_BENCH=1. LSMVEC_BENCH_DIR=DIR keeps
// the built databases there for the next run.
//
//	LSMVEC_QUANT_BENCH=1 go test -count=1 -v -run FashionQuantized -timeout 60m ./store
func TestFashionQuantized(t *testing.T) {
	if os.Getenv("LSMVEC_QUANT_BENCH") != "1" {
		t.Skip("skipping: set LSMVEC_QUANT_BENCH=1 to measure quantized indexes on fashion-mnist-784 (minutes)")
	}
	ds := dataset.LoadOrSkip(t, dataset.FashionMNIST)
	root := t.TempDir()
	if d := os.Getenv("LSMVEC_BENCH_DIR"); d != "" {
		root = d
	}
	n, dim := ds.N(), ds.Dim
	variants := []string{QuantF32, QuantI8, QuantPQ8}
	optsFor := func(v string) Options {
		o := testOptions(t, filepath.Join(root, "fashion-"+v))
		o.CacheSize, o.MemTableSize = 64<<20, 64<<20 // the defaults
		return o
	}
	for _, v := range variants {
		buildFashionQuant(t, ds, optsFor(v), v)
	}

	// Open times.
	for _, v := range variants {
		opts := optsFor(v)
		start := time.Now()
		db := openT(t, opts)
		clean := time.Since(start)
		db.testSkipCloseCheckpoint = true // a crash: the vector file stays dirty
		closeT(t, db)
		start = time.Now()
		db = openT(t, opts)
		crash := time.Since(start)
		rebuilt := db.exactRebuilds.Load()
		closeT(t, db)
		t.Logf("%-4s open: clean %v; after a crash %v (vector files rebuilt: %d)", v, clean.Round(time.Millisecond), crash.Round(time.Millisecond), rebuilt)
	}

	// Memory, one database at a time.
	nq := min(2000, ds.NQ())
	t.Logf("%-4s %12s %12s %12s %12s %12s %12s", "", "storage B/v", "graph B/v", "heap B/v", "anon B/v", "anon−graph", "file B/v")
	for _, v := range variants {
		before := memNow()
		db := openT(t, optsFor(v))
		c, err := db.Collection("fashion")
		must(t, "collection", err)
		var res []Result
		for qi := 0; qi < nq; qi++ {
			res, err = c.Search(ds.Query(qi), 10, 64, nil, res[:0])
			must(t, "search", err)
		}
		after := memNow()
		c.mu.RLock()
		st := c.mu.index.Stats()
		storage := int64(n) * int64(dim) * 4 // Float32Storage: exactly n·dim floats once grown to n
		if s := c.mu.index.Options().Storage; s != nil {
			storage = s.MemoryBytes()
		}
		c.mu.RUnlock()
		graph := st.MemoryBytes - storage
		if c.mu.index.Options().Storage == nil {
			graph = st.MemoryBytes - int64(st.Slots)*int64(dim)*4
		}
		per := func(b int64) float64 { return float64(b) / float64(n) }
		t.Logf("%-4s %12.0f %12.0f %12.0f %12.0f %12.0f %12.0f", v, per(storage), per(graph),
			per(after.heap-before.heap), per(after.anon-before.anon), per(after.anon-before.anon-graph), per(after.file-before.file))
		closeT(t, db)
	}

	// Recall and single-thread QPS, side by side.
	dbs := make([]*DB, len(variants))
	colls := make([]*Collection, len(variants))
	for i, v := range variants {
		dbs[i] = openT(t, optsFor(v))
		defer closeT(t, dbs[i])
		var err error
		colls[i], err = dbs[i].Collection("fashion")
		must(t, "collection", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const reps, block = 3, 50
	res := make([]Result, 0, 16)
	got := make([]uint64, 0, 10)
	t.Logf("%-4s %5s %8s %10s", "", "ef", "recall", "QPS(cpu)")
	type point struct {
		ef     int
		recall float64
		qps    float64
	}
	curves := make([][]point, len(variants))
	for _, ef := range []int{10, 11, 12, 13, 14, 16, 20, 24, 32, 48, 64, 96, 128} {
		cpu := make([]time.Duration, len(variants))
		recall := make([]float64, len(variants))
		for b0 := 0; b0 < nq; b0 += block {
			for j := range variants {
				vi := (j + b0/block) % len(variants)
				best := time.Duration(math.MaxInt64)
				for rep := 0; rep < reps; rep++ {
					c0 := cputime.Thread()
					for qi := b0; qi < min(b0+block, nq); qi++ {
						res, _ = colls[vi].Search(ds.Query(qi), 10, ef, nil, res[:0])
						if rep == 0 {
							got = got[:0]
							for _, r := range res {
								got = append(got, r.ID)
							}
							recall[vi] += dataset.Recall(got, ds.GroundTruth[qi], 10)
						}
					}
					best = min(best, cputime.Thread()-c0)
				}
				cpu[vi] += best
			}
		}
		for vi, v := range variants {
			p := point{ef, recall[vi] / float64(nq), float64(nq) / cpu[vi].Seconds()}
			curves[vi] = append(curves[vi], p)
			t.Logf("%-4s %5d %8.4f %10.0f", v, ef, p.recall, p.qps)
		}
	}
	// The required figures: recall gap at equal ef, QPS at recall 0.95.
	at95 := func(c []point) (point, bool) {
		for _, p := range c {
			if p.recall >= 0.95 {
				return p, true
			}
		}
		return point{}, false
	}
	var gap float64
	for i := range curves[0] {
		gap = max(gap, curves[0][i].recall-curves[1][i].recall)
	}
	t.Logf("i8 recall@10 below f32 at equal ef: at most %.4f", gap)
	f, okF := at95(curves[0])
	q, okQ := at95(curves[1])
	if okF && okQ {
		t.Logf("first ef with recall ≥ 0.95: f32 ef %d (%.4f) %.0f QPS, i8 ef %d (%.4f) %.0f QPS: i8/f32 = %.2fx", f.ef, f.recall, f.qps, q.ef, q.recall, q.qps, q.qps/f.qps)
	}
	// QPS at recall 0.95 read off each curve, linear between the two
	// measured points around it (as on an ann-benchmarks plot).
	qpsAt := func(c []point, r float64) (float64, bool) {
		for i := 1; i < len(c); i++ {
			if c[i-1].recall < r && c[i].recall >= r {
				f := (r - c[i-1].recall) / (c[i].recall - c[i-1].recall)
				return c[i-1].qps + f*(c[i].qps-c[i-1].qps), true
			}
		}
		return 0, false
	}
	qf, okF := qpsAt(curves[0], 0.95)
	qi, okQ := qpsAt(curves[1], 0.95)
	if okF && okQ {
		t.Logf("QPS at recall 0.95 (interpolated): f32 %.0f, i8 %.0f: i8/f32 = %.2fx", qf, qi, qi/qf)
	}
	var pqMax point
	for _, p := range curves[2] {
		if p.recall > pqMax.recall {
			pqMax = p
		}
	}
	t.Logf("pq8 M=16: max recall@10 %.4f at ef %d", pqMax.recall, pqMax.ef)
}

// buildFashionQuant creates, unless opts.Dir already holds it, the
// collection "fashion" with an index of quantization v over the
// fashion-mnist base vectors.
func buildFashionQuant(t *testing.T, ds *dataset.Set, opts Options, v string) {
	t.Helper()
	marker := filepath.Join(opts.Dir, "built")
	if _, err := os.Stat(marker); err == nil {
		return
	}
	_ = os.RemoveAll(opts.Dir)
	n, dim := ds.N(), ds.Dim
	db := openT(t, opts)
	c, err := db.CreateCollection(CollectionConfig{Name: "fashion", Dim: dim, MaxSize: int64(n)})
	must(t, "create", err)
	_, err = c.BulkLoad(&floatReader{v: ds.Base}, n, 2)
	must(t, "bulk load", err)
	cfg := IndexConfig{Metric: "euclidean", Quantization: v, M: 16, EfConstruction: 200}
	if v == QuantPQ8 {
		start := time.Now()
		cb, err := pq.Train(ds.Base, dim, 16, 8, pq.TrainOptions{Seed: 1})
		must(t, "train", err)
		t.Logf("pq8: k-means 16 × 256 in %v", time.Since(start).Round(time.Millisecond))
		var names []string
		for j, cent := range cb.Centroids {
			name := fmt.Sprintf("fashion_sub_%d", j)
			_, err := db.PutMatrix(name, dim/16, cent)
			must(t, "matrix", err)
			names = append(names, name)
		}
		_, err = db.CreatePQ(PQConfig{Name: "fashion16", Dim: dim, Codebooks: names})
		must(t, "pq", err)
		cfg.PQName = "fashion16"
	}
	start := time.Now()
	must(t, "create index", c.CreateIndex(cfg))
	t.Logf("%-4s index built over %d vectors in %v (%d threads)", v, n, time.Since(start).Round(time.Millisecond), opts.EnsureDefaults().BuildThreads)
	closeT(t, db)
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// memSample is what the process holds: resident anonymous and file-backed
// pages (/proc/self/status) and the Go heap in use, after a GC.
type memSample struct{ anon, file, heap int64 }

func memNow() memSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{heap: int64(ms.HeapInuse)}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return s
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "RssAnon:":
			s.anon = kb << 10
		case "RssFile:":
			s.file = kb << 10
		}
	}
	return s
}

// BenchmarkFashionSearch runs single searches (k=10) on the databases
// TestFashionQuantized left in LSMVEC_BENCH_DIR, for profiling:
//
//	LSMVEC_BENCH_DIR=DIR go test -run '^$' -bench FashionSearch -cpuprofile cpu.out ./store
func BenchmarkFashionSearch(b *testing.B) {
	root := os.Getenv("LSMVEC_BENCH_DIR")
	if root == "" {
		b.Skip("set LSMVEC_BENCH_DIR to the databases TestFashionQuantized built")
	}
	ds := dataset.LoadOrSkip(b, dataset.FashionMNIST)
	for _, v := range []string{QuantF32, QuantI8, QuantPQ8} {
		dir := filepath.Join(root, "fashion-"+v)
		if _, err := os.Stat(filepath.Join(dir, "built")); err != nil {
			b.Skipf("no database in %s", dir)
		}
		opts := testOptions(b, dir)
		db := openT(b, opts)
		c, err := db.Collection("fashion")
		if err != nil {
			b.Fatal(err)
		}
		for _, ef := range []int{13, 64} {
			b.Run(fmt.Sprintf("quant=%s/ef=%d", v, ef), func(b *testing.B) {
				res := make([]Result, 0, 16)
				i := 0
				for b.Loop() {
					res, _ = c.Search(ds.Query(i%ds.NQ()), 10, ef, nil, res[:0])
					i++
				}
			})
		}
		closeT(b, db)
	}
}
