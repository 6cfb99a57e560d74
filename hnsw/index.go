// Package hnsw is the in-memory graph index: a Hierarchical Navigable Small
// World graph (Malkov & Yashunin) over float32 vectors, with upserts, deletes
// whose edges are repaired in the background, filtered search, pluggable
// vector storage (for the quantizers in package pq) and snapshots.
//
// Layout: external ids are u64 and may be sparse; internally every vector
// lives in a dense u32 slot. Per-slot data (label, level, state, level-0
// neighbour list) sits in fixed-size pages that never move once allocated, so
// readers never see a reallocation and the GC scans one pointer per page, not
// per node. Upper-level lists live in a paged arena of their own. Vectors live
// behind the Storage interface (Float32Storage by default).
//
// Concurrency: an Index is safe for concurrent use. Searches take no lock:
// they read neighbour lists with atomic loads (a list may be seen half
// rewritten, which only ever yields ids that were valid neighbours during the
// search). Writers serialise per node with striped mutexes. Slots freed by
// repair are reused only after a grace period in which every search or insert
// that could still hold them has finished (an epoch gate), so a slot's vector
// is never rewritten under a reader.
//
// The index does no I/O of its own: WriteTo and Read move snapshots through
// an io.Writer and io.Reader the caller supplies.
package hnsw

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by the index; wrapped with %w, so test with errors.Is.
var (
	// ErrDimension reports a vector whose length differs from Options.Dim.
	ErrDimension = errors.New("hnsw: wrong vector dimension")
	// ErrCorrupt reports a snapshot that fails its checksum or its format.
	ErrCorrupt = errors.New("hnsw: corrupt snapshot")
	// ErrInvalidOptions reports Options outside their documented ranges.
	ErrInvalidOptions = errors.New("hnsw: invalid options")
	// ErrClosed reports an Add on an Index after Close.
	ErrClosed = errors.New("hnsw: index closed")
	// ErrFull reports that the index has no slot left (2³¹−1 slots).
	ErrFull = errors.New("hnsw: index full")
)

// Metric names the distance the index orders results by. Smaller is closer.
type Metric uint8

const (
	// L2 is the squared Euclidean distance Σ(q[i]-x[i])². Callers that expose
	// "euclidean" take the square root of the result themselves.
	L2 Metric = iota
	// InnerProduct is 1 − ⟨q,x⟩.
	InnerProduct
	// Cosine is 1 − cos(q,x). The index L2-normalises vectors on insert (and
	// queries on search) and then uses 1 − ⟨q,x⟩; the original, unnormalised
	// vector is kept only if the caller keeps it. A zero vector stays zero
	// and is at distance 1 from everything.
	Cosine
)

// ParseMetric parses a metric name: "l2", "euclidean", "ip", "inner-product"
// (also "inner_product", "dot") or "cosine"; case-insensitive.
func ParseMetric(s string) (Metric, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "l2", "euclidean", "l2sq":
		return L2, nil
	case "ip", "inner-product", "inner_product", "innerproduct", "dot":
		return InnerProduct, nil
	case "cosine", "cos":
		return Cosine, nil
	}
	return 0, fmt.Errorf("cannot parse metric %q: %w", s, ErrInvalidOptions)
}

// String returns "l2", "ip" or "cosine".
func (m Metric) String() string {
	switch m {
	case L2:
		return "l2"
	case InnerProduct:
		return "ip"
	case Cosine:
		return "cosine"
	}
	return fmt.Sprintf("metric(%d)", uint8(m))
}

// Options configures an Index. The zero value of each field means its
// default, applied by EnsureDefaults (New calls it).
type Options struct {
	// Dim is the vector length, 1..65536. Required.
	Dim int
	// Metric orders results. Default L2.
	Metric Metric
	// M is the number of links a node keeps on levels above 0, 2..128.
	// Default 16.
	M int
	// M0 is the number of links a node keeps on level 0, M..512. Default 2*M.
	M0 int
	// EfConstruction is the candidate list size while inserting, ≥ M.
	// Default 200.
	EfConstruction int
	// EfSearch is the candidate list size of Search when it is given ef ≤ 0.
	// Default 64.
	EfSearch int
	// Seed seeds the level generator. Default 42; the graph is
	// deterministic given the insertion order when inserts are sequential.
	Seed int64
	// Storage holds the vectors. Default nil: a Float32Storage in RAM. The
	// index calls Storage.Init in New; a Storage belongs to one Index.
	Storage Storage
	// Rerank is how many of the walk's best candidates a Reranker re-scores
	// with exact distances: max(k, Rerank). Default 0: all ef of them.
	Rerank int
	// Capacity is a hint: the number of slots to reserve up front. Default 0
	// (grow on demand).
	Capacity int
	// RepairInterval is how often the background repairer looks for
	// tombstones to repair. Default 1s. Negative disables background repair
	// (call Repair yourself).
	RepairInterval time.Duration
	// RepairRatio starts a repair at once when tombstones exceed this
	// fraction of live nodes. Default 0.1.
	RepairRatio float64
}

// EnsureDefaults fills the zero fields of o with their defaults.
func (o *Options) EnsureDefaults() {
	if o.M == 0 {
		o.M = 16
	}
	if o.M0 == 0 {
		o.M0 = 2 * o.M
	}
	if o.EfConstruction == 0 {
		o.EfConstruction = 200
	}
	if o.EfSearch == 0 {
		o.EfSearch = 64
	}
	if o.Seed == 0 {
		o.Seed = 42
	}
	if o.RepairInterval == 0 {
		o.RepairInterval = time.Second
	}
	if o.RepairRatio == 0 {
		o.RepairRatio = 0.1
	}
}

// Validate reports whether o (after EnsureDefaults) is within range:
// 1 ≤ Dim ≤ 65536, 2 ≤ M ≤ 128, M ≤ M0 ≤ 512, EfConstruction ≥ M,
// EfSearch ≥ 1, a known Metric.
func (o *Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("cannot use options: "+format+": %w", append(args, ErrInvalidOptions)...)
	}
	switch {
	case o.Dim < 1 || o.Dim > 65536:
		return bad("dim %d outside 1..65536", o.Dim)
	case o.Metric > Cosine:
		return bad("unknown metric %d", uint8(o.Metric))
	case o.M < 2 || o.M > 128:
		return bad("m %d outside 2..128", o.M)
	case o.M0 < o.M || o.M0 > 512:
		return bad("m0 %d outside m..512", o.M0)
	case o.EfConstruction < o.M:
		return bad("ef_construction %d below m %d", o.EfConstruction, o.M)
	case o.EfSearch < 1:
		return bad("ef_search %d below 1", o.EfSearch)
	case o.Rerank < 0:
		return bad("rerank %d below 0", o.Rerank)
	case o.Capacity < 0 || o.Capacity > maxSlots:
		return bad("capacity %d outside 0..%d", o.Capacity, maxSlots)
	case o.RepairRatio < 0 || math.IsNaN(o.RepairRatio):
		return bad("repair ratio %v below 0", o.RepairRatio)
	}
	return nil
}

// Result is one search hit: an external id and its distance to the query.
type Result struct {
	ID       uint64
	Distance float32
}

// Filter restricts a search to the ids it allows. Allow is called with
// external ids, from the searching goroutine, possibly many times per search
// and from several searches at once: it must be safe for concurrent use and
// cheap.
//
// A Filter may also implement AllowedIDs() []uint64, returning every id it
// allows (when the caller knows them cheaply, e.g. from a payload index); the
// index then searches a small allowed set exactly. The slice is only read and
// must not change during the search.
type Filter interface {
	Allow(id uint64) bool
}

// allowedLister is the optional extension of Filter.
type allowedLister interface {
	AllowedIDs() []uint64
}

// Stats is a point-in-time view of an Index's counters.
type Stats struct {
	Live        int   // vectors searchable now
	Tombstones  int   // deleted or replaced nodes whose in-edges are not yet repaired
	Repairs     int64 // tombstones repaired and slots reclaimed, ever
	Slots       int   // slots allocated (live + tombstones + in flight + free)
	FreeSlots   int   // reclaimed slots waiting for reuse
	MemoryBytes int64 // bytes held by the graph and the vectors
	InsertsEver int64 // successful Add calls, ever
	DeletesEver int64 // Delete calls that removed an id, ever
	MaxLevel    int   // top level of the graph; -1 when empty
	Reconnects  int64 // nodes a repair found unreachable and linked again, ever
}

// Index is an HNSW graph over vectors keyed by u64 ids. It is safe for
// concurrent use: any number of Add, Delete, Search, SearchFilter, Vector,
// Stats, WriteTo and Repair calls may run at once. Close stops the background
// repairer; the Index must not be used afterwards.
type Index struct {
	opts    Options
	storage Storage
	g       graph
	ids     idMap
	gate    epochGate

	// writeMu is held shared by every mutation (Add, Delete, repair) and
	// exclusively by WriteTo, so a snapshot sees a consistent graph.
	writeMu sync.RWMutex

	// levelMu guards levelRand.
	levelMu   sync.Mutex
	levelRand uint64
	levelMult float64

	searchers searcherPool

	inserts    atomic.Int64
	deletes    atomic.Int64
	repairs    atomic.Int64
	reconnects atomic.Int64

	repairMu   sync.Mutex // serialises repair passes
	repairKick chan struct{}
	closeOnce  sync.Once
	closed     chan struct{}
	done       chan struct{}

	// rerank is Options.Rerank, which SetRerank may change while searches
	// run (a snapshot does not carry it: it is the caller's search setting).
	rerank atomic.Int32

	// Tunables for tests and benchmarks (not options: they are heuristics).
	exactFilterMax int // allowed-set size at or below which filtered search is exact; < 0: always walk first (tests)
}

// New returns an empty Index. It starts the background repairer unless
// opts.RepairInterval < 0; call Close to stop it.
func New(opts Options) (*Index, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	x := newIndex(opts)
	if err := x.storage.Init(opts.Dim, opts.Metric); err != nil {
		return nil, fmt.Errorf("cannot init storage: %w", err)
	}
	if opts.Capacity > 0 {
		x.g.reserve(x, opts.Capacity)
	}
	x.startRepairer()
	return x, nil
}

func newIndex(opts Options) *Index {
	st := opts.Storage
	if st == nil {
		st = NewFloat32Storage()
		opts.Storage = st
	}
	x := &Index{
		opts:           opts,
		storage:        st,
		levelRand:      uint64(opts.Seed),
		levelMult:      1 / math.Log(float64(opts.M)),
		repairKick:     make(chan struct{}, 1),
		closed:         make(chan struct{}),
		done:           make(chan struct{}),
		exactFilterMax: 2048,
	}
	x.rerank.Store(int32(min(opts.Rerank, math.MaxInt32)))
	x.g.init(opts)
	x.ids.init()
	x.searchers.x = x
	return x
}

// Options returns the options the index runs with, defaults filled in.
func (x *Index) Options() Options {
	o := x.opts
	o.Rerank = int(x.rerank.Load())
	return o
}

// SetRerank sets Options.Rerank, how many of a search's best candidates a
// Reranker re-scores (0: all ef). Read does not restore it, since a
// snapshot holds the graph, not the caller's search settings: a caller
// that opens a quantized index from a snapshot sets it again. It is safe
// while searches run; each search uses the value it finds at its end.
func (x *Index) SetRerank(n int) error {
	if n < 0 {
		return fmt.Errorf("cannot set rerank %d: %w", n, ErrInvalidOptions)
	}
	x.rerank.Store(int32(min(n, math.MaxInt32)))
	return nil
}

// Add inserts vec under id, or replaces the vector already there (upsert).
// The index copies vec (normalised first for Cosine). It returns an error
// wrapping ErrDimension for a wrong length; it does not check for NaN or
// Inf (the caller validates input). A replaced vector stops appearing in
// results once Add returns; the new one appears once Add returns.
func (x *Index) Add(id uint64, vec []float32) error {
	if len(vec) != x.opts.Dim {
		return fmt.Errorf("cannot add id %d: got %d values, want %d: %w", id, len(vec), x.opts.Dim, ErrDimension)
	}
	if x.isClosed() {
		return fmt.Errorf("cannot add id %d: %w", id, ErrClosed)
	}
	x.writeMu.RLock()
	defer x.writeMu.RUnlock()
	return x.insert(id, vec)
}

// Delete removes id and reports whether it was present. The id stops
// appearing in results at once; its node stays in the graph as a tombstone
// (still traversed, never returned) until a repair re-links its neighbours
// and reclaims the slot.
func (x *Index) Delete(id uint64) bool {
	x.writeMu.RLock()
	defer x.writeMu.RUnlock()
	if !x.ids.remove(id, x.tombstone) {
		return false
	}
	x.deletes.Add(1)
	x.maybeKickRepair()
	return true
}

// Contains reports whether id is live in the index.
func (x *Index) Contains(id uint64) bool {
	_, ok := x.ids.get(id)
	return ok
}

// Vector appends the stored vector of id to dst and reports whether id is
// present. For Cosine the stored vector is the normalised one; for a lossy
// Storage it is the decoded one.
func (x *Index) Vector(id uint64, dst []float32) ([]float32, bool) {
	e := x.gate.enter()
	defer x.gate.exit(e)
	slot, ok := x.ids.get(id)
	if !ok {
		return dst, false
	}
	return x.storage.Vector(slot, dst), true
}

// SlotID returns the external id stored in slot, for a Storage whose exact
// vectors live elsewhere (keyed by id): valid for any slot a Querier or
// Reranker is handed during a search, while that search runs. It reports
// false for a slot that holds no vector.
func (x *Index) SlotID(slot uint32) (uint64, bool) {
	pages := *x.g.pages.Load()
	if int(slot>>pageBits) >= len(pages) {
		return 0, false
	}
	p := pages[slot>>pageBits]
	i := slot & pageMask
	if p.state[i].Load() == stateFree {
		return 0, false
	}
	return p.label[i], true
}

// Len returns the number of live vectors.
func (x *Index) Len() int { return x.ids.len() }

// Search appends to dst up to k results nearest to q, ascending by distance,
// and returns the extended slice. ef ≤ 0 means Options.EfSearch; ef is raised
// to k when smaller. A q of the wrong length, k ≤ 0 or an empty index yields
// no results. With a dst of capacity ≥ len(dst)+k it allocates nothing.
func (x *Index) Search(q []float32, k, ef int, dst []Result) []Result {
	return x.search(q, k, ef, nil, dst)
}

// SearchFilter is Search restricted to the ids f allows. It returns exactly
// min(k, number of allowed live ids) results: small allowed sets are searched
// exactly, larger ones by a graph walk that passes through disallowed nodes,
// widening ef and finally falling back to an exact scan when the walk comes
// up short. A nil f means no restriction.
func (x *Index) SearchFilter(q []float32, k, ef int, f Filter, dst []Result) []Result {
	return x.search(q, k, ef, f, dst)
}

// Stats returns the index's counters.
func (x *Index) Stats() Stats {
	ep := x.g.loadEntry()
	maxLevel := -1
	if ep.ok() {
		maxLevel = ep.level()
	}
	slots, free := x.g.slotCounts()
	return Stats{
		Live:        x.ids.len(),
		Tombstones:  int(x.g.tombstones.Load()),
		Repairs:     x.repairs.Load(),
		Slots:       slots,
		FreeSlots:   free,
		MemoryBytes: x.g.memoryBytes() + x.storage.MemoryBytes() + x.ids.memoryBytes(),
		InsertsEver: x.inserts.Load(),
		DeletesEver: x.deletes.Load(),
		MaxLevel:    maxLevel,
		Reconnects:  x.reconnects.Load(),
	}
}

// Repair re-links the neighbours of every current tombstone and reclaims
// their slots, then returns. It runs concurrently with searches and inserts
// (which it never blocks) and is serialised with other repairs, including
// the background one. It returns ctx.Err() if ctx ends first (the work done
// so far is kept and the rest is left for a later pass).
func (x *Index) Repair(ctx context.Context) error {
	return x.repair(ctx)
}

// Reconnect makes every live node reachable on level 0 from the entry
// point, and able to reach it, linking any node or group left out (the
// last step of a repair pass, which runs only when there are tombstones).
// Concurrent inserts with the pruning heuristic can leave a node with no
// edge into it; call Reconnect after a parallel bulk build. It returns the
// number of links it added. It runs concurrently with searches and inserts
// and is serialised with repairs.
func (x *Index) Reconnect() int64 {
	x.repairMu.Lock()
	defer x.repairMu.Unlock()
	x.writeMu.RLock()
	defer x.writeMu.RUnlock()
	before := x.reconnects.Load()
	x.reconnect(make([]bool, x.g.numSlots()))
	return x.reconnects.Load() - before
}

// Close stops the background repairer and waits for it. It is idempotent.
func (x *Index) Close() {
	x.closeOnce.Do(func() {
		close(x.closed)
	})
	<-x.done
}

func (x *Index) isClosed() bool {
	select {
	case <-x.closed:
		return true
	default:
		return false
	}
}
