package bench

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
)

// Storage kinds Config.Quants may name.
const (
	QuantF32 = "f32"
	QuantI8  = "i8"
	QuantPQ8 = "pq8"
)

// Modes Config.Modes may name.
const (
	// ModeInProcess builds an hnsw.Index in this process.
	ModeInProcess = "inproc"
	// ModeHTTP goes through the Casper HTTP API: against Config.URL when
	// set, else against a server started in this process on a loopback
	// port over a store in a temporary folder.
	ModeHTTP = "http"
)

// DefaultEfs is the ef_search sweep, the one hnswlib-ref runs.
var DefaultEfs = []int{10, 16, 24, 32, 48, 64, 96, 128, 192, 256}

// DefaultTargets are the recall levels throughput is compared at.
var DefaultTargets = []float64{0.90, 0.95, 0.99}

// Server is a running lsmvec server Run measures over HTTP.
type Server interface {
	// URL returns its base URL, e.g. http://127.0.0.1:41234.
	URL() string
	// MemoryBytes returns the index memory of a collection, as the
	// server's store counts it.
	MemoryBytes(collection string) (int64, error)
	// Close stops the server and removes its data.
	Close() error
}

// Config configures Run. The zero value of each field selects the default
// in its comment (EnsureDefaults); Validate checks the result.
type Config struct {
	// Dataset names a shared data set (dataset.Names: siftsmall,
	// fashion-mnist-784). Exactly one of Dataset and Base must be set.
	Dataset string
	// Base and Queries are vector files (fvecs, bvecs, IDX, npy; gzip or
	// not); GT optionally names their ground truth (ivecs or npy). Without
	// GT, exact ground truth is computed and cached (GTCache).
	Base, Queries, GT string
	// Metric of user files: "l2" (default), "ip" or "cosine". The shared
	// sets are l2.
	Metric string
	// K is the number of neighbours searched and scored (recall@K).
	// Default 10.
	K int
	// NQ limits the queries to the first NQ. Default 0: all.
	NQ int
	// Quants are the vector storages to measure: f32, i8, pq8. Default all.
	Quants []string
	// Modes are ModeInProcess and/or ModeHTTP. Default [inproc], or [http]
	// when URL is set.
	Modes []string
	// URL is the base URL of a running lsmvec server (e.g.
	// http://localhost:8080) for ModeHTTP; empty starts one in-process
	// with LocalServer.
	URL string
	// LocalServer starts the in-process server of ModeHTTP without a URL
	// (bench/localserver.Start; a function, so that this package does not
	// depend on the server). Nil makes that mode unavailable.
	LocalServer func(buildThreads int) (Server, error)
	// Collection prefixes the names of the collections (and PQ
	// configurations) created over HTTP. Default "lsmvec-bench".
	Collection string
	// Keep leaves the collections created over HTTP in place. Default false:
	// they are deleted after the run.
	Keep bool
	// M, M0 and EfConstruction are the graph parameters. Defaults 16, 2·M,
	// 200.
	M, M0, EfConstruction int
	// PQM is the number of pq8 subquantizers; the dimension must be a
	// multiple. Default: 16 if it divides the dimension, else the largest
	// divisor of the dimension below 16.
	PQM int
	// Efs is the ef_search sweep. Default DefaultEfs.
	Efs []int
	// Targets are the recall levels of the QPS comparison. Default
	// DefaultTargets.
	Targets []float64
	// BuildThreads builds the index (and loads over HTTP). Default
	// runtime.GOMAXPROCS(0).
	BuildThreads int
	// Threads is the number of query goroutines of the N-thread QPS.
	// Default runtime.GOMAXPROCS(0); 1 skips the N-thread measurement.
	Threads int
	// MinTime is the least time each (ef, thread count) measurement runs:
	// the queries repeat until it has passed (recall counts the first pass
	// only). Default 1s.
	MinTime time.Duration
	// BatchSize is the number of vectors per HTTP update request. Default
	// 1000.
	BatchSize int
	// HNSWLib is the path of the hnswlib-ref binary; "" looks for
	// ../shared/tools/hnswlib-ref above the working folder; "off" skips it.
	// It runs only for shared data sets, l2 and K = 10.
	HNSWLib string
	// Seed seeds quantizer training. Default 1.
	Seed uint64
	// GTCache says where ground truth of user files is cached.
	GTCache GTCache
	// Progress receives progress bars (nil: none); Log receives one line
	// per phase (nil: none).
	Progress, Log io.Writer
	// Command is the command line recorded in the report.
	Command string
}

// EnsureDefaults fills the zero fields of c with their defaults.
func (c *Config) EnsureDefaults() {
	if c.Metric == "" {
		c.Metric = dataset.MetricL2
	}
	if c.K == 0 {
		c.K = 10
	}
	if len(c.Quants) == 0 {
		c.Quants = []string{QuantF32, QuantI8, QuantPQ8}
	}
	if len(c.Modes) == 0 {
		if c.URL != "" {
			c.Modes = []string{ModeHTTP}
		} else {
			c.Modes = []string{ModeInProcess}
		}
	}
	if c.Collection == "" {
		c.Collection = "lsmvec-bench"
	}
	if c.M == 0 {
		c.M = 16
	}
	if c.M0 == 0 {
		c.M0 = 2 * c.M
	}
	if c.EfConstruction == 0 {
		c.EfConstruction = 200
	}
	if len(c.Efs) == 0 {
		c.Efs = slices.Clone(DefaultEfs)
	}
	if len(c.Targets) == 0 {
		c.Targets = slices.Clone(DefaultTargets)
	}
	if c.BuildThreads == 0 {
		c.BuildThreads = runtime.GOMAXPROCS(0)
	}
	if c.Threads == 0 {
		c.Threads = runtime.GOMAXPROCS(0)
	}
	if c.MinTime == 0 {
		c.MinTime = time.Second
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
}

// Validate reports the first field of c (after EnsureDefaults) outside its
// range, wrapping ErrInvalidConfig.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("cannot use configuration: "+format+": %w", append(args, ErrInvalidConfig)...)
	}
	switch {
	case c.Dataset == "" && c.Base == "":
		return bad("name a shared data set (%v) or a base file", dataset.Names())
	case c.Dataset != "" && (c.Base != "" || c.Queries != "" || c.GT != ""):
		return bad("a shared data set and files are exclusive")
	case c.Dataset != "" && !slices.Contains(dataset.Names(), c.Dataset):
		return bad("unknown data set %q (known: %v)", c.Dataset, dataset.Names())
	case c.Base != "" && c.Queries == "":
		return bad("a base file needs a queries file")
	case c.K < 1 || c.K > 10000:
		return bad("k %d outside 1..10000", c.K)
	case c.NQ < 0:
		return bad("nq %d below 0", c.NQ)
	case c.M < 2 || c.M > 128:
		return bad("m %d outside 2..128", c.M)
	case c.M0 < c.M || c.M0 > 512:
		return bad("m0 %d outside m..512", c.M0)
	case c.EfConstruction < c.M:
		return bad("ef_construction %d below m %d", c.EfConstruction, c.M)
	case c.PQM < 0:
		return bad("pq m %d below 0", c.PQM)
	case c.BuildThreads < 1 || c.BuildThreads > 1024:
		return bad("build threads %d outside 1..1024", c.BuildThreads)
	case c.Threads < 1 || c.Threads > 1024:
		return bad("threads %d outside 1..1024", c.Threads)
	case c.MinTime < 0:
		return bad("min time %v below 0", c.MinTime)
	case c.BatchSize < 1:
		return bad("batch size %d below 1", c.BatchSize)
	case !validCollection(c.Collection):
		return bad("collection prefix %q must match [A-Za-z0-9_-]{1,100}", c.Collection)
	}
	if err := dataset.ValidateMetric(c.Metric); err != nil {
		return bad("%v", err)
	}
	if c.Dataset != "" && c.Metric != dataset.MetricL2 {
		return bad("the shared data sets are l2, not %q", c.Metric)
	}
	if err := checkSet("quantization", c.Quants, []string{QuantF32, QuantI8, QuantPQ8}); err != nil {
		return bad("%v", err)
	}
	if err := checkSet("mode", c.Modes, []string{ModeInProcess, ModeHTTP}); err != nil {
		return bad("%v", err)
	}
	for _, ef := range c.Efs {
		if ef < 1 || ef > 100000 {
			return bad("ef_search %d outside 1..100000", ef)
		}
	}
	for _, t := range c.Targets {
		if !(t > 0 && t <= 1) {
			return bad("recall target %v outside (0, 1]", t)
		}
	}
	return nil
}

func checkSet(what string, got, known []string) error {
	seen := map[string]bool{}
	for _, g := range got {
		if !slices.Contains(known, g) {
			return fmt.Errorf("unknown %s %q (known: %v)", what, g, known)
		}
		if seen[g] {
			return fmt.Errorf("%s %q named twice", what, g)
		}
		seen[g] = true
	}
	return nil
}

func validCollection(s string) bool {
	if len(s) < 1 || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// pqM returns the pq8 subquantizer count for dim: c.PQM when set, else 16
// when it divides dim, else dim's largest divisor below 16.
func (c *Config) pqM(dim int) (int, error) {
	if c.PQM > 0 {
		if dim%c.PQM != 0 {
			return 0, fmt.Errorf("cannot use pq m %d: dimension %d is not a multiple: %w", c.PQM, dim, ErrInvalidConfig)
		}
		return c.PQM, nil
	}
	for m := 16; m > 1; m-- {
		if dim%m == 0 {
			return m, nil
		}
	}
	return 1, nil
}
