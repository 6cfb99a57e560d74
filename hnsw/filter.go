package hnsw

// Filtered search.
//
// The plan, per search:
//
//  1. A Filter with AllowedIDs whose set is at most exactFilterMax ids:
//     exact search over those ids. A longer list gives the selectivity.
//  2. Otherwise the selectivity is estimated from a sample of live slots
//     (Allow on 256 random ones; when that points to the 2-hop walk, up to
//     1024 while fewer than 16 match).
//  3. No match in the sample, or at most exactFilterMax expected matches:
//     an exact scan over every live slot.
//  4. Otherwise the cheapest of three plans by a cost model (planFilter):
//     - the scan: every live slot checked, the allowed ones' distances;
//     - the 2-hop walk (walkFiltered), when the filter is dense enough that
//     a node's neighbours and theirs (M0² ids) hold about 32 allowed ones:
//     a beam search over the allowed nodes only, with ACORN-1's expansion:
//     distances for allowed live neighbours only, disallowed ones expanded
//     through (their allowed neighbours become candidates). Its ef grows
//     as the filter thins (below a 2-hop pool of ~100 allowed ids) to keep
//     recall at the unfiltered level; at dim 784 it costs under twice an
//     unfiltered search at that ef;
//     - the distance walk (searchLayer with acceptFilter): every node's
//     distance computed, only allowed live nodes admitted to the results,
//     no stop on distance before ef matches. Slow (it visits ~ef/sel
//     nodes) but independent of the filter's density: it serves nearly
//     unfiltered searches, and sparse filters on indexes too large to
//     scan.
//  5. A 2-hop walk that ends with fewer than k matches (the allowed nodes
//     near the query are few: a filter correlated with the vectors) is
//     followed by the distance walk when the model prefers it to the scan;
//     any walk that still holds fewer than k (or whose matches were deleted
//     meanwhile) is answered by the exact scan, so a search returns
//     min(k, matches) results.

import (
	"math"
	"sync/atomic"
)

// Selectivity sampling: filterSample slots; when that points to the 2-hop
// walk, up to filterSampleMax while fewer than filterSampleHits match.
const (
	filterSample     = 256
	filterSampleMax  = 1024
	filterSampleHits = 16
)

// The 2-hop walk: its pool (M0² · selectivity allowed ids in the 2-hop
// neighbourhood) must hold walkMinPool; below walkFullPool, ef grows by
// walkFullPool/pool. An expansion collects at most M0 allowed candidates.
const (
	walkMinPool  = 32
	walkFullPool = 100
)

// Values of Index.exactFilterMax below zero force a plan (tests and
// benchmarks): never the scan first, and for the last two one walk.
const (
	forceWalk     = -1 // the walk the cost model prefers
	forceTwoHop   = -2
	forceDistWalk = -3
)

// Filter plans.
const (
	planScan = iota
	planTwoHop
	planDistWalk
)

// planFilter picks the plan for a filter of estimated selectivity sel
// (0 < sel ≤ 1) over live slots, and the ef of the walk; twoHop false
// leaves the 2-hop walk out.
//
// The cost model counts in the scan's Allow checks (~2.5 ns). The scan
// reads slots in order: a check each, and a distance (1 + dim/10 checks:
// ~190 ns at dim 784, streamed) for each allowed one. A walk reads vectors
// at random (4 + dim/10 checks each). The 2-hop walk at ef e computed
// about 6e+60 distances, 60e+700 Allow checks and 11e+40 extra lists on
// fashion-mnist (M0=32), a check or list read there costing ~4 scan
// checks; the distance walk about ef·M0/(4·sel) distances, each with a
// check. The factors 2.5 and 1.6 (heaps, visited tags, misses the counts
// leave out) fit the measured times of TestFilteredCrossover on
// fashion-mnist-784 and siftsmall within ~1.5x and order the three plans
// as measured there.
func (x *Index) planFilter(sel float64, live, ef int, twoHop bool) (plan, walkEf int) {
	m0 := float64(x.opts.M0)
	dim := float64(x.opts.Dim)
	n := float64(live)
	walkDist := 4 + dim/10
	best, plan, walkEf := math.Inf(1), planScan, ef
	if x.exactFilterMax >= 0 {
		best = n + sel*n*(1+dim/10)
	}
	if pool := m0 * m0 * sel; twoHop && (pool >= walkMinPool || x.exactFilterMax == forceTwoHop) {
		e := ef
		if pool < walkFullPool {
			e = int(math.Ceil(float64(ef) * walkFullPool / max(pool, walkMinPool)))
		}
		fe := float64(e)
		c := 2.5 * ((6*fe+60)*walkDist + (416*fe+3440)*m0/32)
		if c < best && x.exactFilterMax != forceDistWalk {
			best, plan, walkEf = c, planTwoHop, e
		}
	}
	if c := 1.6 * float64(ef) * m0 / (4 * sel) * (walkDist + 4); c < best && x.exactFilterMax != forceTwoHop {
		plan, walkEf = planDistWalk, ef
	}
	return plan, walkEf
}

// sample calls Allow on the labels of up to tries random slots, adding
// the live ones to *seen and the allowed ones to *hit; it stops early once
// *hit reaches stopAt (0: never).
func (x *Index) sample(s *searcher, f Filter, tries, stopAt int, hit, seen *int) {
	pages := *x.g.pages.Load()
	nslots := uint64(len(pages)) * pageSize
	for i := 0; i < tries; i++ {
		if stopAt > 0 && *hit >= stopAt {
			return
		}
		slot := s.rand() % nslots
		p := pages[slot>>pageBits]
		j := slot & pageMask
		if p.state[j].Load() != stateLive {
			continue
		}
		*seen++
		if f.Allow(p.label[j]) {
			*hit++
		}
	}
}

func (x *Index) searchFiltered(s *searcher, ep entry, k, ef int, f Filter, dst []Result) []Result {
	live := x.ids.len()
	hit, seen := 0, 0
	if l, ok := f.(allowedLister); ok {
		ids := l.AllowedIDs()
		if len(ids) <= x.exactFilterMax {
			return x.exactIDs(s, ids, k, ef, dst)
		}
		hit, seen = len(ids), max(live, len(ids), 1) // exact: no more samples
	} else {
		x.sample(s, f, filterSample, 0, &hit, &seen)
	}
	var plan, walkEf int
	for refined := false; ; refined = true {
		sel := 0.0
		if hit > 0 {
			sel = float64(hit) / float64(seen)
		}
		if x.exactFilterMax >= 0 && (sel == 0 || sel*float64(live) <= float64(x.exactFilterMax)) {
			return x.exactScan(s, k, ef, f, dst)
		}
		sel = max(sel, 1/float64(max(live, 1)))
		plan, walkEf = x.planFilter(sel, live, ef, true)
		if plan != planTwoHop || refined || hit >= filterSampleHits {
			break
		}
		// The 2-hop walk's recall falls fast below its minimum pool, and
		// a few hits in 256 estimate it poorly: sample more first.
		x.sample(s, f, filterSampleMax-filterSample, filterSampleHits, &hit, &seen)
	}
	if plan == planScan {
		return x.exactScan(s, k, ef, f, dst)
	}
	cur, d := x.descend(s, ep, 0)
	if plan == planTwoHop {
		x.walkFiltered(s, cur, d, walkEf, x.opts.M0, f)
		if len(s.res) < k {
			// The allowed nodes near the entry point do not reach k
			// matches (a filter correlated with the vectors, away from
			// the query): the distance walk navigates through the
			// disallowed ones, when it is cheaper than the scan.
			plan, walkEf = x.planFilter(max(float64(hit)/float64(seen), 1/float64(max(live, 1))), live, ef, false)
		}
	}
	if plan == planDistWalk {
		x.searchLayer(s, cur, d, walkEf, 0, acceptFilter, f)
	}
	if len(s.res) < k {
		return x.exactScan(s, k, ef, f, dst)
	}
	n0 := len(dst)
	dst = x.appendLive(s, k, dst)
	if len(dst)-n0 < k {
		// Matches deleted while we walked: the scan decides.
		return x.exactScan(s, k, ef, f, dst[:n0])
	}
	return dst
}

// appendLive appends the best k results of s.res that are still live.
func (x *Index) appendLive(s *searcher, k int, dst []Result) []Result {
	n := 0
	for _, c := range x.sortedResults(s, k) {
		if n == k {
			break
		}
		p := x.g.page(c.id)
		i := c.id & pageMask
		if p.state[i].Load() != stateLive {
			continue
		}
		dst = append(dst, Result{ID: p.label[i], Distance: c.d})
		n++
	}
	return dst
}

// keepBest pushes the batch s.ids (distances computed here) into s.res,
// bounded to n.
func (s *searcher) keepBest(n int) {
	ids := s.ids
	if cap(s.dists) < len(ids) {
		s.dists = make([]float32, len(ids))
	}
	dists := s.dists[:len(ids)]
	s.distances(ids, dists)
	for i, id := range ids {
		d := dists[i]
		if len(s.res) < n {
			s.res.push(cand{d, id})
		} else if d < s.res[0].d {
			s.res.pop()
			s.res.push(cand{d, id})
		}
	}
	s.ids = ids[:0]
}

const scanBatch = 256

// exactScan is the exact filtered search over every live slot (f nil:
// all of them).
func (x *Index) exactScan(s *searcher, k, ef int, f Filter, dst []Result) []Result {
	g := &x.g
	s.res = s.res[:0]
	s.ids = s.ids[:0]
	pages := *g.pages.Load()
	for pi, p := range pages {
		for j := range p.state {
			if p.state[j].Load() != stateLive || f != nil && !f.Allow(p.label[j]) {
				continue
			}
			s.ids = append(s.ids, uint32(pi<<pageBits|j))
			if len(s.ids) == scanBatch {
				s.keepBest(ef)
			}
		}
	}
	if len(s.ids) > 0 {
		s.keepBest(ef)
	}
	return x.appendLive(s, k, dst)
}

// exactIDs is the exact search over the ids of an AllowedIDs list.
func (x *Index) exactIDs(s *searcher, ids []uint64, k, ef int, dst []Result) []Result {
	g := &x.g
	s.res = s.res[:0]
	s.ids = s.ids[:0]
	s.startVisit(g)
	for _, id := range ids {
		slot, ok := x.ids.get(id)
		if !ok {
			continue
		}
		if int(slot) >= len(s.vis) {
			s.visitGrow(g, slot)
		}
		if s.vis[slot] == s.tag || g.state(slot) != stateLive {
			continue
		}
		s.vis[slot] = s.tag
		s.ids = append(s.ids, slot)
		if len(s.ids) == scanBatch {
			s.keepBest(ef)
		}
	}
	if len(s.ids) > 0 {
		s.keepBest(ef)
	}
	return x.appendLive(s, k, dst)
}

// startVisit2 begins a visited generation with two tags: s.tag (done:
// allowed and queued, or expanded through) and s.tag-1 (seen, not allowed,
// not yet expanded through).
func (s *searcher) startVisit2(g *graph) {
	if n := len(*g.pages.Load()) * pageSize; len(s.vis) < n {
		s.vis = make([]uint16, n)
		s.tag = 0
	}
	if s.tag >= 0xfffe {
		clear(s.vis)
		s.tag = 0
	}
	s.tag += 2
}

// walkFiltered is the filtered beam search on level 0: distances are
// computed for allowed live nodes only, and disallowed neighbours are
// expanded through (their neighbours are candidates: the 2-hop expansion
// of ACORN-1) until budget allowed candidates are collected for the node.
func (x *Index) walkFiltered(s *searcher, ep uint32, epD float32, ef, budget int, f Filter) {
	g := &x.g
	s.cands = s.cands[:0]
	s.res = s.res[:0]
	s.startVisit2(g)
	if int(ep) >= len(s.vis) {
		s.visitGrow(g, ep)
	}
	s.vis[ep] = s.tag
	s.cands.push(cand{epD, ep})
	lower := float32(math.Inf(1))
	if x.accept(ep, acceptFilter, f) {
		s.res.push(cand{epD, ep})
		lower = epD
	}
	for len(s.cands) > 0 {
		c := s.cands[0]
		if c.d > lower && len(s.res) >= ef {
			break
		}
		s.cands.pop()
		ids := s.gatherAllowed(g, c.id, budget, f)
		if len(ids) == 0 {
			continue
		}
		dists := s.dists[:len(ids)]
		s.distances(ids, dists)
		for i, id := range ids {
			d := dists[i]
			if len(s.res) < ef || d < lower {
				s.cands.push(cand{d, id})
				s.res.push(cand{d, id})
				if len(s.res) > ef {
					s.res.pop()
				}
				lower = s.res[0].d
			}
		}
	}
}

// gatherAllowed collects into s.ids the unvisited allowed live neighbours
// of slot on level 0, then those of its disallowed neighbours, up to budget.
func (s *searcher) gatherAllowed(g *graph, slot uint32, budget int, f Filter) []uint32 {
	pages := *g.pages.Load()
	tag, seen := s.tag, s.tag-1
	ids := s.ids[:0]
	nav := s.nav[:0]
	list := g.links(slot, 0)
	n := min(int(atomic.LoadUint32(&list[0])), len(list)-1)
	nb := list[1 : 1+n]
	var touch uint32
	for j := range nb {
		id := atomic.LoadUint32(&nb[j])
		if int(id) >= len(s.vis) {
			s.visitGrow(g, id)
		}
		v := s.vis[id]
		if v == tag {
			continue
		}
		if int(id>>pageBits) >= len(pages) {
			pages = *g.pages.Load()
		}
		p := pages[id>>pageBits]
		i := id & pageMask
		if v != seen {
			if f.Allow(p.label[i]) && p.state[i].Load() == stateLive {
				s.vis[id] = tag
				ids = append(ids, id)
				continue
			}
			s.vis[id] = seen
		}
		nav = append(nav, id)
		// Load the first word of its list now, so that these misses
		// overlap instead of coming one at a time below.
		touch += atomic.LoadUint32(&p.links0[int(i)*g.stride0])
	}
	s.sink += touch
	for _, b := range nav {
		if len(ids) >= budget {
			break
		}
		s.vis[b] = tag
		list := g.links(b, 0)
		n := min(int(atomic.LoadUint32(&list[0])), len(list)-1)
		nb := list[1 : 1+n]
		for j := range nb {
			id := atomic.LoadUint32(&nb[j])
			if int(id) >= len(s.vis) {
				s.visitGrow(g, id)
			}
			if v := s.vis[id]; v == tag || v == seen {
				continue
			}
			if int(id>>pageBits) >= len(pages) {
				pages = *g.pages.Load()
			}
			p := pages[id>>pageBits]
			i := id & pageMask
			if f.Allow(p.label[i]) && p.state[i].Load() == stateLive {
				s.vis[id] = tag
				ids = append(ids, id)
				if len(ids) >= budget {
					break
				}
				continue
			}
			s.vis[id] = seen
		}
	}
	s.nav = nav
	s.ids = ids
	return ids
}
