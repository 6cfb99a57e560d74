package hnsw

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lsmvec/lsmvec/kernels"
)

// cand is a (distance, slot) pair, the element of both search heaps.
type cand struct {
	d  float32
	id uint32
}

// minHeap is a binary min-heap on d over a slice (no container/heap: no
// interface calls).
type minHeap []cand

func (h *minHeap) push(c cand) {
	a := append(*h, c)
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].d <= c.d {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = c
	*h = a
}

func (h *minHeap) pop() cand {
	a := *h
	top := a[0]
	n := len(a) - 1
	last := a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && a[r].d < a[l].d {
			l = r
		}
		if last.d <= a[l].d {
			break
		}
		a[i] = a[l]
		i = l
	}
	if n > 0 {
		a[i] = last
	}
	*h = a
	return top
}

// maxHeap is a binary max-heap on d over a slice.
type maxHeap []cand

func (h *maxHeap) push(c cand) {
	a := append(*h, c)
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].d >= c.d {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = c
	*h = a
}

func (h *maxHeap) pop() cand {
	a := *h
	top := a[0]
	n := len(a) - 1
	last := a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && a[r].d > a[l].d {
			l = r
		}
		if last.d >= a[l].d {
			break
		}
		a[i] = a[l]
		i = l
	}
	if n > 0 {
		a[i] = last
	}
	*h = a
	return top
}

// searcher is the per-goroutine scratch of a search or an insert: the
// visited tags, the heaps, the batch buffers and two Queriers (one for the
// query, one for node-to-node distances). Pooled; owned by one goroutine
// between get and put.
type searcher struct {
	vis []uint16
	tag uint16

	cands minHeap
	res   maxHeap
	ids   []uint32
	nav   []uint32 // filtered walk: disallowed neighbours to expand through
	dists []float32
	sel   []cand
	tmp   []cand
	pr    []cand // addLink and repair: candidates
	pk    []cand // addLink and repair: kept
	lk    []cand // link: the selected neighbours of every level
	lkOff [maxLevel + 1]int
	qbuf  []float32

	q   Querier
	fq  *float32Querier // q when the storage is a Float32Storage
	q2  Querier
	fq2 *float32Querier

	rng  uint64
	sink uint32 // keeps the prefetching loads of searchLayer alive
}

type searcherPool struct {
	x    *Index
	pool sync.Pool
}

func (p *searcherPool) get() *searcher {
	if s, ok := p.pool.Get().(*searcher); ok {
		return s
	}
	return p.x.newSearcher()
}

func (p *searcherPool) put(s *searcher) { p.pool.Put(s) }

func (x *Index) newSearcher() *searcher {
	n := max(x.opts.M0, x.opts.EfConstruction) + 1
	s := &searcher{
		ids:   make([]uint32, 0, 4*n),
		dists: make([]float32, 4*n),
		cands: make(minHeap, 0, 4*n),
		res:   make(maxHeap, 0, 4*n),
		qbuf:  make([]float32, x.opts.Dim),
		q:     x.storage.NewQuerier(),
		q2:    x.storage.NewQuerier(),
		rng:   uint64(x.opts.Seed)*0x9e3779b97f4a7c15 | 1,
	}
	s.fq, _ = s.q.(*float32Querier)
	s.fq2, _ = s.q2.(*float32Querier)
	return s
}

// startVisit begins a new visited generation sized for the slots allocated
// now; slots allocated later grow the tags on demand (visitGrow).
func (s *searcher) startVisit(g *graph) {
	if n := len(*g.pages.Load()) * pageSize; len(s.vis) < n {
		s.vis = make([]uint16, n)
		s.tag = 0
	}
	s.tag++
	if s.tag == 0 {
		clear(s.vis)
		s.tag = 1
	}
}

func (s *searcher) visitGrow(g *graph, id uint32) {
	n := max(len(*g.pages.Load())*pageSize, int(id)+1)
	v := make([]uint16, n)
	copy(v, s.vis)
	s.vis = v
}

func (s *searcher) distances(ids []uint32, out []float32) {
	if s.fq != nil {
		s.fq.Distances(ids, out)
		return
	}
	s.q.Distances(ids, out)
}

// distances2 is distances for the second querier (node-to-node).
func (s *searcher) distances2(ids []uint32, out []float32) {
	if s.fq2 != nil {
		s.fq2.Distances(ids, out)
		return
	}
	s.q2.Distances(ids, out)
}

func (s *searcher) rand() uint64 {
	s.rng ^= s.rng << 13
	s.rng ^= s.rng >> 7
	s.rng ^= s.rng << 17
	return s.rng
}

// setQuery prepares the query (normalised into qbuf for Cosine).
func (s *searcher) setQuery(x *Index, q []float32) {
	if x.opts.Metric == Cosine {
		copy(s.qbuf, q)
		Normalize(s.qbuf)
		q = s.qbuf
	}
	s.q.SetQuery(q)
}

// Normalize scales v in place to unit length, as the index does to every
// vector and query under the cosine metric (a zero or non-finite norm
// leaves v as it is). Callers that keep vectors beside the index in the
// form it stores them (a Storage's exact source) use it to match exactly.
func Normalize(v []float32) {
	n := kernels.Norm(v)
	if n == 0 || math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return
	}
	inv := 1 / n
	for i := range v {
		v[i] *= inv
	}
}

// Result acceptance modes of searchLayer.
const (
	acceptAll    = iota // no tombstones: no per-node check
	acceptLive          // live nodes only
	acceptBuild         // live or being inserted (insertion's own searches)
	acceptFilter        // live and allowed by the filter
)

// readList copies the neighbours of slot at level l that are not yet
// visited into s.ids (marking them visited) and returns them.
func (s *searcher) readList(g *graph, slot uint32, l int) []uint32 {
	list := g.links(slot, l)
	n := int(atomic.LoadUint32(&list[0]))
	if n > len(list)-1 {
		n = len(list) - 1
	}
	nb := list[1 : 1+n]
	ids := s.ids[:0]
	vis, tag := s.vis, s.tag
	for j := range nb {
		id := atomic.LoadUint32(&nb[j])
		if int(id) >= len(vis) {
			s.visitGrow(g, id)
			vis = s.vis
		}
		if vis[id] == tag {
			continue
		}
		vis[id] = tag
		ids = append(ids, id)
	}
	s.ids = ids
	return ids
}

// descend walks greedily from the entry point down to level target+1 and
// returns the closest node found and its distance.
func (x *Index) descend(s *searcher, ep entry, target int) (uint32, float32) {
	g := &x.g
	cur := ep.slot()
	s.ids = append(s.ids[:0], cur)
	s.distances(s.ids, s.dists[:1])
	curD := s.dists[0]
	for l := ep.level(); l > target; l-- {
		for changed := true; changed; {
			changed = false
			list := g.links(cur, l)
			n := int(atomic.LoadUint32(&list[0]))
			if n > len(list)-1 {
				n = len(list) - 1
			}
			if n == 0 {
				break
			}
			ids := s.ids[:n]
			for j := range ids {
				ids[j] = atomic.LoadUint32(&list[j+1])
			}
			dists := s.dists[:n]
			s.distances(ids, dists)
			for j, d := range dists {
				if d < curD {
					curD, cur, changed = d, ids[j], true
				}
			}
		}
	}
	return cur, curD
}

// searchLayer is the HNSW beam search on level l from one entry node: it
// leaves in s.res (a max-heap) the best ef accepted nodes.
func (x *Index) searchLayer(s *searcher, ep uint32, epD float32, ef, l, mode int, f Filter) {
	g := &x.g
	s.cands = s.cands[:0]
	s.res = s.res[:0]
	s.startVisit(g)
	if int(ep) >= len(s.vis) {
		s.visitGrow(g, ep)
	}
	s.vis[ep] = s.tag
	s.cands.push(cand{epD, ep})
	lower := float32(math.Inf(1))
	if x.accept(ep, mode, f) {
		s.res.push(cand{epD, ep})
		lower = epD
	}
	for len(s.cands) > 0 {
		c := s.cands[0]
		if c.d > lower && len(s.res) >= ef {
			break
		}
		s.cands.pop()
		ids := s.readList(g, c.id, l)
		if len(ids) == 0 {
			continue
		}
		dists := s.dists[:len(ids)]
		s.distances(ids, dists)
		pages := *g.pages.Load()
		var touch uint32
		for i, id := range ids {
			d := dists[i]
			if len(s.res) < ef || d < lower {
				s.cands.push(cand{d, id})
				if l == 0 {
					// Load the first word of the new candidate's list now:
					// these loads miss independently and overlap, instead
					// of one miss at a time when the candidates are
					// expanded (the role of hnswlib's prefetch).
					touch += atomic.LoadUint32(&pages[id>>pageBits].links0[int(id&pageMask)*g.stride0])
				}
				if mode == acceptAll || x.accept(id, mode, f) {
					s.res.push(cand{d, id})
					if len(s.res) > ef {
						s.res.pop()
					}
					lower = s.res[0].d
				}
			}
		}
		s.sink += touch
	}
}

func (x *Index) accept(slot uint32, mode int, f Filter) bool {
	switch mode {
	case acceptAll:
		return true
	case acceptLive:
		return x.g.state(slot) == stateLive
	case acceptBuild:
		return x.g.state(slot) != stateDeleted
	}
	p := x.g.page(slot)
	i := slot & pageMask
	return p.state[i].Load() == stateLive && f.Allow(p.label[i])
}

// sortedResults empties s.res into s.sel in ascending order of distance,
// reranking with exact distances when the storage is approximate: the best
// max(k, Options.Rerank) candidates (all of them when Rerank is 0).
func (x *Index) sortedResults(s *searcher, k int) []cand {
	n := len(s.res)
	s.sel = slices.Grow(s.sel[:0], n)[:n]
	for i := n - 1; i >= 0; i-- {
		s.sel[i] = s.res.pop()
	}
	rr, ok := s.q.(Reranker)
	if !ok || n == 0 {
		return s.sel
	}
	if r := int(x.rerank.Load()); r > 0 {
		n = min(n, max(k, r))
		s.sel = s.sel[:n]
	}
	ids := slices.Grow(s.ids[:0], n)[:n]
	for i, c := range s.sel {
		ids[i] = c.id
	}
	s.ids = ids
	if cap(s.dists) < n {
		s.dists = make([]float32, n)
	}
	rr.ExactDistances(ids, s.dists[:n])
	for i := range s.sel {
		s.sel[i].d = s.dists[i]
	}
	slices.SortFunc(s.sel, cmpCand)
	return s.sel
}

func cmpCand(a, b cand) int {
	switch {
	case a.d < b.d:
		return -1
	case a.d > b.d:
		return 1
	case a.id < b.id:
		return -1
	case a.id > b.id:
		return 1
	}
	return 0
}

// search is Search and SearchFilter.
func (x *Index) search(q []float32, k, ef int, f Filter, dst []Result) []Result {
	if len(q) != x.opts.Dim || k <= 0 {
		return dst
	}
	if ef <= 0 {
		ef = x.opts.EfSearch
	}
	ef = max(ef, k)
	e := x.gate.enter()
	defer x.gate.exit(e)
	ep := x.g.loadEntry()
	if !ep.ok() {
		return dst
	}
	s := x.searchers.get()
	defer x.searchers.put(s)
	s.setQuery(x, q)
	if f != nil {
		return x.searchFiltered(s, ep, k, ef, f, dst)
	}
	cur, d := x.descend(s, ep, 0)
	// Without tombstones, skip the per-node state check: nodes still being
	// inserted may enter the heap, and appendLive drops them at the end.
	mode := acceptLive
	if x.g.tombstones.Load() == 0 {
		mode = acceptAll
	}
	x.searchLayer(s, cur, d, ef, 0, mode, nil)
	// appendLive's final check drops nodes deleted or replaced during the
	// walk, so a Delete that returned before Search began is honoured.
	if found := len(s.res); found < k && found < x.ids.len() {
		// The walk came up short (a graph cut by heavy deletes not yet
		// repaired): answer exactly.
		return x.exactScan(s, k, ef, nil, dst)
	}
	return x.appendLive(s, k, dst)
}
