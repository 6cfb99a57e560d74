// Package dataset loads approximate-nearest-neighbour data sets and measures
// recall against exact answers.
//
// It reads the common on-disk formats (TEXMEX .fvecs/.bvecs/.ivecs, LeCun
// IDX, NumPy .npy), each gzip-transparent (gzip is recognised by its magic
// bytes, not by the file name), loads the shared data sets the tests and
// benchmarks use (siftsmall, fashion-mnist-784; see Load and Dir), and
// computes exact k-nearest-neighbour ground truth by brute force over the
// kernels package (GroundTruth, GroundTruthFiltered).
//
// HDF5 (the format ann-benchmarks ships, e.g. glove-100-angular.hdf5) is
// deliberately not supported: there is no well-kept pure-Go HDF5 reader, and a
// cgo dependency on libhdf5 is not worth it for a benchmark input. Convert the
// data sets to .npy once with h5py instead, e.g.
//
//	python -c "import h5py, numpy as np; f = h5py.File('glove-100-angular.hdf5', 'r'); [np.save(f'glove-100-{k}.npy', np.ascontiguousarray(f[k])) for k in ('train', 'test', 'neighbors')]"
//
// and read the results with ReadFile (vectors) and ReadIDsFile (neighbours).
//
// Malformed input returns an error wrapping ErrMalformed (truncation also
// wraps io.ErrUnexpectedEOF); it never panics, and allocations grow with the
// bytes actually read rather than with what a header claims (reading a
// regular file, whose length confirms the header, allocates the output once).
//
// Every function is safe for concurrent use; a reader consumes its io.Reader,
// which nothing else may read meanwhile, and returns slices the caller owns,
// except for the shared, read-only Sets of Load.
package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// Errors returned by the package, wrapped with context; test them with
// errors.Is.
var (
	// ErrNotFound reports that the shared data set folder, or a data set's
	// folder inside it, is absent. It wraps fs.ErrNotExist.
	ErrNotFound = fmt.Errorf("dataset: not found: %w", fs.ErrNotExist)
	// ErrMalformed reports a file that does not follow its format: bad magic
	// bytes, inconsistent dimensions, truncation, absurd sizes.
	ErrMalformed = errors.New("dataset: malformed file")
	// ErrUnsupported reports a well-formed file this package cannot read: an
	// unknown file name extension, an IDX or NumPy element type it does not
	// convert, a Fortran-ordered array, HDF5.
	ErrUnsupported = errors.New("dataset: unsupported format")
	// ErrUnknownSet reports a name Load does not know.
	ErrUnknownSet = errors.New("dataset: unknown data set")
)

// EnvDir is the environment variable that overrides where Dir looks.
const EnvDir = "LSMVEC_DATASETS"

// Names of the shared data sets Load knows.
const (
	SiftSmall    = "siftsmall"
	FashionMNIST = "fashion-mnist-784"
)

// Set is an ANN data set loaded in memory.
//
// A Set returned by Load is shared by every caller in the process and must be
// treated as read-only: never write to Base, Queries or GroundTruth (copy
// them first, e.g. before Normalize). All methods are safe for concurrent use.
type Set struct {
	Name    string
	Dim     int
	Base    []float32 // N*Dim, row-major
	Queries []float32 // NQ*Dim, row-major
	// GroundTruth[i] holds the ids of the exact nearest base vectors of
	// query i, nearest first (k=100 for the shared sets).
	GroundTruth [][]int32
	Metric      string // "l2" for the shared sets
}

// N returns the number of base vectors.
func (s *Set) N() int {
	if s.Dim == 0 {
		return 0
	}
	return len(s.Base) / s.Dim
}

// NQ returns the number of queries.
func (s *Set) NQ() int {
	if s.Dim == 0 {
		return 0
	}
	return len(s.Queries) / s.Dim
}

// BaseVec returns base vector i, aliasing s.Base (capacity clipped, so an
// append cannot overwrite the next row). It panics when i is out of range.
func (s *Set) BaseVec(i int) []float32 {
	return s.Base[i*s.Dim : (i+1)*s.Dim : (i+1)*s.Dim]
}

// Query returns query i, aliasing s.Queries (capacity clipped). It panics
// when i is out of range.
func (s *Set) Query(i int) []float32 {
	return s.Queries[i*s.Dim : (i+1)*s.Dim : (i+1)*s.Dim]
}

// FirstQueries returns a Set holding only the first n queries of s and their
// ground truth (all of them when n ≤ 0 or n ≥ NQ), for tests that need a
// quicker run. It shares s's memory and is read-only like s.
func (s *Set) FirstQueries(n int) *Set {
	if n <= 0 || n >= s.NQ() {
		return s
	}
	t := *s
	t.Queries = s.Queries[: n*s.Dim : n*s.Dim]
	if s.GroundTruth != nil {
		t.GroundTruth = s.GroundTruth[:n:n]
	}
	return &t
}

// Normalized returns a copy of s with every base vector and query
// L2-normalized and the ground truth recomputed with GroundTruth for metric
// ("ip" or "cosine"; on unit vectors both rank like "l2") and k neighbours:
// the data for inner-product and cosine tests. Use FirstQueries first to
// bound the cost, N·NQ distances. It does not modify s, and panics on an
// invalid metric (see ValidateMetric).
func (s *Set) Normalized(k int, metric string) *Set {
	t := *s
	t.Name = s.Name + "-normalized"
	t.Base = slices.Clone(s.Base)
	t.Queries = slices.Clone(s.Queries)
	Normalize(t.Base, s.Dim)
	Normalize(t.Queries, s.Dim)
	t.GroundTruth = GroundTruth(t.Base, t.Queries, s.Dim, k, metric)
	t.Metric = metric
	return &t
}

// Validate checks the Set's internal consistency: Dim > 0, whole rows, one
// ground-truth row per query, every id within [0, N).
func (s *Set) Validate() error {
	if s.Dim <= 0 {
		return fmt.Errorf("cannot validate data set %q: %w: dimension %d", s.Name, ErrMalformed, s.Dim)
	}
	if len(s.Base)%s.Dim != 0 || len(s.Queries)%s.Dim != 0 {
		return fmt.Errorf("cannot validate data set %q: %w: base (%d values) or queries (%d values) not a multiple of dimension %d",
			s.Name, ErrMalformed, len(s.Base), len(s.Queries), s.Dim)
	}
	if s.GroundTruth != nil && len(s.GroundTruth) != s.NQ() {
		return fmt.Errorf("cannot validate data set %q: %w: %d ground-truth rows for %d queries",
			s.Name, ErrMalformed, len(s.GroundTruth), s.NQ())
	}
	n := s.N()
	for q, row := range s.GroundTruth {
		for _, id := range row {
			if id < 0 || int(id) >= n {
				return fmt.Errorf("cannot validate data set %q: %w: ground truth of query %d names id %d, base has %d vectors",
					s.Name, ErrMalformed, q, id, n)
			}
		}
	}
	return nil
}

// Dir returns the shared data set folder: $LSMVEC_DATASETS if set, else the
// first existing "shared/datasets" found walking up from the current
// directory (tests run in package folders such as /work/main/hnsw, and the
// folder is /work/shared/datasets, a sibling of the repository root). It
// returns an error wrapping ErrNotFound (and so fs.ErrNotExist) when absent.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		if !isDir(d) {
			return "", fmt.Errorf("cannot find data sets: $%s=%q is not a folder: %w", EnvDir, d, ErrNotFound)
		}
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("cannot find data sets: %w: %w", ErrNotFound, err)
	}
	for d := wd; ; {
		c := filepath.Join(d, "shared", "datasets")
		if isDir(c) {
			return c, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return "", fmt.Errorf("cannot find data sets: no shared/datasets above %s and $%s unset: %w", wd, EnvDir, ErrNotFound)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// loaders maps each known data set to its loader. Read-only after init.
var loaders = map[string]func(dir string) (*Set, error){
	SiftSmall:    loadSiftSmall,
	FashionMNIST: loadFashionMNIST,
}

// memo caches loaded sets per process.
var memo = newSetCache()

// setCache memoizes loaded sets, one entry per known name. Only successes
// are cached, so a later call retries after an error (for example once
// $LSMVEC_DATASETS has been set). Safe for concurrent use.
type setCache struct {
	entries map[string]*cacheEntry // fixed at creation; read-only
}

type cacheEntry struct {
	mu  sync.Mutex
	set *Set // nil until loaded; guarded by mu
}

func newSetCache() *setCache {
	c := &setCache{entries: make(map[string]*cacheEntry, len(loaders))}
	for name := range loaders {
		c.entries[name] = new(cacheEntry)
	}
	return c
}

// Names returns the names Load knows, in a fixed order.
func Names() []string { return []string{SiftSmall, FashionMNIST} }

// Load loads a shared data set by name from Dir(): "siftsmall" (TEXMEX
// siftsmall_base/query .fvecs.gz and siftsmall_groundtruth.ivecs.gz) or
// "fashion-mnist-784" (base = the train images, queries = the t10k images,
// uint8 pixels converted to float32 as-is (0..255), ground truth from
// fashion-mnist-784_groundtruth_k100.ivecs.gz).
//
// Load memoizes per process: every successful call for a name returns the
// same *Set, loaded once (the cache is keyed by name only). The Set is shared
// and must be treated as read-only. Load is safe for concurrent use;
// concurrent first calls for one name load it once. A missing data set
// folder yields an error wrapping ErrNotFound; errors are not cached.
func Load(name string) (*Set, error) { return memo.load(name) }

func (c *setCache) load(name string) (*Set, error) {
	e, ok := c.entries[name]
	if !ok {
		return nil, fmt.Errorf("cannot load data set %q: %w (known: %v)", name, ErrUnknownSet, Names())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.set != nil {
		return e.set, nil
	}
	root, err := Dir()
	if err != nil {
		return nil, fmt.Errorf("cannot load data set %q: %w", name, err)
	}
	dir := filepath.Join(root, name)
	if !isDir(dir) {
		return nil, fmt.Errorf("cannot load data set %q: folder %s absent: %w", name, dir, ErrNotFound)
	}
	s, err := loaders[name](dir)
	if err != nil {
		return nil, fmt.Errorf("cannot load data set %q: %w", name, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("cannot load data set %q: %w", name, err)
	}
	e.set = s
	return s, nil
}

// LoadOrSkip is Load for tests and benchmarks: it calls tb.Skipf with a
// clear message when the data set folder is absent, and tb.Fatalf on any
// other error (a present but broken data set is a failure, not a skip). The
// returned Set is shared and read-only.
func LoadOrSkip(tb testing.TB, name string) *Set {
	tb.Helper()
	s, err := Load(name)
	if errors.Is(err, ErrNotFound) {
		tb.Skipf("skipping: data set %q not available (%v); put the shared data sets at ../shared/datasets or set $%s", name, err, EnvDir)
	}
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return s
}

// loadParallel runs the loaders concurrently and returns the first error.
func loadParallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func loadSiftSmall(dir string) (*Set, error) {
	s := &Set{Name: SiftSmall, Metric: "l2"}
	var bdim, qdim int
	err := loadParallel(
		func() (err error) {
			s.Base, _, bdim, err = ReadFile(filepath.Join(dir, "siftsmall_base.fvecs.gz"))
			return err
		},
		func() (err error) {
			s.Queries, _, qdim, err = ReadFile(filepath.Join(dir, "siftsmall_query.fvecs.gz"))
			return err
		},
		func() (err error) {
			s.GroundTruth, err = ReadIvecsFile(filepath.Join(dir, "siftsmall_groundtruth.ivecs.gz"))
			return err
		},
	)
	if err != nil {
		return nil, err
	}
	if bdim != qdim {
		return nil, fmt.Errorf("%w: base dimension %d, query dimension %d", ErrMalformed, bdim, qdim)
	}
	s.Dim = bdim
	return s, nil
}

func loadFashionMNIST(dir string) (*Set, error) {
	s := &Set{Name: FashionMNIST, Metric: "l2"}
	var bdim, qdim int
	err := loadParallel(
		func() (err error) {
			s.Base, _, bdim, err = ReadFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"))
			return err
		},
		func() (err error) {
			s.Queries, _, qdim, err = ReadFile(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
			return err
		},
		func() (err error) {
			s.GroundTruth, err = ReadIvecsFile(filepath.Join(dir, "fashion-mnist-784_groundtruth_k100.ivecs.gz"))
			return err
		},
	)
	if err != nil {
		return nil, err
	}
	if bdim != qdim {
		return nil, fmt.Errorf("%w: base dimension %d, query dimension %d", ErrMalformed, bdim, qdim)
	}
	s.Dim = bdim
	return s, nil
}
