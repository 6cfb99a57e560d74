//go:build cgo

package main

import (
	"errors"
	"math/rand"
	"strings"
	"testing"
	"unsafe"

	"github.com/lsmvec/lsmvec/store"
)

func openTest(t *testing.T, dim int) *engine {
	t.Helper()
	e, err := openEngine(config{Dir: t.TempDir(), Dim: dim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.close() })
	return e
}

func TestEngineSearchAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items: allocation counts are meaningless")
	}
	const seed = 7
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	e := openTest(t, 16)
	v := make([]float32, 16)
	for i := 0; i < 200; i++ {
		for j := range v {
			v[j] = rng.Float32()
		}
		if err := e.put(uint64(i), v, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	ids, dists := make([]uint64, 10), make([]float32, 10)
	n, err := e.search(v, 10, 0, nil, ids, dists)
	if err != nil || n != 10 || ids[0] != 199 {
		t.Fatalf("search = %d, %v, first id %d; want 10 results, nearest 199", n, err, ids[0])
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := e.search(v, 10, 0, nil, ids, dists); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("search allocates %.1f times per call, want 0", allocs)
	}
}

func TestEngineErrorCodes(t *testing.T) {
	e := openTest(t, 4)
	ids, dists := make([]uint64, 3), make([]float32, 3)
	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"dimension", e.put(1, []float32{1, 2}, nil, false), codeDimension},
		{"update absent", e.put(9, []float32{1, 2, 3, 4}, nil, true), codeNotFound},
		{"delete absent", e.delete(9), codeNotFound},
		{"bad payload", e.put(1, []float32{1, 2, 3, 4}, []byte("[1]"), false), codeInvalid},
		{"nan", e.put(1, []float32{1, 2, 3, float32(nan())}, nil, false), codeInvalid},
		{"k too big for buffers", func() error { _, err := e.search([]float32{1, 2, 3, 4}, 5, 0, nil, ids, dists); return err }(), codeInvalid},
		{"bad filter", func() error { _, err := compileFilter([]byte(`{"a":{"$nope":1}}`)); return err }(), codeInvalid},
	} {
		if got := codeOf(tc.err); got != tc.code {
			t.Errorf("%s: code %d (%v), want %d", tc.name, got, tc.err, tc.code)
		}
	}
	if err := e.close(); err != nil {
		t.Fatal(err)
	}
	if err := e.put(1, []float32{1, 2, 3, 4}, nil, false); codeOf(err) != codeClosed {
		t.Errorf("put after close: %v, want closed", err)
	}
	if _, err := openEngine(config{Dir: t.TempDir(), Dim: 4, M: 1}); codeOf(err) != codeInvalid {
		t.Errorf("m=1: %v, want invalid", err)
	}
}

func nan() float64 { var z float64; return z / z }

func TestPanickedWritesTruncatedMessage(t *testing.T) {
	buf := make([]byte, 16)
	if got := panicked("boom boom boom boom", unsafe.Pointer(&buf[0]), uintptr(len(buf))); got != codeInternal {
		t.Fatalf("code %d, want %d", got, codeInternal)
	}
	s := string(buf[:strings.IndexByte(string(buf), 0)])
	if len(s) != 15 || !strings.HasPrefix("lsm_vec: internal error", s) {
		t.Errorf("message %q, want the first 15 bytes of the panic message", s)
	}
	writeMsg(nil, 0, "ignored") // must not crash
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	e, err := openEngine(config{Dir: dir, Metric: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.put(5, []float32{3, 4}, []byte(`{"a":1}`), false); err != nil {
		t.Fatal(err)
	}
	if err := e.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := openEngine(config{Dir: dir, Dim: 3}); !errors.Is(err, store.ErrDimension) {
		t.Fatalf("reopen with dim 3: %v, want ErrDimension", err)
	}
	e, err = openEngine(config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	got := make([]float32, 2)
	if err := e.get(5, got); err != nil || got[0] != 3 || got[1] != 4 {
		t.Fatalf("get = %v, %v; want [3 4]", got, err)
	}
	if st, err := e.stats(); err != nil || !strings.Contains(string(st), `"metric":"ip"`) {
		t.Fatalf("stats = %s, %v; want metric ip", st, err)
	}
	p, err := e.payload(5, nil)
	if err != nil || string(p) != `{"a":1}` {
		t.Fatalf("payload = %s, %v", p, err)
	}
}

// TestGoSearchLoopThreads checks the benchmark's Go reference: every
// thread count searches every query of every round, and finds what
// searchBatch finds.
func TestGoSearchLoopThreads(t *testing.T) {
	const seed, dim, n, nq, k = 11, 8, 300, 23, 5
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	e := openTest(t, dim)
	v := make([]float32, dim)
	for i := 0; i < n; i++ {
		for j := range v {
			v[j] = rng.Float32()
		}
		if err := e.put(uint64(i), v, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	qs := make([]float32, nq*dim)
	for i := range qs {
		qs[i] = rng.Float32()
	}
	ids, dists, counts := make([]uint64, nq*k), make([]float32, nq*k), make([]int32, nq)
	if err := e.searchBatch(qs, dim, k, 0, nil, 3, ids, dists, counts); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, c := range counts {
		want += int(c)
	}
	if want != nq*k {
		t.Fatalf("searchBatch found %d results, want %d", want, nq*k)
	}
	for _, threads := range []int{1, 2, 3, 0, 100} {
		for _, rounds := range []int{1, 3} {
			got, err := e.goSearchLoop(qs, dim, nq, k, 0, rounds, threads)
			if err != nil || got != want*rounds {
				t.Errorf("goSearchLoop(threads %d, rounds %d) = %d, %v; want %d", threads, rounds, got, err, want*rounds)
			}
		}
	}
	if _, err := e.goSearchLoop(qs, dim, nq, k, 0, 0, 1); codeOf(err) != codeInvalid {
		t.Errorf("rounds 0: %v, want invalid", err)
	}
	if _, err := e.goSearchLoop(qs[:dim*2], dim, nq, k, 0, 1, 2); codeOf(err) != codeInvalid {
		t.Errorf("short queries: %v, want invalid", err)
	}
}
