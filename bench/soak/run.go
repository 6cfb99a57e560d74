// Package soak is lsmvec's load and crash-loop reliability harness (issue
// #10). It runs the built server binary on loopback with a temporary data
// directory and an API key, and drives the /v1 API from concurrent clients
// with a mixed load: 70% search, 20% insert/upsert (single inserts with a
// payload, vector-only upserts, small batches), 5% delete and 5% payload
// merge patch, over a fixed id space so that the live set, and with it the
// index, stays bounded.
//
// A client-side ledger records the last acknowledged state of every id
// (vector, payload, or deleted). Each id has one writer goroutine, so
// writes to an id are never concurrent and the check is exact: at the end
// of the soak, after a clean restart, and after every crash-loop restart,
// every id is read back and must be in its acknowledged state, or, for ids
// whose last writes got no answer because the server was killed, in the
// state one of those writes would have left (see idState).
//
// The soak phase samples the server's VmRSS and judges its trend after
// warm-up; the crash loop SIGKILLs the server at seeded random moments
// (sometimes again while it recovers), restarts it on the same data
// directory and measures the time until GET /ready answers 200. Any 5xx,
// unanswered request outside a kill, lost or corrupted write, or unstable
// RSS fails the run. cmd/lsmvec-soak is the command line; docs/reliability.md
// has the figures.
package soak

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// KindResult is one operation kind's figures in a phase.
type KindResult struct {
	Kind  string `json:"kind"`
	Count uint64 `json:"count"` // answered requests
	// OpsPerSec is Count over the phase's load time.
	OpsPerSec float64 `json:"ops_per_sec"`
	// P50Ms, P99Ms are latency quantiles (upper bounds at most 6.25% high);
	// MaxMs the largest latency.
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
	// OK counts answers as the ledger expected; Status5xx, Bad (other
	// unexpected answers) and Transport (no answer, no kill) fail the run.
	OK        uint64 `json:"ok"`
	Status5xx uint64 `json:"status_5xx"`
	Bad       uint64 `json:"bad"`
	Transport uint64 `json:"transport_errors"`
}

// VerifyResult is one read-back of the whole id space against the ledger.
type VerifyResult struct {
	When   string  `json:"when"`
	TookMs float64 `json:"took_ms"`
	// Live and Absent count ids found as the ledger allows.
	Live   int `json:"live"`
	Absent int `json:"absent"`
	// Uncertain counts ids with writes that got no answer (in flight at a
	// kill); Applied of them were found in the state such a write leaves,
	// NotApplied in the last acknowledged one. Both outcomes are correct.
	Uncertain  int `json:"uncertain"`
	Applied    int `json:"applied"`
	NotApplied int `json:"not_applied"`
	// Lost, Resurrected and Corrupted count failures: an acknowledged
	// write missing, an acknowledged delete undone, any other state the
	// ledger cannot explain (vector or payload differs, or a mix of two
	// writes). Errors counts ids that could not be read.
	Lost        int `json:"lost"`
	Resurrected int `json:"resurrected"`
	Corrupted   int `json:"corrupted"`
	Errors      int `json:"errors"`
}

func (v *VerifyResult) add(o *VerifyResult) {
	v.Live += o.Live
	v.Absent += o.Absent
	v.Uncertain += o.Uncertain
	v.Applied += o.Applied
	v.NotApplied += o.NotApplied
	v.Lost += o.Lost
	v.Resurrected += o.Resurrected
	v.Corrupted += o.Corrupted
	v.Errors += o.Errors
}

// Failed reports whether the read-back found anything wrong.
func (v *VerifyResult) Failed() bool {
	return v.Lost+v.Resurrected+v.Corrupted+v.Errors > 0
}

// PhaseResult is the figures of the soak phase or of the crash loop.
type PhaseResult struct {
	Name string `json:"name"`
	// LoadS is the time the load ran, in seconds (in the crash loop, the
	// sum of the rounds' load before each kill).
	LoadS float64      `json:"load_s"`
	Ops   []KindResult `json:"ops"`
	// TotalOpsPerSec is every answered request over LoadS.
	TotalOpsPerSec float64 `json:"total_ops_per_sec"`
	Status5xx      uint64  `json:"status_5xx"`
	// UnknownWrites counts writes without an answer because of a kill.
	UnknownWrites int            `json:"unknown_writes"`
	Verifies      []VerifyResult `json:"verifies"`
	// RSS is the soak phase's memory trend (nil in the crash loop).
	RSS        *RSSTrend   `json:"rss,omitempty"`
	RSSSamples []RSSSample `json:"rss_samples,omitempty"`
}

// CrashRound is one kill and restart of the crash loop.
type CrashRound struct {
	Round int `json:"round"`
	// UpMs is how long the load ran before the kill.
	UpMs float64 `json:"up_ms"`
	// InFlightWrites counts writes the kill left without an answer.
	InFlightWrites int `json:"in_flight_writes"`
	// StartupKill reports a second kill while the server restarted, at
	// StartupKillMs after its start (recovery, index load).
	StartupKill   bool    `json:"startup_kill"`
	StartupKillMs float64 `json:"startup_kill_ms,omitempty"`
	// ReadyMs is the time from the (last) restart until GET /ready
	// answered 200.
	ReadyMs  float64 `json:"ready_ms"`
	VerifyMs float64 `json:"verify_ms"`
	// Replayed is /v1/stats writes_since_checkpoint right after the
	// restart: the log records the recovery replayed. WALMiB is Pebble's
	// WAL on disk then (what Pebble replayed into its memtables).
	Replayed int64   `json:"replayed"`
	WALMiB   float64 `json:"wal_mib"`
}

// CrashResult is the crash loop's figures.
type CrashResult struct {
	PhaseResult
	Rounds       []CrashRound `json:"rounds"`
	StartupKills int          `json:"startup_kills"`
	ReadyP50Ms   float64      `json:"ready_p50_ms"`
	ReadyMaxMs   float64      `json:"ready_max_ms"`
}

// Result is a whole run's figures and verdict.
type Result struct {
	Start    time.Time `json:"start"`
	Seed     uint64    `json:"seed"`
	Clients  int       `json:"clients"`
	IDs      int       `json:"ids"`
	Dim      int       `json:"dim"`
	Duration string    `json:"duration"`
	Crashes  int       `json:"crashes"`
	Binary   string    `json:"binary"`
	WorkDir  string    `json:"work_dir"`
	CPUs     int       `json:"cpus"`
	// FirstReadyMs is the time the first start took to become ready.
	FirstReadyMs float64      `json:"first_ready_ms"`
	Soak         *PhaseResult `json:"soak,omitempty"`
	Crash        *CrashResult `json:"crash,omitempty"`
	// CleanStops counts SIGTERM stops that exited 0.
	CleanStops int `json:"clean_stops"`
	// ServerLogProblems are lines of the server's log that report a panic,
	// a fatal error or a data race (each fails the run), and its ERROR
	// lines (reported).
	ServerLogProblems []string `json:"server_log_problems,omitempty"`
	// Failures lists what failed (the first 100); FailureCount counts all.
	Failures     []string `json:"failures,omitempty"`
	FailureCount int      `json:"failure_count"`
	ElapsedS     float64  `json:"elapsed_s"`
	Pass         bool     `json:"pass"`
}

// runner is one run's shared state.
type runner struct {
	cfg     Config
	key     string
	binary  string
	dataDir string
	log     *os.File
	ledger  []idState // by id; see idState for who may touch an entry
	clients []*client

	// gate parks the clients: each operation holds it for reading; the
	// crash loop holds it for writing while the server is down, restarts
	// and is verified. down tells clients not to start operations (set
	// before a kill, before the harness waits for the gate).
	gate sync.RWMutex
	down atomic.Bool
	gen  atomic.Uint64            // incremented before each kill
	ep   atomic.Pointer[endpoint] // the current server run
	proc *proc                    // the current server process (harness goroutine only)

	mu struct {
		sync.Mutex
		failures []string
		count    int
	}
}

const maxFailures = 100

func (r *runner) failf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.count++
	if len(r.mu.failures) < maxFailures {
		r.mu.failures = append(r.mu.failures, msg)
	}
	if r.mu.count <= 5 {
		fmt.Fprintf(r.cfg.Log, "FAIL: %s\n", msg)
	}
}

func (r *runner) failures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.count
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "soak: "+format+"\n", args...)
}

// Run runs the soak phase and then the crash loop that cfg describes and
// returns their figures. It returns an error wrapping ErrChecksFailed,
// with the Result, when the run completed but a check failed; other errors
// (the binary would not build, the server never became ready) come with
// the Result as far as it got, or nil. Canceling ctx ends the load early.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res := &Result{Start: time.Now().UTC(), Seed: cfg.Seed, Clients: cfg.Clients, IDs: cfg.IDs, Dim: cfg.Dim,
		Duration: cfg.Duration.String(), Crashes: cfg.Crashes, CPUs: runtime.NumCPU()}
	workDir, cleanup := cfg.WorkDir, false
	if workDir == "" {
		d, err := os.MkdirTemp("", "lsmvec-soak-*")
		if err != nil {
			return nil, fmt.Errorf("cannot run the soak: %w", err)
		}
		workDir, cleanup = d, true
	}
	res.WorkDir = workDir
	r := &runner{cfg: cfg, dataDir: filepath.Join(workDir, "data"), ledger: make([]idState, cfg.IDs)}
	sum := sha256.Sum256([]byte("lsmvec-soak " + strconv.FormatUint(cfg.Seed, 10)))
	r.key = "soak-" + hex.EncodeToString(sum[:12])
	err := r.run(ctx, res)
	if r.proc != nil {
		if done, _ := r.proc.exited(); !done {
			r.proc.kill() // a run that ended on an error
		}
	}
	res.ElapsedS = time.Since(res.Start).Seconds()
	if r.log != nil {
		res.ServerLogProblems = scanLog(r.log.Name())
		r.log.Close()
	}
	for _, l := range res.ServerLogProblems {
		if !strings.HasPrefix(l, "ERROR") {
			r.failf("server log: %s", l)
		}
	}
	r.mu.Lock()
	res.Failures, res.FailureCount = r.mu.failures, r.mu.count
	r.mu.Unlock()
	if err == nil && res.FailureCount > 0 {
		err = fmt.Errorf("cannot pass the soak: %w: %d failures, first: %s", ErrChecksFailed, res.FailureCount, res.Failures[0])
	}
	res.Pass = err == nil
	if res.Pass && cleanup {
		os.RemoveAll(workDir)
	}
	return res, err
}

func (r *runner) run(ctx context.Context, res *Result) error {
	var err error
	if err = os.MkdirAll(r.dataDir, 0o755); err != nil {
		return fmt.Errorf("cannot run the soak: %w", err)
	}
	r.log, err = os.Create(filepath.Join(filepath.Dir(r.dataDir), "server.log"))
	if err != nil {
		return fmt.Errorf("cannot run the soak: %w", err)
	}
	r.binary = r.cfg.Binary
	if r.binary == "" {
		r.logf("building ./cmd/lsmvec")
		if r.binary, err = Build(filepath.Dir(r.dataDir)); err != nil {
			return err
		}
	}
	res.Binary = r.binary
	ready, err := r.start()
	if err != nil {
		return err
	}
	res.FirstReadyMs = ms(ready)
	for i := range r.cfg.Clients {
		r.clients = append(r.clients, newClient(r, i))
	}
	r.logf("filling %d ids (dim %d) with %d clients, seed %d", r.cfg.IDs, r.cfg.Dim, r.cfg.Clients, r.cfg.Seed)
	r.parallel(func(c *client) { c.fill(r.ep.Load()) })
	if n := r.failures(); n > 0 {
		return fmt.Errorf("cannot fill the id space: %w: %d failures", ErrChecksFailed, n)
	}
	if r.cfg.Duration > 0 {
		res.Soak, err = r.soak(ctx)
		if err != nil {
			return err
		}
		if err := r.stop(); err != nil {
			return err
		}
		res.CleanStops++
		if _, err := r.start(); err != nil {
			return err
		}
		res.Soak.Verifies = append(res.Soak.Verifies, r.verify("after a clean restart"))
	}
	if r.cfg.Crashes > 0 && ctx.Err() == nil {
		res.Crash, err = r.crashLoop(ctx)
		if err != nil {
			return err
		}
	}
	if err := r.stop(); err != nil {
		return err
	}
	res.CleanStops++
	return nil
}

// start starts the server and waits for /ready.
func (r *runner) start() (time.Duration, error) {
	for attempt := 1; ; attempt++ {
		logStart, _ := r.log.Seek(0, io.SeekCurrent)
		p, err := startServer(r.binary, r.dataDir, r.key, r.cfg.Dim, r.log)
		if err != nil {
			return 0, err
		}
		ready, err := p.waitReady(r.key, r.cfg.ReadyTimeout)
		if err != nil {
			p.kill()
			// The ports were free a moment before the server bound them;
			// another process may have taken one since. Only that is
			// retried.
			if attempt < 3 && errors.Is(err, ErrServerExited) && logSays(r.log.Name(), logStart, "address already in use") {
				continue
			}
			return 0, fmt.Errorf("cannot start the server (log: %s): %w", r.log.Name(), err)
		}
		r.proc = p
		r.ep.Store(newEndpoint(r.gen.Load(), p.addr, r.cfg.Clients+2))
		return ready, nil
	}
}

// logSays reports whether the log file holds s after offset from.
func logSays(path string, from int64, s string) bool {
	b, err := os.ReadFile(path)
	if err != nil || from > int64(len(b)) {
		return false
	}
	return strings.Contains(string(b[from:]), s)
}

// stop stops the server with SIGTERM; it must exit 0.
func (r *runner) stop() error {
	if done, err := r.proc.exited(); done && err != nil {
		return err
	}
	return r.proc.stop(r.cfg.ReadyTimeout)
}

// parallel runs fn for every client at once and waits.
func (r *runner) parallel(fn func(c *client)) {
	var wg sync.WaitGroup
	for _, c := range r.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(c)
		}()
	}
	wg.Wait()
}

// verify reads the whole id space back against the ledger. The clients
// must be parked or stopped.
func (r *runner) verify(when string) VerifyResult {
	t0 := time.Now()
	ep := r.ep.Load()
	parts := make([]VerifyResult, len(r.clients))
	var wg sync.WaitGroup
	for i, c := range r.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i].When = when
			c.verify(ep, &parts[i])
		}()
	}
	wg.Wait()
	v := VerifyResult{When: when, TookMs: ms(time.Since(t0))}
	for i := range parts {
		v.add(&parts[i])
	}
	r.logf("verify (%s): %d live, %d absent, %d uncertain (%d applied), lost %d, resurrected %d, corrupted %d, errors %d, %.0f ms",
		when, v.Live, v.Absent, v.Uncertain, v.Applied, v.Lost, v.Resurrected, v.Corrupted, v.Errors, v.TookMs)
	return v
}

// load runs the clients until ctx ends, each operation under the gate.
func (r *runner) load(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, c := range r.clients {
		c.stats = [numKinds]kindStats{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				r.gate.RLock()
				if r.down.Load() {
					r.gate.RUnlock()
					time.Sleep(time.Millisecond)
					continue
				}
				c.step(r.ep.Load())
				r.gate.RUnlock()
			}
		}()
	}
	return &wg
}

// collect merges the clients' statistics into p.
func (r *runner) collect(p *PhaseResult, load time.Duration) {
	var all [numKinds]kindStats
	for _, c := range r.clients {
		for k := range all {
			all[k].merge(&c.stats[k])
		}
	}
	p.LoadS = load.Seconds()
	var total uint64
	for k := range all {
		s := &all[k]
		kr := KindResult{Kind: kind(k).String(), Count: s.lat.count, OK: s.ok, Status5xx: s.status5xx, Bad: s.bad, Transport: s.transport,
			P50Ms: ms(s.lat.quantile(0.50)), P99Ms: ms(s.lat.quantile(0.99)), MaxMs: ms(s.lat.max)}
		if s.lat.count > 0 {
			kr.MeanMs = s.lat.sumSec * 1000 / float64(s.lat.count)
		}
		if p.LoadS > 0 {
			kr.OpsPerSec = float64(s.lat.count) / p.LoadS
		}
		total += s.lat.count
		p.Status5xx += s.status5xx
		p.Ops = append(p.Ops, kr)
	}
	if p.LoadS > 0 {
		p.TotalOpsPerSec = float64(total) / p.LoadS
	}
}

// unknownWrites counts the ledger's pending unknown outcomes.
func (r *runner) unknownWrites() int {
	n := 0
	for i := range r.ledger {
		n += len(r.ledger[i].alts)
	}
	return n
}

// soak runs the load for Duration while sampling RSS, then verifies.
func (r *runner) soak(ctx context.Context) (*PhaseResult, error) {
	p := &PhaseResult{Name: "soak"}
	r.logf("soak: %v of load, RSS every %v", r.cfg.Duration, r.cfg.RSSInterval)
	lctx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()
	t0 := time.Now()
	wg := r.load(lctx)
	pid := r.proc.pid()
	tick := time.NewTicker(r.cfg.RSSInterval)
	pr := &probe{key: r.key}
	sample := func() {
		mib, err := rssMiB(pid)
		if err != nil {
			r.failf("%v", err)
			return
		}
		s := RSSSample{T: time.Since(t0).Seconds(), MiB: mib}
		pr.read(r.proc.addr, &s)
		p.RSSSamples = append(p.RSSSamples, s)
	}
	sample()
	lastLog := t0
	for lctx.Err() == nil {
		select {
		case <-lctx.Done():
		case <-tick.C:
			sample()
			if time.Since(lastLog) >= 30*time.Second {
				lastLog = time.Now()
				s := p.RSSSamples[len(p.RSSSamples)-1]
				r.logf("soak: %.0fs, RSS %.1f MiB (Go heap %.1f, index %.1f, block cache %.1f, memtables %.1f; %d vectors, %d tombstones), %d failures",
					s.T, s.MiB, s.HeapMiB, s.IndexMiB, s.CacheMiB, s.MemtableMiB, s.Vectors, s.Tombstones, r.failures())
			}
		}
		if done, err := r.proc.exited(); done {
			cancel()
			wg.Wait()
			return p, fmt.Errorf("cannot soak (log: %s): %w", r.log.Name(), err)
		}
	}
	tick.Stop()
	wg.Wait()
	load := time.Since(t0)
	sample()
	r.collect(p, load)
	tr := trendOf(p.RSSSamples, trendBounds{warmup: r.cfg.Warmup.Seconds(), span: load.Seconds(), minSpan: r.cfg.MinTrendSpan.Seconds(),
		maxHeapSlope: r.cfg.MaxHeapSlope, maxRatio: r.cfg.MaxHeapRatio, slackMiB: r.cfg.RSSSlackMiB})
	p.RSS = &tr
	if tr.Judged && !tr.Stable {
		r.failf("memory grows after warm-up: Go heap slope %.2f MiB/min over the last %.0f s (max %.2f), heap last/first %.3f (max %.2f), RSS max %.1f MiB (ceiling %.1f)",
			tr.Heap.SlopeMiBPerMin, tr.SecondHalfS, r.cfg.MaxHeapSlope, tr.Heap.Ratio, r.cfg.MaxHeapRatio, tr.MaxMiB, tr.CeilingMiB)
	}
	p.UnknownWrites = r.unknownWrites()
	p.Verifies = append(p.Verifies, r.verify("end of soak"))
	return p, nil
}

// crashLoop runs the load while killing and restarting the server
// Crashes times, verifying the ledger after each restart.
func (r *runner) crashLoop(ctx context.Context) (*CrashResult, error) {
	cr := &CrashResult{PhaseResult: PhaseResult{Name: "crash loop"}}
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0xc0a5))
	pr := &probe{key: r.key}
	r.logf("crash loop: %d rounds, load up to %v before each kill", r.cfg.Crashes, r.cfg.MaxUp)
	lctx, cancel := context.WithCancel(ctx)
	wg := r.load(lctx)
	defer func() {
		cancel()
		wg.Wait()
	}()
	var loaded time.Duration
	lastReady := 200 * time.Millisecond
	for round := 1; round <= r.cfg.Crashes && ctx.Err() == nil; round++ {
		rd := CrashRound{Round: round}
		up := time.Duration(rng.Int64N(int64(r.cfg.MaxUp) + 1))
		t0 := time.Now()
		select {
		case <-time.After(up):
		case <-ctx.Done():
		}
		if done, err := r.proc.exited(); done {
			return cr, fmt.Errorf("cannot run crash round %d (log: %s): %w", round, r.log.Name(), err)
		}
		r.down.Store(true)
		r.gen.Add(1)
		r.proc.kill()
		rd.UpMs = ms(time.Since(t0))
		loaded += time.Since(t0)
		r.gate.Lock()
		rd.InFlightWrites = r.unknownWrites()
		cr.UnknownWrites += rd.InFlightWrites
		if rng.Float64() < r.cfg.StartupKillFraction {
			// Kill it again while it recovers: somewhere in the time the
			// last start took to become ready.
			at := time.Duration(rng.Int64N(int64(lastReady) + 1))
			p, err := startServer(r.binary, r.dataDir, r.key, r.cfg.Dim, r.log)
			if err != nil {
				r.gate.Unlock()
				return cr, err
			}
			time.Sleep(at)
			if done, err := p.exited(); done {
				r.gate.Unlock()
				return cr, fmt.Errorf("cannot run crash round %d (log: %s): %w", round, r.log.Name(), err)
			}
			p.kill()
			rd.StartupKill, rd.StartupKillMs = true, ms(at)
			cr.StartupKills++
		}
		ready, err := r.start()
		if err != nil {
			r.gate.Unlock()
			return cr, fmt.Errorf("cannot run crash round %d: %w", round, err)
		}
		lastReady = ready
		rd.ReadyMs = ms(ready)
		if st, err := pr.stats(r.proc.addr); err == nil {
			rd.Replayed, rd.WALMiB = st.WritesSinceCheckpoint, st.WALBytes/(1<<20)
		}
		v := r.verify(fmt.Sprintf("crash round %d", round))
		rd.VerifyMs = v.TookMs
		cr.Verifies = append(cr.Verifies, v)
		cr.Rounds = append(cr.Rounds, rd)
		r.logf("crash round %d: up %.0f ms, %d writes in flight, startup kill %v, ready in %.0f ms (%d log records replayed, WAL %.1f MiB)",
			round, rd.UpMs, rd.InFlightWrites, rd.StartupKill, rd.ReadyMs, rd.Replayed, rd.WALMiB)
		r.down.Store(false)
		r.gate.Unlock()
	}
	cancel()
	wg.Wait()
	r.collect(&cr.PhaseResult, loaded)
	cr.UnknownWrites += r.unknownWrites() // none: the loop ended on a verify
	cr.Verifies = append(cr.Verifies, r.verify("end of crash loop"))
	readies := make([]float64, 0, len(cr.Rounds))
	for _, rd := range cr.Rounds {
		readies = append(readies, rd.ReadyMs)
	}
	sort.Float64s(readies)
	if n := len(readies); n > 0 {
		cr.ReadyP50Ms = readies[(n-1)/2]
		cr.ReadyMaxMs = readies[n-1]
	}
	return cr, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// scanLog returns the server log's lines that report a panic, a fatal
// error or a data race, and its ERROR lines prefixed "ERROR: " (at most 20
// of each).
func scanLog(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{"cannot read the server log: " + err.Error()}
	}
	var fatal, errs []string
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") || strings.Contains(l, "DATA RACE"):
			if len(fatal) < 20 {
				fatal = append(fatal, truncate(l, 300))
			}
		case strings.Contains(l, "level=ERROR"):
			if len(errs) < 20 {
				errs = append(errs, "ERROR: "+truncate(l, 300))
			}
		}
	}
	return append(fatal, errs...)
}
