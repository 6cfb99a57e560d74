package localserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/bench"
	"github.com/lsmvec/lsmvec/bench/dataset"
)

// TestRunHTTP measures a tiny synthetic set through the Casper API of an
// in-process server: the collection, update batches, PQ training, index
// build and binary searches of bench's HTTP mode, and the same set
// in-process; both must find the true neighbours at a large ef.
func TestRunHTTP(t *testing.T) {
	const seed, n, nq, dim = 9, 600, 30, 16
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	gen := func(m int) []float32 {
		v := make([]float32, m*dim)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	dir := t.TempDir()
	base, queries := gen(n), gen(nq)
	writeFvecs(t, dir+"/b.fvecs", base, dim)
	writeFvecs(t, dir+"/q.fvecs", queries, dim)
	quants := []string{bench.QuantF32, bench.QuantI8, bench.QuantPQ8}
	if testing.Short() {
		quants = quants[:1]
	}
	var log bytes.Buffer
	rep, err := bench.Run(context.Background(), bench.Config{
		Base: dir + "/b.fvecs", Queries: dir + "/q.fvecs", K: 10, Quants: quants,
		Modes: []string{bench.ModeInProcess, bench.ModeHTTP}, LocalServer: Start,
		Efs: []int{16, 200}, M: 8, EfConstruction: 64, Threads: 2, BuildThreads: 2, BatchSize: 128,
		MinTime: time.Millisecond, HNSWLib: "off", Log: &log,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	if len(rep.Notes) != 0 {
		t.Errorf("notes: %q", rep.Notes)
	}
	if len(rep.Runs) != 2*len(quants) {
		t.Fatalf("%d runs, want %d", len(rep.Runs), 2*len(quants))
	}
	for _, run := range rep.Runs {
		last := run.Points[len(run.Points)-1]
		if last.Recall < 0.97 {
			t.Errorf("%s: recall@10 at ef=200 is %.3f, want ≥ 0.97", run.Name, last.Recall)
		}
		if run.Mode == bench.ModeHTTP {
			if run.Build.LoadSeconds <= 0 || run.Build.BuildSeconds <= 0 || run.Build.MemoryBytes <= 0 {
				t.Errorf("%s: build %+v", run.Name, run.Build)
			}
			if run.Quant == bench.QuantPQ8 && run.Build.TrainSeconds <= 0 {
				t.Errorf("%s: no training time", run.Name)
			}
		}
	}
	if !strings.Contains(log.String(), "lsmvec f32 http ef=200") {
		t.Errorf("log lacks the HTTP sweep:\n%s", log.String())
	}
}

func TestStartClose(t *testing.T) {
	s, err := Start(1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q", s.URL())
	}
	if _, err := s.MemoryBytes("absent"); err == nil {
		t.Errorf("MemoryBytes of an absent collection gave no error")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

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
	if _, _, d, err := dataset.ReadFile(path); err != nil || d != dim {
		t.Fatalf("cannot read back %s: dim %d, %v", path, d, err)
	}
}
