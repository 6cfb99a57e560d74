package hnsw

// Filtered search.
//
// The plan, per search:
//   - A Filter with AllowedIDs whose set is at most exactFilterMax ids: exact
//     search over those ids.
//   - Otherwise the selectivity is estimated from a sample of slots (Allow on
//     256 random ones). When few ids would match (≤ exactFilterMax expected)
//     or the walk would visit more nodes than a scan computes distances for,
//     an exact scan over every live slot.
//   - Otherwise a graph walk that traverses every node but admits only
//     allowed live ones to the result set, and does not stop on distance
//     before it holds ef matches (this widens the search as far as the
//     filter needs). When it ends with fewer than k matches (the reachable
//     graph held too few) the exact scan runs instead, so a search returns
//     min(k, matches) results.

const filterSample = 256

func (x *Index) searchFiltered(s *searcher, ep entry, k, ef int, f Filter, dst []Result) []Result {
	if l, ok := f.(allowedLister); ok {
		if ids := l.AllowedIDs(); len(ids) <= x.exactFilterMax {
			return x.exactIDs(s, ids, k, ef, dst)
		}
	}
	g := &x.g
	live := x.ids.len()
	nslots := len(*g.pages.Load()) * pageSize
	seen, hit := 0, 0
	for i := 0; i < filterSample; i++ {
		slot := uint32(s.rand() % uint64(nslots))
		p := g.page(slot)
		j := slot & pageMask
		if p.state[j].Load() != stateLive {
			continue
		}
		seen++
		if f.Allow(p.label[j]) {
			hit++
		}
	}
	exact := hit == 0
	if x.exactFilterMax < 0 {
		exact = false // tests: always walk the graph first
	} else if !exact {
		sel := float64(hit) / float64(seen)
		exact = sel*float64(live) <= float64(x.exactFilterMax) ||
			float64(ef*x.opts.M0)/(2*sel) >= float64(live)
	}
	if exact {
		return x.exactScan(s, k, ef, f, dst)
	}
	cur, d := x.descend(s, ep, 0)
	x.searchLayer(s, cur, d, ef, 0, acceptFilter, f)
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
