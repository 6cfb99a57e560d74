package store

import (
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/lsmvec/lsmvec/hnsw"
	"github.com/lsmvec/lsmvec/pq"
)

// Quantizations a Casper index accepts.
const (
	QuantF32  = "f32"
	QuantI8   = "i8"
	QuantPQ8  = "pq8"
	QuantPQ16 = "pq16"
)

// Metric names the store accepts. "euclidean" and "l2" return the square
// root of the squared L2 distance, "l2sq" the squared distance, "cosine"
// 1 − cos, "inner-product" and "ip" 1 − ⟨q, x⟩.
var metricNames = map[string]hnsw.Metric{
	"euclidean":     hnsw.L2,
	"l2":            hnsw.L2,
	"l2sq":          hnsw.L2,
	"cosine":        hnsw.Cosine,
	"inner-product": hnsw.InnerProduct,
	"ip":            hnsw.InnerProduct,
}

// IndexConfig is an index's settings, persisted with its collection. The
// zero value of M, M0, EfConstruction, EfSearch and Quantization selects
// the default in its comment.
type IndexConfig struct {
	// Metric: "euclidean", "l2", "l2sq", "cosine", "inner-product" or "ip";
	// kept as given, so that info echoes the caller's spelling.
	Metric string `json:"metric"`
	// Quantization: "f32" (default), "i8", "pq8" or "pq16".
	Quantization string `json:"quantization"`
	// M: links per node above level 0, 2..128. Default 16.
	M int `json:"m"`
	// M0: links per node on level 0, M..512. Default 2·M.
	M0 int `json:"m0"`
	// EfConstruction: candidate list size while inserting, ≥ M. Default 200.
	EfConstruction int `json:"ef_construction"`
	// EfSearch: candidate list size of a search that names none. Default 64.
	EfSearch int `json:"ef_search"`
	// PQName names the PQ configuration of a pq8/pq16 index.
	PQName string `json:"pq_name,omitempty"`
	// Normalization: vectors are L2-normalized on insert and update (a zero
	// vector is then invalid); queries are not.
	Normalization bool `json:"normalization"`
}

// ensureAndValidate fills defaults and checks ranges (not references).
func (ic *IndexConfig) ensureAndValidate() error {
	if ic.Metric == "" {
		ic.Metric = "euclidean"
	}
	if _, ok := metricNames[ic.Metric]; !ok {
		return fmt.Errorf("cannot use index metric %q: want euclidean, l2, l2sq, cosine, inner-product or ip: %w", ic.Metric, ErrInvalid)
	}
	if ic.Quantization == "" {
		ic.Quantization = QuantF32
	}
	switch ic.Quantization {
	case QuantF32, QuantI8:
		if ic.PQName != "" {
			return fmt.Errorf("cannot use pq_name %q with quantization %s: %w", ic.PQName, ic.Quantization, ErrInvalid)
		}
	case QuantPQ8, QuantPQ16:
		if ic.PQName == "" {
			return fmt.Errorf("cannot use quantization %s without pq_name: %w", ic.Quantization, ErrInvalid)
		}
		if ic.Metric == "cosine" {
			return fmt.Errorf("cannot use quantization %s with the cosine metric: %w", ic.Quantization, ErrInvalid)
		}
	default:
		return fmt.Errorf("cannot use quantization %q: want f32, i8, pq8 or pq16: %w", ic.Quantization, ErrInvalid)
	}
	if ic.M == 0 {
		ic.M = 16
	}
	if ic.M0 == 0 {
		ic.M0 = 2 * ic.M
	}
	if ic.EfConstruction == 0 {
		ic.EfConstruction = 200
	}
	if ic.EfSearch == 0 {
		ic.EfSearch = 64
	}
	switch {
	case ic.M < 2 || ic.M > 128:
		return fmt.Errorf("cannot use m %d: want 2 ≤ m ≤ 128: %w", ic.M, ErrInvalid)
	case ic.M0 < ic.M || ic.M0 > 512:
		return fmt.Errorf("cannot use m0 %d: want m ≤ m0 ≤ 512: %w", ic.M0, ErrInvalid)
	case ic.EfConstruction < ic.M || ic.EfConstruction > 1<<16:
		return fmt.Errorf("cannot use ef_construction %d: want m ≤ ef_construction ≤ 65536: %w", ic.EfConstruction, ErrInvalid)
	case ic.EfSearch < 1 || ic.EfSearch > 1<<16:
		return fmt.Errorf("cannot use ef_search %d: want 1..65536: %w", ic.EfSearch, ErrInvalid)
	}
	return nil
}

// sqrtDistance reports whether search distances are square-rooted.
func (ic *IndexConfig) sqrtDistance() bool { return ic.Metric == "euclidean" || ic.Metric == "l2" }

// hnswOptions returns the graph options of an f32 index.
func (ic *IndexConfig) hnswOptions(dim int) hnsw.Options {
	return hnsw.Options{
		Dim:            dim,
		Metric:         metricNames[ic.Metric],
		M:              ic.M,
		M0:             ic.M0,
		EfConstruction: ic.EfConstruction,
		EfSearch:       ic.EfSearch,
		Seed:           42,
		Rerank:         rerankDepth(ic.Quantization),
	}
}

// quantizer holds what a quantized index's storage is built from: the
// codebook of a pq8/pq16 index or the scalar quantizer of an i8 one (both
// immutable), and the collection's vector file that the index reranks
// from. The zero value is an f32 index.
type quantizer struct {
	cb    *pq.Codebook
	sq    *pq.ScalarQuantizer
	exact *exactFile
}

// storage returns a fresh hnsw.Storage for one index (nil for f32): codes
// only in RAM, the float32 vectors written to and reranked from the vector
// file (exact.go).
func (q quantizer) storage() hnsw.Storage {
	if q.cb == nil && q.sq == nil {
		return nil
	}
	if q.exact == nil {
		panic("BUG: quantized index without its vector file")
	}
	opts := pq.StorageOptions{CodesOnly: true, Exact: q.exact}
	if q.cb != nil {
		return &exactStorage{Storage: pq.NewPQStorage(q.cb, opts), file: q.exact}
	}
	return &exactStorage{Storage: pq.NewInt8Storage(q.sq, opts), file: q.exact}
}

// rerankDepth is hnsw.Options.Rerank for a quantization: how many of the
// walk's best candidates are rescored with exact distances (max(k, depth);
// 0 = all ef). int8 codes rank almost exactly (fashion-mnist: reranking the
// int8 top 20 finds the exact top 10), so i8 reranks the best 20 (2k at the
// default k); PQ codes rank coarsely (the ADC top 100 holds 0.97 of the top
// 10), so pq8/pq16 rerank all ef. docs/benchmarks.md, "Quantization", has
// the measurements.
func rerankDepth(quant string) int {
	if quant == QuantI8 {
		return i8RerankDepth
	}
	return 0
}

// i8RerankDepth is the rerank depth of i8 indexes.
const i8RerankDepth = 20

// newIndex returns an empty graph for cfg (already validated).
func newIndex(dim int, cfg *IndexConfig, q quantizer) (*hnsw.Index, error) {
	return newIndexCap(dim, cfg, q, 0)
}

// newIndexCap is newIndex with room reserved for capacity vectors.
func newIndexCap(dim int, cfg *IndexConfig, q quantizer, capacity int) (*hnsw.Index, error) {
	if cfg.Quantization != QuantF32 && q.cb == nil && q.sq == nil {
		panic("BUG: quantized index without its quantizer")
	}
	o := cfg.hnswOptions(dim)
	o.Capacity = capacity
	o.Storage = q.storage()
	x, err := hnsw.New(o)
	if err != nil {
		return nil, fmt.Errorf("cannot create index: %v: %w", err, ErrInvalid)
	}
	q.bind(x)
	return x, nil
}

// bind points a quantized index's vector file at x, whose slots it
// stores (the file reads from Pebble by id if a write failed).
func (q quantizer) bind(x *hnsw.Index) {
	if q.exact != nil {
		q.exact.bindIndex(x)
	}
}

// codebook builds the codebook of PQ configuration name for a pq8 or pq16
// index from its matrices. The caller must not hold db.mu.
func (db *DB) codebook(name, quant string) (*pq.Codebook, error) {
	p, err := db.PQ(name)
	if err != nil {
		return nil, err
	}
	subs := make([][]float32, len(p.Codebooks))
	for i, m := range p.Codebooks {
		if subs[i], _, err = db.MatrixData(m, nil); err != nil {
			return nil, err
		}
	}
	bits := 8
	if quant == QuantPQ16 {
		bits = 16
	}
	cb, err := pq.NewCodebook(p.Dim, bits, subs)
	if err != nil {
		return nil, fmt.Errorf("cannot build codebook of PQ %q: %v: %w", name, err, ErrInvalid)
	}
	return cb, nil
}

// quantizerFor returns the quantizer of an existing index (at Open), with
// its vector file open, and what the file's header said: the caller
// trusts the file only if it was clean for the checkpoint it loads. The
// header is marked dirty (durably) before this returns, since the file is
// written from now on.
func (db *DB) quantizerFor(m *collMeta) (quantizer, exactState, error) {
	var q quantizer
	switch m.Index.Quantization {
	case QuantPQ8, QuantPQ16:
		cb, err := db.codebook(m.Index.PQName, m.Index.Quantization)
		if err != nil {
			return quantizer{}, exactState{}, err
		}
		q.cb = cb
	case QuantI8:
		sq, err := pq.NewScalarQuantizer(m.I8Scale, m.I8Offset)
		if err != nil {
			return quantizer{}, exactState{}, fmt.Errorf("cannot rebuild the int8 quantizer: %v: %w", err, ErrInvalid)
		}
		q.sq = sq
	default:
		return quantizer{}, exactState{}, nil
	}
	e, st, err := openExactFile(db, m.ID, m.Dim, m.Index.Metric == "cosine", false)
	if err != nil {
		return quantizer{}, exactState{}, err
	}
	if st.clean {
		if err := e.markDirty(); err != nil {
			_ = e.close()
			return quantizer{}, exactState{}, err
		}
	}
	q.exact = e
	return q, st, nil
}

// i8Samples is the most vectors an i8 index trains its quantizer on.
const i8Samples = 65536

// trainScalar trains the int8 quantizer of a new i8 index on up to
// i8Samples stored vectors (normalized first if norm). An empty collection
// gets a fixed range of [−1, 1] per value: codes then clip larger values,
// and the float32 rerank keeps the final distances exact.
func (c *Collection) trainScalar(norm bool) (*pq.ScalarQuantizer, error) {
	lo, hi := subBounds(c.id, subVector)
	it, err := c.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	var sample []float32
	n := 0
	for ok := it.First(); ok && n < i8Samples; ok = it.Next() {
		k := len(sample)
		sample = decodeFloats(sample, it.Value())
		if norm {
			if normalizeInto(sample[k:], sample[k:]) != nil {
				sample = sample[:k] // a zero vector fails the build later
				continue
			}
		}
		n++
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	if n == 0 {
		scale := make([]float32, c.dim)
		for i := range scale {
			scale[i] = 1.0 / 127
		}
		return pq.NewScalarQuantizer(scale, make([]float32, c.dim))
	}
	sq, err := pq.TrainScalar(sample, c.dim, pq.ScalarOptions{Seed: 42})
	if err != nil {
		return nil, fmt.Errorf("cannot train the int8 quantizer: %v: %w", err, ErrInvalid)
	}
	return sq, nil
}

// checkVector validates a vector's length and values.
func checkVector(vec []float32, dim int) error {
	if len(vec) != dim {
		return fmt.Errorf("vector has %d components, want %d: %w", len(vec), dim, ErrDimension)
	}
	for _, f := range vec {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("vector has a non-finite component: %w", ErrInvalid)
		}
	}
	return nil
}

// normalizeInto writes vec/‖vec‖ to dst (len(dst) == len(vec)); a zero
// vector, or one whose norm overflows, is ErrInvalid.
func normalizeInto(dst, vec []float32) error {
	var s float64
	for _, f := range vec {
		s += float64(f) * float64(f)
	}
	if s == 0 || math.IsInf(s, 0) {
		return fmt.Errorf("cannot normalize a zero vector: %w", ErrInvalid)
	}
	inv := 1 / math.Sqrt(s)
	for i, f := range vec {
		dst[i] = float32(float64(f) * inv)
	}
	return nil
}

// CreateIndex builds an index over the collection's vectors, using
// BuildThreads goroutines, and persists its settings; it returns once the
// index is searchable. Writes to the collection wait for the build; reads
// of stored vectors do not. ErrExists if the collection has an index. With
// cfg.Normalization every stored vector is normalized (and rewritten) in the
// same atomic write; a zero vector makes the call fail with ErrInvalid and
// change nothing.
func (c *Collection) CreateIndex(cfg IndexConfig) error {
	if err := c.createIndex(cfg); err != nil {
		return fmt.Errorf("cannot create index on %q: %w", c.name, err)
	}
	return nil
}

func (c *Collection) createIndex(cfg IndexConfig) (err error) {
	if err := cfg.ensureAndValidate(); err != nil {
		return err
	}
	db := c.db
	if err := db.writable(); err != nil {
		return err
	}
	if cfg.PQName != "" {
		db.mu.Lock()
		err := db.checkPQForIndexLocked(cfg.PQName, c.dim, cfg.Quantization)
		if err == nil {
			db.mu.pqUsers[cfg.PQName]++ // pending: DeletePQ must wait for us
		}
		db.mu.Unlock()
		if err != nil {
			return err
		}
		committed := false
		defer func() {
			if !committed {
				db.mu.Lock()
				db.mu.pqUsers[cfg.PQName]--
				db.mu.Unlock()
			}
		}()
		defer func() { committed = err == nil }()
	}
	var q quantizer
	if cfg.PQName != "" {
		// The PQ and its matrices cannot change now: pqUsers > 0 forbids it.
		if q.cb, err = db.codebook(cfg.PQName, cfg.Quantization); err != nil {
			return err
		}
	}
	c.ckptMu.Lock()
	defer c.ckptMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.readableLocked(); err != nil {
		return err
	}
	if err := db.writable(); err != nil {
		return err
	}
	if c.mu.index != nil {
		return ErrExists
	}
	m := c.mu.meta
	m.I8Scale, m.I8Offset = nil, nil
	if cfg.Quantization == QuantI8 {
		if q.sq, err = c.trainScalar(cfg.Normalization); err != nil {
			return err
		}
		m.I8Scale, m.I8Offset = q.sq.Scale, q.sq.Offset
	}
	if cfg.Quantization != QuantF32 {
		if q.exact, _, err = openExactFile(db, c.id, c.dim, cfg.Metric == "cosine", true); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				_ = q.exact.remove()
			}
		}()
	}
	x, err := newIndex(c.dim, &cfg, q)
	if err != nil {
		return err
	}
	b := db.pdb.NewBatch()
	defer b.Close()
	var transform func(id uint64, v []float32) error
	if cfg.Normalization {
		var key, val []byte
		transform = func(id uint64, v []float32) error {
			if err := normalizeInto(v, v); err != nil {
				return fmt.Errorf("vector %d: %w", id, err)
			}
			key = appendIDKey(key[:0], c.id, subVector, id)
			val = appendFloats(val[:0], v)
			return b.Set(key, val, nil)
		}
	}
	start := time.Now()
	if err := c.buildFromVectors(x, transform); err != nil {
		x.Close()
		return err
	}
	m.Index = &cfg
	if err := c.saveMetaLocked(m, func(b2 *pebble.Batch) {
		lo, hi := subBounds(c.id, subLog)
		_ = b2.DeleteRange(lo, hi, nil)
		_ = b2.Delete(ckptMetaKey(c.id), nil)
		if b.Count() > 0 {
			_ = b2.Apply(b, nil)
		}
	}); err != nil {
		x.Close()
		return err
	}
	c.mu.index = x
	c.mu.quant = q
	c.ckptSeq, c.ckptFile = c.seq.Load(), ""
	c.dirty.Store(0)
	c.needCkpt.Store(true)
	db.kickCheckpointer()
	db.opts.Logger.Infof("collection %q: index built over %d vectors in %v", c.name, x.Len(), time.Since(start).Round(time.Millisecond))
	return nil
}

// DropIndex removes the collection's index, its settings, log and
// checkpoint. ErrNotFound if it has none.
func (c *Collection) DropIndex() error {
	if err := c.dropIndex(); err != nil {
		return fmt.Errorf("cannot drop index of %q: %w", c.name, err)
	}
	return nil
}

func (c *Collection) dropIndex() error {
	db := c.db
	if err := db.writable(); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	c.ckptMu.Lock()
	defer c.ckptMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.readableLocked(); err != nil {
		return err
	}
	if err := db.writable(); err != nil {
		return err
	}
	if c.mu.index == nil {
		return ErrNotFound
	}
	old := c.mu.meta.Index
	m := c.mu.meta
	m.Index = nil
	m.I8Scale, m.I8Offset = nil, nil
	if err := c.saveMetaLocked(m, func(b *pebble.Batch) {
		lo, hi := subBounds(c.id, subLog)
		_ = b.DeleteRange(lo, hi, nil)
		_ = b.Delete(ckptMetaKey(c.id), nil)
	}); err != nil {
		return err
	}
	if old.PQName != "" {
		db.mu.pqUsers[old.PQName]--
	}
	st := c.mu.index.Stats()
	c.inserts.Store(st.InsertsEver)
	c.deletes.Store(st.DeletesEver)
	c.mu.index.Close()
	c.mu.index = nil
	c.removeExactLocked()
	c.ckptSeq, c.ckptFile = 0, ""
	c.dirty.Store(0)
	c.needCkpt.Store(false)
	db.removeCheckpointFiles(c.id, "")
	return nil
}
