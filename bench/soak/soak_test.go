package soak

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests below run the real server binary: they build ./cmd/lsmvec once
// and skip under -short (each takes 5 to 15 seconds).

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func serverBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the server binary for several seconds; skipped with -short")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "lsmvec-soak-test-*")
		if built.err == nil {
			built.path, built.err = Build(built.dir)
		}
	})
	if built.err != nil {
		t.Fatalf("cannot build the server: %v", built.err)
	}
	return built.path
}

func testLog(t *testing.T) *strings.Builder { return &strings.Builder{} }

func checkPass(t *testing.T, res *Result, err error, log *strings.Builder) {
	t.Helper()
	if err != nil || res == nil || !res.Pass {
		var b strings.Builder
		if res != nil {
			_ = WriteMarkdown(&b, res)
		}
		t.Fatalf("run failed: %v\n%s\nprogress:\n%s", err, b.String(), log.String())
	}
}

func checkPhase(t *testing.T, p *PhaseResult, wantVerifies int) {
	t.Helper()
	if len(p.Ops) != int(numKinds) {
		t.Fatalf("%s: %d kinds, want %d", p.Name, len(p.Ops), numKinds)
	}
	for _, k := range p.Ops {
		if k.Count == 0 || k.OK == 0 || k.P50Ms <= 0 || k.P99Ms < k.P50Ms || k.MaxMs < k.P99Ms*0.9 {
			t.Errorf("%s: %s: %+v; want operations with ordered latencies", p.Name, k.Kind, k)
		}
		if k.Status5xx+k.Bad+k.Transport != 0 {
			t.Errorf("%s: %s: %+v; want no errors", p.Name, k.Kind, k)
		}
	}
	if p.TotalOpsPerSec <= 0 || p.Status5xx != 0 {
		t.Errorf("%s: %.0f ops/s, %d 5xx", p.Name, p.TotalOpsPerSec, p.Status5xx)
	}
	if len(p.Verifies) != wantVerifies {
		t.Fatalf("%s: %d read-backs, want %d", p.Name, len(p.Verifies), wantVerifies)
	}
	for _, v := range p.Verifies {
		if v.Failed() || v.Live+v.Absent == 0 || v.Live == 0 {
			t.Errorf("%s: read-back %+v", p.Name, v)
		}
	}
}

// TestSoakShort runs an 8-second soak with 4 clients: no 5xx, every kind
// of the mix answered, the ledger read back at the end and after a clean
// restart, RSS sampled.
func TestSoakShort(t *testing.T) {
	bin := serverBinary(t)
	const seed = 11
	t.Logf("seed %d", seed)
	log := testLog(t)
	res, err := Run(context.Background(), Config{Binary: bin, Duration: 8 * time.Second, Clients: 4, IDs: 800,
		Seed: seed, RSSInterval: 500 * time.Millisecond, WorkDir: t.TempDir(), Log: log})
	checkPass(t, res, err, log)
	if res.Soak == nil || res.Crash != nil {
		t.Fatalf("phases: soak %v, crash %v", res.Soak != nil, res.Crash != nil)
	}
	checkPhase(t, res.Soak, 2)
	if rss := res.Soak.RSS; rss == nil || rss.Samples < 5 || rss.MaxMiB <= 1 || rss.Judged {
		t.Errorf("RSS %+v: want several samples, not judged in 8 s", rss)
	}
	if res.CleanStops != 2 || res.FirstReadyMs <= 0 {
		t.Errorf("clean stops %d, first ready %.0f ms", res.CleanStops, res.FirstReadyMs)
	}
	var md strings.Builder
	if err := WriteMarkdown(&md, res); err != nil || !strings.Contains(md.String(), "| patch |") || !strings.Contains(md.String(), "PASS") {
		t.Errorf("summary (%v):\n%s", err, md.String())
	}
}

// TestCrashLoopShort runs 3 crash rounds (each round, with this seed, also
// kills the server once while it recovers, since StartupKillFraction is
// 1): after each restart /ready answers and the ledger check passes.
func TestCrashLoopShort(t *testing.T) {
	bin := serverBinary(t)
	const seed = 5
	t.Logf("seed %d", seed)
	log := testLog(t)
	res, err := Run(context.Background(), Config{Binary: bin, Crashes: 3, Clients: 4, IDs: 800, Seed: seed,
		MaxUp: 1500 * time.Millisecond, StartupKillFraction: 1, WorkDir: t.TempDir(), Log: log})
	checkPass(t, res, err, log)
	if res.Soak != nil || res.Crash == nil {
		t.Fatalf("phases: soak %v, crash %v", res.Soak != nil, res.Crash != nil)
	}
	c := res.Crash
	if len(c.Rounds) != 3 || c.StartupKills != 3 {
		t.Fatalf("%d rounds, %d startup kills; want 3 and 3", len(c.Rounds), c.StartupKills)
	}
	for _, rd := range c.Rounds {
		if rd.ReadyMs <= 0 {
			t.Errorf("round %+v: no ready time", rd)
		}
	}
	for _, v := range c.Verifies {
		if v.Failed() || v.Uncertain != v.Applied+v.NotApplied {
			t.Errorf("read-back %+v", v)
		}
	}
	if len(c.Verifies) != 4 {
		t.Errorf("%d read-backs, want 4", len(c.Verifies))
	}
}

// TestVerifyDetects changes the server behind the ledger's back and checks
// that the read-back reports each change: a lost write, a resurrected
// delete, a different vector, a different payload, and the result of a
// write whose answer never came.
func TestVerifyDetects(t *testing.T) {
	bin := serverBinary(t)
	cfg := Config{Binary: bin, Clients: 2, IDs: 40, Seed: 3, Log: testLog(t)}
	cfg.EnsureDefaults()
	dir := t.TempDir()
	r := &runner{cfg: cfg, binary: bin, dataDir: filepath.Join(dir, "data"), key: "k", ledger: make([]idState, cfg.IDs)}
	var err error
	if r.log, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		t.Fatal(err)
	}
	defer r.log.Close()
	if _, err := r.start(); err != nil {
		t.Fatal(err)
	}
	defer r.proc.kill()
	for i := range cfg.Clients {
		r.clients = append(r.clients, newClient(r, i))
	}
	r.parallel(func(c *client) { c.fill(r.ep.Load()) })
	if v := r.verify("after fill"); v.Failed() || v.Live != cfg.IDs {
		t.Fatalf("after fill: %+v", v)
	}
	if r.failures() != 0 {
		t.Fatalf("fill: %v", r.mu.failures)
	}
	// The ledger deletes id 3 (acknowledged); another client then
	// re-inserts it, deletes 4, and rewrites 5's vector and 6's payload,
	// none of which the ledger hears of.
	ep := r.ep.Load()
	c0, c1 := r.clients[0], r.clients[1]
	c1.ids = []uint64{3}
	c1.write(ep, kindDelete)
	sneak := newClient(r, 0)
	sneak.ids = []uint64{3, 4, 5, 6}
	saved := append([]idState(nil), r.ledger...)
	for _, id := range []uint64{3, 5} {
		sneak.ids = []uint64{id}
		sneak.write(ep, kindInsert)
	}
	sneak.ids = []uint64{4}
	sneak.write(ep, kindDelete)
	sneak.ids = []uint64{6}
	sneak.write(ep, kindPatch)
	copy(r.ledger, saved) // forget what the sneak did
	// A write to 8 whose answer never came, and which was applied: the
	// read-back must accept it and take it into the ledger.
	pre := r.ledger[8].cur
	c0.ids = []uint64{8}
	c0.write(ep, kindInsert)
	applied := r.ledger[8].cur
	r.ledger[8].cur = pre
	r.ledger[8].unknown(applied)
	c0.ids, c1.ids = nil, nil
	for id := 0; id < cfg.IDs; id++ {
		r.clients[id%cfg.Clients].ids = append(r.clients[id%cfg.Clients].ids, uint64(id))
	}
	r.mu.failures, r.mu.count = nil, 0
	v := r.verify("after tampering")
	if v.Lost != 1 || v.Resurrected != 1 || v.Corrupted != 2 || v.Errors != 0 || v.Uncertain != 1 || v.Applied != 1 {
		t.Errorf("read-back %+v; want 1 lost, 1 resurrected, 2 corrupted, 1 uncertain applied", v)
	}
	if r.ledger[8].cur != applied || !r.ledger[8].certain() {
		t.Errorf("the applied unknown write was not taken into the ledger")
	}
	for _, id := range []uint64{3, 4, 5, 6} {
		if !r.ledger[id].broken {
			t.Errorf("id %d not marked broken", id)
		}
	}
	if n := r.failures(); n != 4 {
		t.Errorf("%d failures, want 4: %q", n, r.mu.failures)
	}
	// A second read-back skips the broken ids and finds nothing new.
	r.mu.failures, r.mu.count = nil, 0
	if v := r.verify("again"); v.Failed() || r.failures() != 0 {
		t.Errorf("second read-back %+v, failures %q", v, r.mu.failures)
	}
}

// TestRunErrors checks configuration errors and a binary that is not a
// server.
func TestRunErrors(t *testing.T) {
	if _, err := Run(context.Background(), Config{Clients: -3}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad config: %v, want ErrInvalidConfig", err)
	}
	if testing.Short() {
		return
	}
	trueBin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true command")
	}
	dir := t.TempDir()
	res, err := Run(context.Background(), Config{Binary: trueBin, Duration: time.Second, WorkDir: dir, ReadyTimeout: 5 * time.Second})
	if !errors.Is(err, ErrServerExited) || res == nil || res.Pass {
		t.Errorf("a binary that exits at once: %v (result %+v), want ErrServerExited", err, res)
	}
}
