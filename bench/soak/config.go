package soak

import (
	"fmt"
	"io"
	"time"
)

// Config describes one run: a soak phase of Duration, then a crash loop of
// Crashes rounds, against one data directory and one client-side ledger.
// The zero value is usable after EnsureDefaults (a 1-minute soak, no crash
// loop). A Config is read by Run and not retained.
type Config struct {
	// Binary is the lsmvec server binary to run. Empty: Run builds
	// ./cmd/lsmvec of this module into WorkDir with `go build`.
	Binary string
	// WorkDir holds the data directory, the built binary and the server's
	// log. Empty: a new temporary directory, removed at the end unless the
	// run failed (its path is in Result.WorkDir).
	WorkDir string

	// Duration is the length of the soak phase (mixed load, no crashes).
	// Zero skips the phase unless Crashes is zero too, in which case it is
	// 1 minute.
	Duration time.Duration
	// Crashes is the number of crash-loop rounds after the soak: load, then
	// SIGKILL at a random moment, restart on the same data directory, wait
	// for /ready, verify the ledger. Zero skips the crash loop.
	Crashes int
	// Clients is the number of concurrent client goroutines, each with its
	// own keep-alive connection. The default is 8.
	Clients int
	// Seed seeds every random choice (ops, vectors, kill moments). Zero
	// means 1.
	Seed uint64

	// IDs is the size of the fixed id space that writes go to (ids 0 to
	// IDs-1), so that the live set, and with it the index, stays bounded.
	// The default is 5000.
	IDs int
	// Dim is the vectors' dimension (LSMVEC_DIM). The default is 32.
	Dim int

	// Warmup is the start of the soak phase that the RSS trend ignores. The
	// default is a third of Duration.
	Warmup time.Duration
	// RSSInterval is how often the server's VmRSS is sampled. The default
	// is 2 seconds.
	RSSInterval time.Duration
	// MaxHeapSlope is the largest growth of the server's Go heap accepted
	// over the second half of the soak phase, in MiB per minute
	// (least-squares slope). The default is 1 (1.4 GiB a day). See
	// RSSTrend for why the heap, not RSS, is what must not trend.
	MaxHeapSlope float64
	// MaxHeapRatio is the largest accepted ratio of the Go heap at the end
	// of the soak phase to the heap right after warm-up (each the mean of
	// a few samples). The default is 1.5 (a heap sampled at random points
	// of its GC cycle varies by up to 2x).
	MaxHeapRatio float64
	// RSSSlackMiB is the part of the RSS ceiling (see RSSTrend) for the
	// binary, goroutine stacks and the runtime. The default is 64.
	RSSSlackMiB float64
	// MinTrendSpan is the shortest second half over which the trend is
	// judged; shorter runs report it without judging. The default is 2
	// minutes.
	MinTrendSpan time.Duration

	// MaxUp bounds the load time of a crash-loop round before the kill: a
	// uniform draw in [0, MaxUp]. The default is 3 seconds.
	MaxUp time.Duration
	// StartupKillFraction is the share of crash-loop rounds that kill the
	// server a second time while it starts (recovery, index load) before
	// the restart that is measured. The default is 0.2; negative means
	// none.
	StartupKillFraction float64
	// ReadyTimeout bounds how long a (re)started server may take to answer
	// GET /ready with 200. The default is 2 minutes.
	ReadyTimeout time.Duration
	// RequestTimeout bounds one HTTP request. The default is 30 seconds.
	RequestTimeout time.Duration

	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Defaults of Config fields, applied by EnsureDefaults.
const (
	DefaultClients        = 8
	DefaultIDs            = 5000
	DefaultDim            = 32
	DefaultRSSInterval    = 2 * time.Second
	DefaultMaxHeapSlope   = 1.0
	DefaultMaxHeapRatio   = 1.5
	DefaultRSSSlackMiB    = 64
	DefaultMinTrendSpan   = 2 * time.Minute
	DefaultMaxUp          = 3 * time.Second
	DefaultStartupKills   = 0.2
	DefaultReadyTimeout   = 2 * time.Minute
	DefaultRequestTimeout = 30 * time.Second
)

// EnsureDefaults fills every zero field with its default and returns c.
func (c *Config) EnsureDefaults() *Config {
	if c.Duration == 0 && c.Crashes == 0 {
		c.Duration = time.Minute
	}
	if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.IDs == 0 {
		c.IDs = DefaultIDs
	}
	if c.Dim == 0 {
		c.Dim = DefaultDim
	}
	if c.Warmup == 0 {
		c.Warmup = c.Duration / 3
	}
	if c.RSSInterval == 0 {
		c.RSSInterval = DefaultRSSInterval
	}
	if c.MaxHeapSlope == 0 {
		c.MaxHeapSlope = DefaultMaxHeapSlope
	}
	if c.MaxHeapRatio == 0 {
		c.MaxHeapRatio = DefaultMaxHeapRatio
	}
	if c.RSSSlackMiB == 0 {
		c.RSSSlackMiB = DefaultRSSSlackMiB
	}
	if c.MinTrendSpan == 0 {
		c.MinTrendSpan = DefaultMinTrendSpan
	}
	if c.MaxUp == 0 {
		c.MaxUp = DefaultMaxUp
	}
	if c.StartupKillFraction == 0 {
		c.StartupKillFraction = DefaultStartupKills
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// Validate reports a Config outside its ranges (after EnsureDefaults).
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("cannot use configuration: %w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Duration < 0:
		return bad("duration %v < 0", c.Duration)
	case c.Crashes < 0:
		return bad("crashes %d < 0", c.Crashes)
	case c.Clients < 1 || c.Clients > 1024:
		return bad("clients %d outside 1..1024", c.Clients)
	case c.IDs < c.Clients || c.IDs > 10_000_000:
		return bad("ids %d outside clients (%d)..10000000", c.IDs, c.Clients)
	case c.Dim < 1 || c.Dim > 4096:
		return bad("dim %d outside 1..4096", c.Dim)
	case c.Warmup < 0 || c.Warmup > c.Duration:
		return bad("warm-up %v outside 0..duration (%v)", c.Warmup, c.Duration)
	case c.RSSInterval < 10*time.Millisecond:
		return bad("RSS interval %v < 10ms", c.RSSInterval)
	case c.MaxHeapSlope < 0 || c.MaxHeapRatio < 1 || c.RSSSlackMiB < 0:
		return bad("memory bounds: heap slope %g < 0, heap ratio %g < 1 or RSS slack %g < 0", c.MaxHeapSlope, c.MaxHeapRatio, c.RSSSlackMiB)
	case c.MaxUp < 0:
		return bad("max up %v < 0", c.MaxUp)
	case c.StartupKillFraction > 1:
		return bad("startup kill fraction %g > 1", c.StartupKillFraction)
	case c.ReadyTimeout <= 0 || c.RequestTimeout <= 0:
		return bad("timeouts must be > 0")
	}
	return nil
}
