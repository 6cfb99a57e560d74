//go:build cgo

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"sync"

	"github.com/lsmvec/lsmvec/store"
	"github.com/lsmvec/lsmvec/store/filter"
)

// Status codes every exported function returns (the C ABI's int). Python's
// lsm_vec/_errors.py maps each to an exception class; keep the two in step.
const (
	codeOK        = 0
	codeInvalid   = 1 // store.ErrInvalid, a bad filter, bad arguments at the boundary
	codeNotFound  = 2 // store.ErrNotFound
	codeDimension = 3 // store.ErrDimension
	codeConflict  = 4 // store.ErrExists, store.ErrNotEmpty, store.ErrInUse, wrong family
	codeClosed    = 5 // store.ErrClosed, a closed or unknown handle
	codeTooLarge  = 6 // store.ErrTooLarge, store.ErrCapacity
	codeStorage   = 7 // store.ErrFailed, store.ErrMuted, I/O errors
	codeInternal  = 8 // a recovered panic, anything unclassified
	codeBuffer    = 9 // the caller's output buffer is too small (the length needed is returned)
)

// Sentinel errors of the C ABI layer itself.
var (
	errClosed  = errors.New("lsm_vec: database is closed")
	errInvalid = errors.New("lsm_vec: invalid argument")
	errFamily  = errors.New("lsm_vec: collection belongs to the Casper API")
	errBuffer  = errors.New("lsm_vec: output buffer too small")
)

// codeOf classifies err for the C ABI.
func codeOf(err error) int {
	switch {
	case err == nil:
		return codeOK
	case errors.Is(err, errBuffer):
		return codeBuffer
	case errors.Is(err, store.ErrDimension):
		return codeDimension
	case errors.Is(err, store.ErrInvalid), errors.Is(err, errInvalid), errors.Is(err, filter.ErrBadFilter), errors.Is(err, filter.ErrBadPayload):
		return codeInvalid
	case errors.Is(err, store.ErrNotFound):
		return codeNotFound
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrNotEmpty), errors.Is(err, store.ErrInUse), errors.Is(err, errFamily):
		return codeConflict
	case errors.Is(err, store.ErrClosed), errors.Is(err, errClosed):
		return codeClosed
	case errors.Is(err, store.ErrTooLarge), errors.Is(err, store.ErrCapacity):
		return codeTooLarge
	case errors.Is(err, store.ErrFailed), errors.Is(err, store.ErrMuted), errors.Is(err, store.ErrNoIndex):
		return codeStorage
	}
	return codeInternal
}

// Metric numbers of the C ABI (lsm_vec.DistanceMetric), mapped to the /v1
// metric names the server uses (server.Options.Metric), so that a data
// directory opens the same way in both.
var metricNames = [...]string{0: "l2", 1: "cosine", 2: "ip"}

// config is what lsm_vec.LSMVecDBOptions carries across the boundary. Zero
// graph parameters select the server's /v1 defaults (16, 32, 200, 64).
type config struct {
	Dir        string
	Collection string // "" = "default", the server's DefaultCollection
	Dim        int    // 0 = the first vector written sets it (as LSMVEC_DIM=0)
	Metric     int    // index into metricNames
	M, M0      int
	EfC, EfS   int
}

// engine is one open database and its /v1 collection. Its methods are safe
// for concurrent use: a read lock guards against Close, the store does the
// rest. The Python side keeps it behind a runtime/cgo.Handle.
type engine struct {
	mu     sync.RWMutex
	db     *store.DB // nil once closed
	cfg    config
	coll   *store.Collection // nil until the collection exists
	collMu sync.Mutex        // serializes creation of coll
}

// quietLogger drops Pebble's and the store's info lines (an embedded
// library should not chatter on stderr) and keeps errors.
type quietLogger struct{ l *log.Logger }

func (q quietLogger) Infof(string, ...any) {}
func (q quietLogger) Errorf(format string, args ...any) {
	q.l.Printf("lsm_vec: ERROR "+format, args...)
}

// openEngine opens (creating when absent) the data directory cfg.Dir and,
// when it exists, the collection cfg.Collection.
func openEngine(cfg config) (*engine, error) {
	if cfg.Collection == "" {
		cfg.Collection = "default"
	}
	if cfg.Metric < 0 || cfg.Metric >= len(metricNames) {
		return nil, fmt.Errorf("cannot open %q: metric %d: want 0 (l2), 1 (cosine) or 2 (ip): %w", cfg.Dir, cfg.Metric, errInvalid)
	}
	if cfg.Dim < 0 || cfg.Dim > store.MaxDim {
		return nil, fmt.Errorf("cannot open %q: dim %d outside 0..%d: %w", cfg.Dir, cfg.Dim, store.MaxDim, errInvalid)
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("cannot open database: empty path: %w", errInvalid)
	}
	// Validate the graph parameters before touching the disk.
	if cfg.M < 0 || cfg.M0 < 0 || cfg.EfC < 0 || cfg.EfS < 0 {
		return nil, fmt.Errorf("cannot open %q: negative graph parameter: %w", cfg.Dir, errInvalid)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot open %q: %w", cfg.Dir, err)
	}
	db, err := store.Open(store.Options{Dir: cfg.Dir, Logger: quietLogger{log.New(os.Stderr, "", log.LstdFlags)}})
	if err != nil {
		return nil, fmt.Errorf("cannot open %q: %w", cfg.Dir, err)
	}
	e := &engine{db: db, cfg: cfg}
	c, err := db.Collection(cfg.Collection)
	switch {
	case err == nil:
		if c.Family() != store.FamilyV1 {
			_ = db.Close()
			return nil, fmt.Errorf("cannot open collection %q: %w", cfg.Collection, errFamily)
		}
		if cfg.Dim != 0 && c.Dim() != cfg.Dim {
			_ = db.Close()
			return nil, fmt.Errorf("cannot open collection %q: dim %d, options say %d: %w", cfg.Collection, c.Dim(), cfg.Dim, store.ErrDimension)
		}
		e.coll = c
	case errors.Is(err, store.ErrNotFound):
		if cfg.Dim != 0 { // create it now so that a bad parameter fails at open
			if _, err := e.ensure(cfg.Dim); err != nil {
				_ = db.Close()
				return nil, fmt.Errorf("cannot open %q: %w", cfg.Dir, err)
			}
		}
	default:
		_ = db.Close()
		return nil, fmt.Errorf("cannot open %q: %w", cfg.Dir, err)
	}
	return e, nil
}

// collConfig is the configuration the collection is created with: the same
// fields as server.(*Server).v1Config.
func (e *engine) collConfig(dim int) store.CollectionConfig {
	return store.CollectionConfig{
		Name:   e.cfg.Collection,
		Dim:    dim,
		Family: store.FamilyV1,
		Index: &store.IndexConfig{
			Metric:         metricNames[e.cfg.Metric],
			M:              e.cfg.M,
			M0:             e.cfg.M0,
			EfConstruction: e.cfg.EfC,
			EfSearch:       e.cfg.EfS,
		},
	}
}

// current returns the collection, or nil when it does not exist yet. The
// caller holds e.mu (read).
func (e *engine) current() (*store.Collection, error) {
	if e.db == nil {
		return nil, errClosed
	}
	e.collMu.Lock()
	c := e.coll
	e.collMu.Unlock()
	return c, nil
}

// ensure returns the collection, creating it with dimension dim when it
// does not exist. The caller holds e.mu (read) or is openEngine.
func (e *engine) ensure(dim int) (*store.Collection, error) {
	if e.db == nil {
		return nil, errClosed
	}
	e.collMu.Lock()
	defer e.collMu.Unlock()
	if e.coll != nil {
		return e.coll, nil
	}
	c, err := e.db.EnsureCollection(e.collConfig(dim))
	if err != nil {
		return nil, err
	}
	if c.Family() != store.FamilyV1 {
		return nil, fmt.Errorf("cannot use collection %q: %w", e.cfg.Collection, errFamily)
	}
	e.coll = c
	return c, nil
}

// close closes the database (checkpointing the index). Later calls return
// errClosed; calls in flight finish first.
func (e *engine) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.db == nil {
		return errClosed
	}
	err := e.db.Close()
	e.db, e.coll = nil, nil
	if err != nil {
		return fmt.Errorf("cannot close database: %w", err)
	}
	return nil
}

// put inserts or replaces id. payload nil keeps the stored payload;
// otherwise it replaces it (in the same durable write). mustExist makes an
// absent id store.ErrNotFound (update).
func (e *engine) put(id uint64, vec []float32, payload []byte, mustExist bool) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var c *store.Collection
	var err error
	if mustExist {
		c, err = e.current()
		if err == nil && c == nil {
			err = fmt.Errorf("cannot update vector %d: %w", id, store.ErrNotFound)
		}
		if err == nil {
			var ok bool
			if ok, err = c.Contains(id); err == nil && !ok {
				err = fmt.Errorf("cannot update vector %d: %w", id, store.ErrNotFound)
			}
		}
	} else {
		c, err = e.ensure(len(vec))
	}
	if err != nil {
		return err
	}
	if payload != nil {
		return c.PutWithPayload(id, vec, payload)
	}
	return c.Put(id, vec)
}

// delete removes id and its payload; store.ErrNotFound when absent.
func (e *engine) delete(id uint64) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.current()
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("cannot delete vector %d: %w", id, store.ErrNotFound)
	}
	return c.Delete(id)
}

// get copies the vector of id into dst (len(dst) must be the dimension).
func (e *engine) get(id uint64, dst []float32) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.current()
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("cannot get vector %d: %w", id, store.ErrNotFound)
	}
	if len(dst) != c.Dim() {
		return fmt.Errorf("cannot get vector %d: buffer of %d floats, dimension %d: %w", id, len(dst), c.Dim(), store.ErrDimension)
	}
	got, err := c.Vector(id, dst[:0])
	if err != nil {
		return err
	}
	if len(got) != len(dst) || (len(got) > 0 && &got[0] != &dst[0]) {
		return fmt.Errorf("cannot get vector %d: stored vector has %d floats: %w", id, len(got), store.ErrDimension)
	}
	return nil
}

// dim returns the collection's dimension (0 while it does not exist).
func (e *engine) dim() (int, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.current()
	if err != nil || c == nil {
		return 0, err
	}
	return c.Dim(), nil
}

// resultPool holds search result slices; a search allocates nothing once
// the pool is warm.
var resultPool = sync.Pool{New: func() any { s := make([]store.Result, 0, 64); return &s }}

// compileFilter compiles a /v1 filter (nil or empty text: none).
func compileFilter(text []byte) (*filter.Filter, error) {
	if len(text) == 0 {
		return nil, nil
	}
	return filter.Compile(text) // its errors already say "cannot compile filter"

}

// search writes up to k neighbours of q into ids and dists (both at least
// k long) and returns their count. ef ≤ 0 selects the collection's
// ef_search (at least k). A collection that does not exist yet has no
// neighbours.
func (e *engine) search(q []float32, k, ef int, f *filter.Filter, ids []uint64, dists []float32) (int, error) {
	if k < 1 || len(ids) < k || len(dists) < k {
		return 0, fmt.Errorf("cannot search: k %d with result buffers of %d and %d: %w", k, len(ids), len(dists), errInvalid)
	}
	if ef > 0 {
		ef = max(ef, k)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.current()
	if err != nil || c == nil {
		return 0, err
	}
	rp := resultPool.Get().(*[]store.Result)
	res, err := c.SearchWhere(q, k, ef, f, (*rp)[:0])
	n := copyResults(res, ids, dists)
	*rp = res[:0]
	resultPool.Put(rp)
	return n, err
}

func copyResults(res []store.Result, ids []uint64, dists []float32) int {
	n := min(len(res), len(ids), len(dists))
	for i := 0; i < n; i++ {
		ids[i], dists[i] = res[i].ID, res[i].Distance
	}
	return n
}

// searchBatch runs len(counts) searches of the queries in qs (row-major,
// dim floats each) on threads goroutines (≤ 0: GOMAXPROCS), writing query
// i's results to ids[i·k:], dists[i·k:] and their number to counts[i].
func (e *engine) searchBatch(qs []float32, dim, k, ef int, f *filter.Filter, threads int, ids []uint64, dists []float32, counts []int32) error {
	nq := len(counts)
	if dim < 1 || k < 1 || len(qs) != nq*dim || len(ids) < nq*k || len(dists) < nq*k {
		return fmt.Errorf("cannot search batch: %d queries of dim %d, k %d, %d floats, result buffers %d and %d: %w",
			nq, dim, k, len(qs), len(ids), len(dists), errInvalid)
	}
	if ef > 0 {
		ef = max(ef, k)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.current()
	if err != nil {
		return err
	}
	if c == nil {
		clear(counts)
		return nil
	}
	if c.Dim() != dim {
		return fmt.Errorf("cannot search batch: queries of dim %d, collection %d: %w", dim, c.Dim(), store.ErrDimension)
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	threads = min(threads, nq)
	one := func(i int, rp *[]store.Result) error {
		res, err := c.SearchWhere(qs[i*dim:(i+1)*dim], k, ef, f, (*rp)[:0])
		counts[i] = int32(copyResults(res, ids[i*k:(i+1)*k], dists[i*k:(i+1)*k]))
		*rp = res[:0]
		return err
	}
	if threads <= 1 {
		rp := resultPool.Get().(*[]store.Result)
		defer resultPool.Put(rp)
		for i := 0; i < nq; i++ {
			if err := one(i, rp); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg      sync.WaitGroup
		next    = make(chan int, threads)
		errOnce sync.Once
		first   error
	)
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rp := resultPool.Get().(*[]store.Result)
			defer resultPool.Put(rp)
			for i := range next {
				if err := one(i, rp); err != nil {
					errOnce.Do(func() { first = err })
				}
			}
		}()
	}
	for i := 0; i < nq; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// goSearchLoop runs the nq queries of qs rounds times, exactly as an
// in-process Go caller would (Collection.Search into a reused slice,
// nothing copied out), and returns how many results it saw. threads
// goroutines (≤ 0: GOMAXPROCS) share the queries as searchBatch shares
// them, each with its own result slice; 1 is a plain loop on the calling
// goroutine. It exists for the benchmark script: the reference the Python
// figures are compared with, measured in the same process on the same
// index with the same number of threads.
func (e *engine) goSearchLoop(qs []float32, dim, nq, k, ef, rounds, threads int) (int, error) {
	if dim < 1 || k < 1 || nq < 1 || rounds < 1 || len(qs) != nq*dim {
		return 0, fmt.Errorf("cannot run search loop: %w", errInvalid)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.current()
	if err != nil {
		return 0, err
	}
	if c == nil {
		return 0, fmt.Errorf("cannot run search loop: %w", store.ErrNotFound)
	}
	if ef > 0 {
		ef = max(ef, k) // as searchBatch does
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	total := nq * rounds
	threads = min(threads, total)
	// run searches the queries i ≡ first (mod step) of all rounds.
	run := func(first, step int) (int, error) {
		var res []store.Result
		var err error
		seen := 0
		for j := first; j < total; j += step {
			i := j % nq
			res, err = c.Search(qs[i*dim:(i+1)*dim], k, ef, nil, res[:0])
			if err != nil {
				return seen, err
			}
			seen += len(res)
		}
		return seen, nil
	}
	if threads == 1 {
		return run(0, 1)
	}
	var (
		wg   sync.WaitGroup
		seen = make([]int, threads)
		errs = make([]error, threads)
		sum  int
	)
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen[t], errs[t] = run(t, threads)
		}()
	}
	wg.Wait()
	for _, n := range seen {
		sum += n
	}
	return sum, errors.Join(errs...)
}

// payload appends the payload of id to dst.
func (e *engine) payload(id uint64, dst []byte) ([]byte, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.current()
	if err != nil {
		return dst, err
	}
	if c == nil {
		return dst, fmt.Errorf("cannot get payload %d: %w", id, store.ErrNotFound)
	}
	return c.Payload(id, dst)
}

// setPayload replaces the payload of id.
func (e *engine) setPayload(id uint64, p []byte) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.current()
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("cannot set payload %d: %w", id, store.ErrNotFound)
	}
	return c.SetPayload(id, p)
}

// patchPayload applies an RFC 7396 merge patch and returns the new payload.
func (e *engine) patchPayload(id uint64, patch []byte) ([]byte, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.current()
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("cannot patch payload %d: %w", id, store.ErrNotFound)
	}
	return c.PatchPayload(id, patch)
}

// bulk loads n vectors (ids 0..n-1) from vecs (n·dim floats as
// little-endian bytes) and, when payloads is not empty, the JSON array of
// n payload objects or nulls after them, into the empty collection.
func (e *engine) bulk(vecs []byte, n, dim int, payloads []byte, threads int) (store.BulkResult, error) {
	if n < 1 || dim < 1 || len(vecs) != n*dim*4 {
		return store.BulkResult{}, fmt.Errorf("cannot bulk build: %d bytes for %d vectors of dim %d: %w", len(vecs), n, dim, errInvalid)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.ensure(dim)
	if err != nil {
		return store.BulkResult{}, err
	}
	if c.Dim() != dim {
		return store.BulkResult{}, fmt.Errorf("cannot bulk build: vectors of dim %d, collection %d: %w", dim, c.Dim(), store.ErrDimension)
	}
	var r io.Reader = &sliceReader{b: vecs}
	if len(payloads) > 0 {
		r = io.MultiReader(r, &sliceReader{b: payloads})
	}
	return c.BulkLoad(r, n, threads)
}

// sliceReader reads b without copying it first (bytes.Reader would do, but
// this keeps the type local and obvious: b may be C memory).
type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// statsBody is lsm_vec's stats(): the fields of GET /v1/stats with the same
// names and meanings (README.md, "## /v1 stats").
type statsBody struct {
	Collection            string  `json:"collection"`
	Exists                bool    `json:"exists"`
	Vectors               int64   `json:"vectors"`
	Dim                   int     `json:"dim"`
	Metric                string  `json:"metric"`
	Tombstones            int64   `json:"tombstones"`
	TombstoneRatio        float64 `json:"tombstone_ratio"`
	TotalInsertsEver      int64   `json:"total_inserts_ever"`
	TotalDeletesEver      int64   `json:"total_deletes_ever"`
	MemoryBytes           int64   `json:"memory_bytes"`
	IndexMemoryBytes      int64   `json:"index_memory_bytes"`
	PayloadIndexBytes     int64   `json:"payload_index_bytes"`
	WritesSinceCheckpoint int64   `json:"writes_since_checkpoint"`
	LogSeq                uint64  `json:"log_seq"`
	CheckpointSeq         uint64  `json:"checkpoint_seq"`
	M                     int     `json:"m"`
	M0                    int     `json:"m0"`
	EfConstruction        int     `json:"ef_construction"`
	EfSearch              int     `json:"ef_search"`
	BloomHits             int64   `json:"bloom_hits"`
	BloomMisses           int64   `json:"bloom_misses"`
	DiskUsageBytes        uint64  `json:"disk_usage_bytes"`
	CheckpointBytes       int64   `json:"checkpoint_bytes"`
	WALBytes              uint64  `json:"wal_bytes"`
	MemTableBytes         uint64  `json:"memtable_bytes"`
	SSTables              int64   `json:"sstables"`
	ReadAmp               int     `json:"read_amp"`
	Compactions           int64   `json:"compactions"`
	Flushes               int64   `json:"flushes"`
	SyncCommits           int64   `json:"sync_commits"`
	SyncedWrites          int64   `json:"synced_writes"`
}

// stats returns the stats as JSON.
func (e *engine) stats() ([]byte, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.current()
	if err != nil {
		return nil, err
	}
	ic := e.collConfig(e.cfg.Dim).Index
	out := statsBody{Collection: e.cfg.Collection, Dim: e.cfg.Dim, Metric: ic.Metric,
		M: ic.M, M0: ic.M0, EfConstruction: ic.EfConstruction, EfSearch: ic.EfSearch}
	if out.M == 0 {
		out.M = 16
	}
	if out.M0 == 0 {
		out.M0 = 2 * out.M
	}
	if out.EfConstruction == 0 {
		out.EfConstruction = 200
	}
	if out.EfSearch == 0 {
		out.EfSearch = 64
	}
	if c != nil {
		st, err := c.Stats()
		if err != nil {
			return nil, err
		}
		info, err := c.Info()
		if err != nil {
			return nil, err
		}
		out.Exists, out.Vectors, out.Dim = true, st.Live, st.Dim
		if st.Metric != "" {
			out.Metric = st.Metric
		}
		out.Tombstones = st.Tombstones
		if n := st.Live + st.Tombstones; n > 0 {
			out.TombstoneRatio = float64(st.Tombstones) / float64(n)
		}
		out.TotalInsertsEver, out.TotalDeletesEver = st.InsertsEver, st.DeletesEver
		out.IndexMemoryBytes, out.PayloadIndexBytes = st.MemoryBytes, st.PayloadIndexBytes
		out.MemoryBytes = st.MemoryBytes + st.PayloadIndexBytes
		out.WritesSinceCheckpoint, out.LogSeq, out.CheckpointSeq = st.WritesSinceCheckpoint, st.Seq, st.CheckpointSeq
		if ic := info.Index; ic != nil {
			out.M, out.M0, out.EfConstruction, out.EfSearch = ic.M, ic.M0, ic.EfConstruction, ic.EfSearch
		}
	}
	es := e.db.EngineStats()
	out.BloomHits, out.BloomMisses = es.BloomHits, es.BloomMisses
	out.DiskUsageBytes, out.CheckpointBytes, out.WALBytes = es.DiskUsageBytes, es.CheckpointBytes, es.WALBytes
	out.MemTableBytes, out.SSTables, out.ReadAmp = es.MemTableBytes, es.Tables, es.ReadAmp
	out.Compactions, out.Flushes = es.Compactions, es.Flushes
	out.SyncCommits, out.SyncedWrites = es.SyncCommits, es.SyncedWrites
	return json.Marshal(out)
}
