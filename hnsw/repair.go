package hnsw

import (
	"context"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Deletes and their repair.
//
// Delete (and an upsert's replaced slot) turns a slot into a tombstone: its
// state becomes deleted at once, so no search returns it, but it stays in the
// graph so paths through it keep working. A repair pass then:
//
//  1. takes the pending tombstones T and waits for a grace period, after
//     which no running insert can still create an edge to a node of T
//     (inserts check the state before linking);
//  2. scans every slot (in parallel, GOMAXPROCS workers) and rebuilds each
//     neighbour list that points into T from its surviving neighbours plus
//     the neighbours of its deleted ones, with the selection heuristic;
//  3. moves the entry point off a tombstone (to the highest live node) and
//     re-links any live node no longer reachable on level 0 (reconnect);
//  4. waits for a second grace period, after which no search can still hold
//     a node of T, and reclaims their slots for reuse.
//
// The background repairer runs a pass every Options.RepairInterval when
// tombstones exist, and at once when they exceed Options.RepairRatio of the
// live nodes. Repair runs a pass synchronously.

// tombstone marks slot deleted and queues it for repair. Called under the
// id's shard lock.
func (x *Index) tombstone(slot uint32) {
	g := &x.g
	g.tombstones.Add(1)
	g.setState(slot, stateDeleted)
	g.pendingMu.Lock()
	g.pending = append(g.pending, slot)
	g.pendingMu.Unlock()
}

func (x *Index) maybeKickRepair() {
	if x.opts.RepairInterval < 0 {
		return
	}
	if float64(x.g.tombstones.Load()) > x.opts.RepairRatio*float64(max(x.ids.len(), 1)) {
		select {
		case x.repairKick <- struct{}{}:
		default:
		}
	}
}

func (x *Index) startRepairer() {
	if x.opts.RepairInterval < 0 {
		close(x.done)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(x.done)
		defer cancel()
		t := time.NewTicker(x.opts.RepairInterval)
		defer t.Stop()
		go func() {
			<-x.closed
			cancel()
		}()
		for {
			select {
			case <-x.closed:
				return
			case <-t.C:
			case <-x.repairKick:
			}
			if x.g.tombstones.Load() > 0 {
				_ = x.repair(ctx)
			}
		}
	}()
}

func (x *Index) repair(ctx context.Context) error {
	x.repairMu.Lock()
	defer x.repairMu.Unlock()
	g := &x.g
	g.pendingMu.Lock()
	T := g.pending
	g.pending = nil
	g.pendingMu.Unlock()
	if len(T) == 0 {
		return ctx.Err()
	}
	restore := func() {
		g.pendingMu.Lock()
		g.pending = append(g.pending, T...)
		g.pendingMu.Unlock()
	}

	x.gate.synchronize()

	x.writeMu.RLock()
	nslots := g.numSlots()
	inT := make([]bool, nslots)
	for _, t := range T {
		inT[t] = true
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	const block = 256
	workers := min(runtime.GOMAXPROCS(0), (nslots+block-1)/block)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := x.searchers.get()
			defer x.searchers.put(s)
			for ctx.Err() == nil {
				lo := int(next.Add(block)) - block
				if lo >= nslots {
					return
				}
				for slot := uint32(lo); slot < uint32(min(lo+block, nslots)); slot++ {
					x.repairSlot(s, slot, inT)
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		x.writeMu.RUnlock()
		restore()
		return err
	}
	x.fixEntry()
	x.reconnect(inT)
	x.writeMu.RUnlock()

	x.gate.synchronize()

	x.writeMu.RLock()
	g.alloc.Lock()
	for _, t := range T {
		g.freeSlotLocked(t)
	}
	g.alloc.Unlock()
	g.tombstones.Add(-int64(len(T)))
	x.repairs.Add(int64(len(T)))
	x.writeMu.RUnlock()
	return nil
}

// repairSlot rebuilds the lists of slot that point into T, and the empty
// lists of a live slot. Under heavy deletes a live node can be left with
// an empty list (an insert whose search reached no live node, a rebuild
// that found no candidate), and since such a list points into no T, no
// later pass would look at it again: the node stays a dead end for every
// search that reaches it.
func (x *Index) repairSlot(s *searcher, slot uint32, inT []bool) {
	g := &x.g
	st := g.state(slot)
	if st == stateFree || inT[slot] {
		return
	}
	for l := g.level(slot); l >= 0; l-- {
		list := g.links(slot, l)
		n := int(atomic.LoadUint32(&list[0]))
		if n == 0 && st == stateLive {
			x.repairList(s, slot, l, inT)
			continue
		}
		for j := 1; j <= n; j++ {
			if e := atomic.LoadUint32(&list[j]); int(e) < len(inT) && inT[e] {
				x.repairList(s, slot, l, inT)
				break
			}
		}
	}
}

// repairList rebuilds slot's list on level l without the nodes of T: the
// candidates are its other neighbours and the neighbours of its neighbours
// in T; the heuristic picks among them. Tombstones themselves only lose
// their edges into T.
func (x *Index) repairList(s *searcher, slot uint32, l int, inT []bool) {
	g := &x.g
	mu := g.stripe(slot)
	mu.Lock()
	list := g.links(slot, l)
	n := int(atomic.LoadUint32(&list[0]))
	deleted := g.state(slot) == stateDeleted
	s.startVisit(g)
	s.vis[slot] = s.tag
	ids := s.ids[:0]
	add := func(e uint32) {
		if int(e) >= len(s.vis) {
			s.visitGrow(g, e)
		}
		if s.vis[e] == s.tag || int(e) < len(inT) && inT[e] {
			return
		}
		s.vis[e] = s.tag
		if st := g.state(e); st == stateLive || st == stateInserting {
			ids = append(ids, e)
		}
	}
	for j := 1; j <= n; j++ {
		e := atomic.LoadUint32(&list[j])
		if int(e) < len(inT) && inT[e] {
			if deleted {
				continue
			}
			el := g.links(e, l)
			en := int(atomic.LoadUint32(&el[0]))
			for k := 1; k <= en; k++ {
				add(atomic.LoadUint32(&el[k]))
			}
			continue
		}
		add(e)
	}
	s.ids = ids
	if deleted {
		// A tombstone only needs its edges into T gone; keep the rest.
		pk := s.pk[:0]
		for _, e := range ids {
			pk = append(pk, cand{0, e})
		}
		s.pk = pk
		writeList(list, pk)
		mu.Unlock()
		return
	}
	if cap(s.dists) < len(ids) {
		s.dists = make([]float32, 2*len(ids))
	}
	dists := s.dists[:len(ids)]
	s.q2.SetSlot(slot)
	s.distances2(ids, dists)
	pr := s.pr[:0]
	for i, e := range ids {
		pr = append(pr, cand{dists[i], e})
	}
	maxM := g.maxLinks(l)
	if len(pr) < maxM {
		// A thin neighbourhood (most of it deleted): search the graph
		// for more candidates, as an insert would.
		if ep := g.loadEntry(); ep.ok() && ep.level() >= l {
			s.q.SetSlot(slot)
			cur, d := x.descend(s, ep, l)
			x.searchLayer(s, cur, d, x.opts.EfConstruction, l, acceptBuild, nil)
			for _, c := range s.res {
				if c.id != slot && (int(c.id) >= len(inT) || !inT[c.id]) {
					pr = append(pr, c)
				}
			}
		}
	}
	slices.SortFunc(pr, cmpCand)
	pr = slices.Compact(pr)
	s.pr = pr
	old := s.lk[:0]
	for j := 1; j <= n; j++ {
		old = append(old, cand{0, atomic.LoadUint32(&list[j])})
	}
	s.pk = x.selectNeighbors(pr, slot, maxM, s.pk[:0])
	writeList(list, s.pk)
	// Announce the node to its new neighbours (back-links, as an insert
	// does), so nodes whose in-edges came from tombstones regain some.
	fresh := old[len(old):]
	for _, c := range s.pk {
		if !slices.ContainsFunc(old, func(o cand) bool { return o.id == c.id }) {
			fresh = append(fresh, c)
		}
	}
	s.lk = fresh
	mu.Unlock()
	for _, c := range fresh {
		x.addLink(s, c.id, slot, c.d, l)
	}
}

// fixEntry moves the entry point off a tombstone, to the non-deleted node
// of highest level (none when the graph holds no such node).
func (x *Index) fixEntry() {
	g := &x.g
	g.entryMu.Lock()
	defer g.entryMu.Unlock()
	ep := g.loadEntry()
	if !ep.ok() || g.state(ep.slot()) != stateDeleted {
		return
	}
	best, bestLevel := uint32(0), -1
	n := g.numSlots()
	for slot := uint32(0); slot < uint32(n); slot++ {
		if st := g.state(slot); st == stateLive || st == stateInserting {
			if l := g.level(slot); l > bestLevel {
				best, bestLevel = slot, l
			}
		}
	}
	if bestLevel < 0 {
		g.entry.Store(0)
		return
	}
	g.entry.Store(uint64(makeEntry(best, bestLevel)))
}

// reconnect makes every live node reachable on level 0 from the entry point
// again. Rebuilt lists can drop the last edge into a region (the heuristic
// prefers short edges, and a deleted node may have been the only bridge):
// a breadth-first walk from the entry point (not through T) marks what is
// reachable; each live node left out is searched for from the entry point
// and linked from its nearest reachable node (replacing that node's
// farthest neighbour when its list is full), after which the walk goes on
// from it, so one link reconnects a whole stranded region.
func (x *Index) reconnect(inT []bool) {
	g := &x.g
	ep := g.loadEntry()
	n := len(inT)
	if !ep.ok() || int(ep.slot()) >= n {
		return
	}
	x.reconnectOut(inT, ep.slot())
	seen := make([]bool, n)
	stack := []uint32{ep.slot()}
	seen[ep.slot()] = true
	walk := func() {
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			list := g.links(v, 0)
			c := int(atomic.LoadUint32(&list[0]))
			for j := 1; j <= c && j < len(list); j++ {
				e := atomic.LoadUint32(&list[j])
				if int(e) < n && !seen[e] && !inT[e] {
					seen[e] = true
					stack = append(stack, e)
				}
			}
		}
	}
	walk()
	var s *searcher
	for u := uint32(0); u < uint32(n); u++ {
		if seen[u] || inT[u] || g.state(u) != stateLive {
			continue
		}
		if s == nil {
			s = x.searchers.get()
			defer x.searchers.put(s)
		}
		s.q.SetSlot(u)
		cur, d := x.descend(s, g.loadEntry(), 0)
		x.searchLayer(s, cur, d, x.opts.EfConstruction, 0, acceptBuild, nil)
		best := cand{d: float32(math.Inf(1))}
		for _, c := range s.res {
			if c.id != u && int(c.id) < n && seen[c.id] && c.d < best.d {
				best = c
			}
		}
		if math.IsInf(float64(best.d), 1) {
			continue
		}
		x.forceLink(s, best.id, u, 0)
		x.reconnects.Add(1)
		seen[u] = true
		stack = append(stack, u)
		walk()
	}
}

// reconnectOut makes the entry point ep reachable on level 0 from every
// live node, the converse of reconnect's walk. Lists rebuilt by the
// heuristic can all point inward, leaving a sink: a group of live nodes
// whose level-0 edges only lead to each other. A search whose descent ends
// in one (through an upper-level member) then explores the sink alone and
// misses everything else, the query's own vector included. A reverse walk
// from ep (over level-0 edges, not through T) marks the nodes that reach
// it; each live node left out gets an edge to the nearest node that does
// (searched for from the entry point; ep itself when the search finds none),
// after which the reverse walk goes on from it, so one edge drains a whole
// sink. Adding or replacing an edge in a node's own list changes only what
// that node reaches, so the nodes marked stay marked.
func (x *Index) reconnectOut(inT []bool, ep uint32) {
	g := &x.g
	n := len(inT)
	// The reversed level-0 edges of non-free slots outside T, in CSR form.
	start := make([]int32, n+1)
	for v := uint32(0); v < uint32(n); v++ {
		if inT[v] || g.state(v) == stateFree {
			continue
		}
		list := g.links(v, 0)
		c := int(atomic.LoadUint32(&list[0]))
		for j := 1; j <= c && j < len(list); j++ {
			if e := atomic.LoadUint32(&list[j]); int(e) < n && !inT[e] {
				start[e+1]++
			}
		}
	}
	for i := 1; i <= n; i++ {
		start[i] += start[i-1]
	}
	src := make([]uint32, start[n])
	fill := slices.Clone(start[:n])
	for v := uint32(0); v < uint32(n); v++ {
		if inT[v] || g.state(v) == stateFree {
			continue
		}
		list := g.links(v, 0)
		c := int(atomic.LoadUint32(&list[0]))
		for j := 1; j <= c && j < len(list); j++ {
			if e := atomic.LoadUint32(&list[j]); int(e) < n && !inT[e] && fill[e] < start[e+1] {
				src[fill[e]] = v
				fill[e]++
			}
		}
	}
	reach := make([]bool, n)
	reach[ep] = true
	stack := []uint32{ep}
	walk := func() {
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, u := range src[start[v]:fill[v]] {
				if !reach[u] {
					reach[u] = true
					stack = append(stack, u)
				}
			}
		}
	}
	walk()
	var s *searcher
	for u := uint32(0); u < uint32(n); u++ {
		if reach[u] || inT[u] || g.state(u) != stateLive {
			continue
		}
		if s == nil {
			s = x.searchers.get()
			defer x.searchers.put(s)
		}
		s.q.SetSlot(u)
		cur, d := x.descend(s, g.loadEntry(), 0)
		x.searchLayer(s, cur, d, x.opts.EfConstruction, 0, acceptBuild, nil)
		best := cand{id: ep, d: float32(math.Inf(1))}
		for _, c := range s.res {
			if c.id != u && int(c.id) < n && reach[c.id] && c.d < best.d {
				best = c
			}
		}
		x.forceLink(s, u, best.id, 0)
		x.reconnects.Add(1)
		reach[u] = true
		stack = append(stack, u)
		walk()
	}
}

// forceLink puts slot in nb's list on level l: appended when there is
// room, else in place of nb's farthest neighbour.
func (x *Index) forceLink(s *searcher, nb, slot uint32, l int) {
	g := &x.g
	mu := g.stripe(nb)
	mu.Lock()
	defer mu.Unlock()
	if g.state(nb) == stateDeleted {
		return
	}
	list := g.links(nb, l)
	n := int(atomic.LoadUint32(&list[0]))
	ids := s.ids[:0]
	for j := 1; j <= n; j++ {
		e := atomic.LoadUint32(&list[j])
		if e == slot {
			return
		}
		ids = append(ids, e)
	}
	s.ids = ids
	if n < g.maxLinks(l) {
		atomic.StoreUint32(&list[n+1], slot)
		atomic.StoreUint32(&list[0], uint32(n+1))
		return
	}
	s.q2.SetSlot(nb)
	dists := s.dists[:len(ids)]
	s.distances2(ids, dists)
	far := 0
	for j, d := range dists {
		if d > dists[far] {
			far = j
		}
	}
	atomic.StoreUint32(&list[far+1], slot)
}
