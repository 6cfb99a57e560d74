package hnsw

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/lsmvec/lsmvec/kernels"
)

// randomLevel draws a level from the exponential distribution of the paper
// (mL = 1/ln M) with the index's seeded generator (splitmix64).
func (x *Index) randomLevel() int {
	x.levelMu.Lock()
	x.levelRand += 0x9e3779b97f4a7c15
	z := x.levelRand
	x.levelMu.Unlock()
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	u := (float64(z>>11) + 0.5) / (1 << 53) // in (0,1)
	return min(int(-math.Log(u)*x.levelMult), maxLevel)
}

// insert is Add: it links a new slot holding vec, then maps id to it,
// turning the slot it replaces (if any) into a tombstone.
func (x *Index) insert(id uint64, vec []float32) error {
	g := &x.g
	level := x.randomLevel()
	slot, ok := g.allocSlot(x, level)
	if !ok {
		return fmt.Errorf("cannot add id %d: %w", id, ErrFull)
	}
	g.page(slot).label[slot&pageMask] = id
	s := x.searchers.get()
	defer x.searchers.put(s)
	v := vec
	if x.opts.Metric == Cosine {
		copy(s.qbuf, vec)
		Normalize(s.qbuf)
		v = s.qbuf
	}
	x.storage.Set(slot, v)

	e := x.gate.enter()
	g.setState(slot, stateInserting)
	s.q.SetQuery(v)
	x.link(s, slot, level)
	x.gate.exit(e)

	replaced := false
	x.ids.swap(id, slot, func(old uint32, had bool) {
		g.setState(slot, stateLive)
		if had {
			x.tombstone(old)
			replaced = true
		}
	})
	x.inserts.Add(1)
	if replaced {
		x.maybeKickRepair()
	}
	return nil
}

// link connects slot (level level, query already set in s) into the graph.
func (x *Index) link(s *searcher, slot uint32, level int) {
	g := &x.g
	ep := g.loadEntry()
	if !ep.ok() {
		g.entryMu.Lock()
		ep = g.loadEntry()
		if !ep.ok() {
			g.entry.Store(uint64(makeEntry(slot, level)))
			g.entryMu.Unlock()
			return
		}
		g.entryMu.Unlock()
	}
	cur, curD := x.descend(s, ep, level)
	// Write the node's own lists on every level first and only then the
	// back-links, so the node becomes reachable with all its lists
	// complete: a search that reached it on level l+1 and went down to l
	// would otherwise find an empty list there and link poorly.
	top := min(level, ep.level())
	s.lk = s.lk[:0]
	for l := top; l >= 0; l-- {
		s.lkOff[l] = len(s.lk)
		mode := acceptBuild
		if g.tombstones.Load() == 0 {
			mode = acceptAll
		}
		x.searchLayer(s, cur, curD, x.opts.EfConstruction, l, mode, nil)
		n := len(s.res)
		s.sel = slices.Grow(s.sel[:0], n)[:n]
		for i := n - 1; i >= 0; i-- {
			s.sel[i] = s.res.pop()
		}
		if n > 0 {
			cur, curD = s.sel[0].id, s.sel[0].d
		}
		s.lk = x.selectNeighborsAppend(s.sel, slot, x.opts.M, s.lk)
		mu := g.stripe(slot)
		mu.Lock()
		writeList(g.links(slot, l), s.lk[s.lkOff[l]:])
		mu.Unlock()
	}
	// Segments are in level order top..0: level l ends where l-1 starts.
	for l := top; l >= 0; l-- {
		end := len(s.lk)
		if l > 0 {
			end = s.lkOff[l-1]
		}
		for _, nb := range s.lk[s.lkOff[l]:end] {
			x.addLink(s, nb.id, slot, nb.d, l)
		}
	}
	if level > ep.level() {
		g.entryMu.Lock()
		if cur := g.loadEntry(); !cur.ok() || level > cur.level() {
			g.entry.Store(uint64(makeEntry(slot, level)))
		}
		g.entryMu.Unlock()
	}
}

// writeList stores nbrs as a neighbour list (caller holds the stripe lock).
// Readers may see a mix of old and new entries, never an invalid id.
func writeList(list []uint32, nbrs []cand) {
	n := min(len(nbrs), len(list)-1)
	for i := 0; i < n; i++ {
		atomic.StoreUint32(&list[i+1], nbrs[i].id)
	}
	atomic.StoreUint32(&list[0], uint32(n))
}

// pairDistance is the distance between two stored slots.
func (x *Index) pairDistance(a, b uint32) float32 {
	if f, ok := x.storage.(*Float32Storage); ok {
		ar := *f.arena.Load()
		if f.metric == L2 {
			return kernels.L2Sq(f.vec(ar, a), f.vec(ar, b))
		}
		return 1 - kernels.Dot(f.vec(ar, a), f.vec(ar, b))
	}
	return x.storage.Distance(a, b)
}

// selectNeighbors is the paper's heuristic (Algorithm 4, without extending
// or keeping pruned candidates): walking cands in ascending distance to the
// base node, keep a candidate only if it is closer to the base than to every
// neighbour kept so far; stop at m. self is never kept.
func (x *Index) selectNeighbors(cands []cand, self uint32, m int, out []cand) []cand {
	return x.selectNeighborsAppend(cands, self, m, out[:0])
}

// selectNeighborsAppend appends the selection to out (the kept set is the
// part appended).
func (x *Index) selectNeighborsAppend(cands []cand, self uint32, m int, out []cand) []cand {
	base := len(out)
	for _, c := range cands {
		if len(out)-base >= m {
			break
		}
		if c.id == self {
			continue
		}
		good := true
		for _, r := range out[base:] {
			if x.pairDistance(r.id, c.id) < c.d {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		}
	}
	return out
}

// addLink adds slot (at distance d) to nb's list on level l, pruning the
// list with the heuristic when full. Tombstones are never linked to and are
// dropped from a list being pruned.
func (x *Index) addLink(s *searcher, nb, slot uint32, d float32, l int) {
	g := &x.g
	mu := g.stripe(nb)
	mu.Lock()
	defer mu.Unlock()
	if g.state(nb) == stateDeleted {
		return
	}
	list := g.links(nb, l)
	n := int(atomic.LoadUint32(&list[0]))
	for j := 1; j <= n; j++ {
		if atomic.LoadUint32(&list[j]) == slot {
			return
		}
	}
	maxM := g.maxLinks(l)
	if n < maxM {
		atomic.StoreUint32(&list[n+1], slot)
		atomic.StoreUint32(&list[0], uint32(n+1))
		return
	}
	ids := s.ids[:0]
	for j := 1; j <= n; j++ {
		e := atomic.LoadUint32(&list[j])
		if g.state(e) != stateDeleted {
			ids = append(ids, e)
		}
	}
	s.ids = ids
	s.q2.SetSlot(nb)
	dists := s.dists[:len(ids)]
	s.distances2(ids, dists)
	pr := append(s.pr[:0], cand{d, slot})
	for i, e := range ids {
		pr = append(pr, cand{dists[i], e})
	}
	slices.SortFunc(pr, cmpCand)
	s.pr = pr
	s.pk = x.selectNeighbors(pr, nb, maxM, s.pk[:0])
	writeList(list, s.pk)
}
