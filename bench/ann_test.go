package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
)

// sampleSet is a tiny clustered data set with exact ground truth.
func sampleSet() *dataset.Set {
	const seed, n, nq, dim = 5, 1000, 50, 16
	r := rand.New(rand.NewPCG(seed, 3))
	gen := func(m int) []float32 {
		v := make([]float32, m*dim)
		for i := range m {
			c := float32(r.IntN(20))
			for j := range dim {
				v[i*dim+j] = c*float32(j%3) + float32(r.NormFloat64())
			}
		}
		return v
	}
	s := &dataset.Set{Name: "sample", Dim: dim, Base: gen(n), Queries: gen(nq), Metric: "l2"}
	s.GroundTruth = dataset.GroundTruth(s.Base, s.Queries, dim, 10, "l2")
	return s
}

// writeFvecs writes rows of dim values as .fvecs.
func writeFvecs(t *testing.T, path string, v []float32, dim int) {
	t.Helper()
	var b bytes.Buffer
	for i := 0; i < len(v); i += dim {
		binary.Write(&b, binary.LittleEndian, int32(dim))
		binary.Write(&b, binary.LittleEndian, v[i:i+dim])
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunEndToEnd measures a tiny synthetic set given as user files
// without ground truth: the ground truth is computed and cached, every
// storage builds and sweeps, recall rises to near 1 with ef, and the
// report renders.
func TestRunEndToEnd(t *testing.T) {
	set := sampleSet()
	t.Logf("seed 5 (sampleSet)")
	dir := t.TempDir()
	base, queries := filepath.Join(dir, "base.fvecs"), filepath.Join(dir, "queries.fvecs")
	writeFvecs(t, base, set.Base, set.Dim)
	writeFvecs(t, queries, set.Queries, set.Dim)
	var log bytes.Buffer
	cfg := Config{
		Base: base, Queries: queries, K: 10,
		Efs: []int{10, 40, 160}, M: 8, EfConstruction: 64, Threads: 2, BuildThreads: 2,
		MinTime: time.Millisecond, HNSWLib: "off", Log: &log,
		Modes: []string{ModeInProcess, ModeHTTP}, // http without URL or LocalServer: a note
	}
	if testing.Short() {
		cfg.Quants = []string{QuantF32, QuantI8}
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	if !strings.HasPrefix(rep.Data.GroundTruth, "computed, cached at "+dir) {
		t.Errorf("ground truth: %q, want computed and cached in %s", rep.Data.GroundTruth, dir)
	}
	if rep.Data.N != 1000 || rep.Data.NQ != 50 || rep.Data.Dim != 16 {
		t.Errorf("data = %+v", rep.Data)
	}
	wantRuns := 3
	if testing.Short() {
		wantRuns = 2
	}
	if len(rep.Runs) != wantRuns {
		t.Fatalf("%d runs, want %d: %+v", len(rep.Runs), wantRuns, rep.Notes)
	}
	if len(rep.Notes) == 0 || !strings.Contains(strings.Join(rep.Notes, "\n"), "not available") {
		t.Errorf("notes %q lack the unavailable http mode", rep.Notes)
	}
	for _, run := range rep.Runs {
		if len(run.Points) != 3 {
			t.Fatalf("%s: %d points", run.Name, len(run.Points))
		}
		last := run.Points[2]
		if last.Recall < 0.95 {
			t.Errorf("%s: recall@10 at ef=160 is %.3f, want ≥ 0.95", run.Name, last.Recall)
		}
		if run.Points[0].Recall > last.Recall+0.02 {
			t.Errorf("%s: recall falls with ef: %+v", run.Name, run.Points)
		}
		for _, p := range run.Points {
			if !(p.QPS > 0) || !(p.QPSThreads > 0) || !(p.P50 > 0) || p.P99 < p.P50 || math.IsNaN(p.Recall) {
				t.Errorf("%s: implausible point %+v", run.Name, p)
			}
		}
		if run.Build.BuildSeconds <= 0 || run.Build.MemoryBytes <= 0 || run.Build.BytesPerVector < 16*4 {
			t.Errorf("%s: build %+v", run.Name, run.Build)
		}
		if len(run.At) != 3 {
			t.Errorf("%s: %d interpolations", run.Name, len(run.At))
		}
	}
	var md bytes.Buffer
	if err := RenderMarkdown(&md, rep, MarkdownOptions{Sweeps: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| lsmvec f32 inproc | 160 |") {
		t.Errorf("report lacks the f32 sweep:\n%s", md.String())
	}

	// A second run reads the cached ground truth.
	cfg.Quants, cfg.Modes, cfg.Efs = []string{QuantF32}, []string{ModeInProcess}, []int{32}
	rep2, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep2.Data.GroundTruth, "cache ") {
		t.Errorf("second run ground truth: %q, want the cache", rep2.Data.GroundTruth)
	}
}

// TestSweepRecall checks the sweep's recall against an engine whose answers
// are known: the exact ground truth with its ith result dropped for odd
// queries.
func TestSweepRecall(t *testing.T) {
	set := sampleSet()
	cfg := Config{K: 10, Efs: []int{1, 2}, MinTime: time.Millisecond, Threads: 3}
	eng := fakeEngine{set: set}
	pts, err := sweep(context.Background(), &cfg, set, eng, "fake")
	if err != nil {
		t.Fatal(err)
	}
	// ef=1: odd queries return 9 of the 10 true ids: recall 0.95; ef=2: all.
	if math.Abs(pts[0].Recall-0.95) > 1e-9 || pts[1].Recall != 1 {
		t.Errorf("recalls %v, %v; want 0.95, 1", pts[0].Recall, pts[1].Recall)
	}
	if _, err := sweep(context.Background(), &cfg, set, fakeEngine{set: set, fail: true}, "fake"); err == nil {
		t.Errorf("a failing engine gave no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg.MinTime = time.Hour
	if _, err := sweep(ctx, &cfg, set, eng, "fake"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sweep: %v", err)
	}
}

type fakeEngine struct {
	set  *dataset.Set
	fail bool
}

func (f fakeEngine) searcher() searchFunc {
	return func(qi int, _ []float32, k, ef int, ids []uint64) ([]uint64, error) {
		if f.fail {
			return ids, errors.New("boom")
		}
		for j, id := range f.set.GroundTruth[qi][:k] {
			if ef == 1 && qi%2 == 1 && j == 3 {
				continue
			}
			ids = append(ids, uint64(id))
		}
		return ids, nil
	}
}

func (fakeEngine) close() error { return nil }

func TestConfigValidate(t *testing.T) {
	good := Config{Dataset: "siftsmall"}
	good.EnsureDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if len(good.Quants) != 3 || good.K != 10 || good.M0 != 32 || good.Modes[0] != ModeInProcess {
		t.Errorf("defaults = %+v", good)
	}
	u := Config{Dataset: "siftsmall", URL: "http://x:1"}
	u.EnsureDefaults()
	if u.Modes[0] != ModeHTTP {
		t.Errorf("with a URL the default mode is %v", u.Modes)
	}
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
	}{
		{"no data", func(c *Config) { c.Dataset = "" }},
		{"both", func(c *Config) { c.Base = "b" }},
		{"unknown set", func(c *Config) { c.Dataset = "glove" }},
		{"no queries", func(c *Config) { c.Dataset, c.Base = "", "b" }},
		{"k", func(c *Config) { c.K = -1 }},
		{"m", func(c *Config) { c.M = 1 }},
		{"m0", func(c *Config) { c.M0 = 8 }},
		{"efc", func(c *Config) { c.EfConstruction = 4 }},
		{"quant", func(c *Config) { c.Quants = []string{"pq4"} }},
		{"quant twice", func(c *Config) { c.Quants = []string{"f32", "f32"} }},
		{"mode", func(c *Config) { c.Modes = []string{"grpc"} }},
		{"ef", func(c *Config) { c.Efs = []int{0} }},
		{"target", func(c *Config) { c.Targets = []float64{1.5} }},
		{"metric", func(c *Config) { c.Metric = "ip" }},
		{"threads", func(c *Config) { c.Threads = -1 }},
		{"collection", func(c *Config) { c.Collection = "a/b" }},
	} {
		c := good
		tc.mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", tc.name, err)
		}
	}
	for dim, want := range map[int]int{128: 16, 784: 16, 100: 10, 17: 1, 30: 15} {
		if got, _ := good.pqM(dim); got != want {
			t.Errorf("pqM(%d) = %d, want %d", dim, got, want)
		}
	}
	c := good
	c.PQM = 7
	if _, err := c.pqM(128); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("pq m 7 for dim 128: %v", err)
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine("build", 50, 200, 1500*time.Millisecond)
	want := "build                        [#######.......................]  25% 50/200 1.5s"
	if got != want {
		t.Errorf("progressLine = %q, want %q", got, want)
	}
	var b bytes.Buffer
	p := newProgress(&b, "x", 10)
	p.Add(4)
	p.Done()
	if !strings.HasSuffix(b.String(), "100% 10/10 "+strings.Fields(b.String())[len(strings.Fields(b.String()))-1]+"\n") {
		t.Errorf("progress output %q", b.String())
	}
	var none *progress
	none.Add(1) // a nil bar is a no-op
	none.Done()
	if newProgress(nil, "x", 10) != nil {
		t.Errorf("progress without a writer")
	}
}
