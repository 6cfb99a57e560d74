package filter

import (
	"encoding/binary"
	"slices"
)

// Predicate is a Filter bound to an Index, for one search. Allow reports
// whether an id's payload matches; it costs a map lookup and a walk of the
// compiled filter over the id's pre-decoded record (tens of ns, no
// allocation) and is safe for concurrent use until Release.
//
// When the indexes bound the matches ($eq/$in/$contains_* on scalar
// values and $gt/$gte/$lt/$lte on numbers, combined with $and/$or) to at
// most Options.MaxList candidates, the Predicate's dynamic type also has
// AllowedIDs() []uint64, listing exactly the matching ids (in no particular
// order; the slice is owned by the Predicate, read-only, and valid until
// Release): hnsw.Index.SearchFilter then searches them exactly. Pass the
// Predicate itself as the hnsw filter so that the method is seen. With at
// most Options.MaxPrefilter candidates, Bind marks them in a bitmap and
// Allow rejects every other id with one bit test.
//
// A Predicate holds the Index's read lock from Bind until Release: call
// Release exactly once, after the last Allow and AllowedIDs call has
// returned (on every goroutine that used it), and never call Set, Delete or
// Bind on the same Index from a goroutine that holds an unreleased
// Predicate (it would deadlock with a waiting writer).
type Predicate interface {
	Allow(id uint64) bool
	Release()
}

// bound is the state behind both Predicate types.
type bound struct {
	x     *Index
	f     *Filter
	paths []uint32 // resolved path ids, by Filter path index
	ids   []uint64 // the listed ids (listPredicate)
	slots []uint32 // scratch while listing
	key   []byte   // scratch posting key
	// bits, when set, has a bit for every doc slot that may match (the
	// candidates from the indexes); exact says the set bits match.
	bits  []uint64
	exact bool
}

// scanPredicate evaluates every id it is asked about.
type scanPredicate bound

// listPredicate also lists its allowed ids.
type listPredicate bound

// Allow reports whether id's payload matches the filter.
func (p *scanPredicate) Allow(id uint64) bool { return (*bound)(p).allow(id) }

// Release releases the Index's read lock; p must not be used after.
func (p *scanPredicate) Release() { (*bound)(p).release() }

// Allow reports whether id's payload matches the filter.
func (p *listPredicate) Allow(id uint64) bool { return (*bound)(p).allow(id) }

// Release releases the Index's read lock; p must not be used after.
func (p *listPredicate) Release() { (*bound)(p).release() }

// AllowedIDs returns every id whose payload matches, in no particular
// order. The slice is read-only and valid until Release.
func (p *listPredicate) AllowedIDs() []uint64 { return p.ids }

// matchAll is the filter {}.
var matchAll = &Filter{root: node{op: opAll}, matchesEmpty: true}

// Bind binds f to x for one search and returns the Predicate, holding x's
// read lock until its Release (see Predicate). A nil f matches everything.
func (x *Index) Bind(f *Filter) Predicate {
	if f == nil {
		f = matchAll
	}
	b := x.preds.Get().(*bound)
	x.mu.RLock()
	b.x, b.f = x, f
	b.resolve()
	if !f.matchesEmpty { // ids without payloads cannot be listed
		if n, ok := b.estimate(&f.root); ok {
			switch {
			case n <= x.opts.MaxList:
				b.list()
				return (*listPredicate)(b)
			case n <= x.opts.MaxPrefilter && n <= len(x.mu.docs)/2:
				b.prefilter()
			}
		}
	}
	return (*scanPredicate)(b)
}

func (b *bound) release() {
	x := b.x
	if x == nil {
		panic("BUG: filter: Predicate released twice")
	}
	x.mu.RUnlock()
	b.x, b.f = nil, nil
	b.bits, b.exact = b.bits[:0], false
	if cap(b.bits) > 1<<20 { // 64M docs: keep at most 8 MiB pooled
		b.bits = nil
	}
	b.ids = b.ids[:0]
	b.paths = b.paths[:0]
	if cap(b.ids) > 1<<16 {
		b.ids = nil
	}
	x.preds.Put(b)
}

// allow evaluates the filter on id's payload.
func (b *bound) allow(id uint64) bool {
	x := b.x
	var s uint32
	if id < uint64(len(x.mu.dense)) {
		s = x.mu.dense[id] - 1
		if s == noPath {
			return b.f.matchesEmpty
		}
	} else {
		var ok bool
		if s, ok = x.mu.slotOf[id]; !ok {
			return b.f.matchesEmpty
		}
	}
	if len(b.bits) > 0 {
		if b.bits[s>>6]&(1<<(s&63)) == 0 {
			return false
		}
		if b.exact {
			return true
		}
	}
	return evalNode(&b.f.root, view{doc: x.mu.docs[s].rec, paths: b.paths})
}

// resolve looks up the path id of each of the filter's paths.
func (b *bound) resolve() {
	x := b.x
	b.paths = b.paths[:0]
	for _, segs := range b.f.paths {
		id := uint32(0)
		for _, s := range segs {
			c, ok := x.mu.pathIDs[pathKey{id, s}]
			if !ok {
				id = noPath
				break
			}
			id = c
		}
		b.paths = append(b.paths, id)
	}
}

// posting returns the posting of (path of leaf n, v), or nil.
func (b *bound) posting(n *node, v []byte) *posting {
	path := b.paths[n.path]
	if path == noPath || !isScalar(v) {
		return nil
	}
	b.key = binary.LittleEndian.AppendUint32(b.key[:0], path)
	b.key = append(b.key, v...)
	return b.x.mu.posts[string(b.key)]
}

// ranges returns the range index of the path of leaf n, or nil.
func (b *bound) ranges(n *node) *rangeIndex {
	path := b.paths[n.path]
	if path == noPath {
		return nil
	}
	return b.x.mu.ranges[path]
}

func postLen(p *posting) int {
	if p == nil {
		return 0
	}
	return len(p.slots)
}

// estimate returns an upper bound on the number of docs n matches, from the
// postings, when n is answerable from them (ok); every doc n matches is
// then in the postings collect gathers.
func (b *bound) estimate(n *node) (int, bool) {
	switch n.op {
	case opEq:
		if !isScalar(n.val) {
			return 0, false
		}
		return postLen(b.posting(n, n.val)), true
	case opIn, opContainsAny:
		sum := 0
		for _, v := range n.vals {
			if !isScalar(v) {
				return 0, false
			}
			sum += postLen(b.posting(n, v))
		}
		return sum, true
	case opContainsAll:
		best, ok := 0, false
		for _, v := range n.vals {
			if isScalar(v) {
				if c := postLen(b.posting(n, v)); !ok || c < best {
					best, ok = c, true
				}
			}
		}
		return best, ok
	case opGt, opGte, opLt, opLte:
		if n.val[0] != tNum {
			return 0, false // strings are not range-indexed
		}
		r := b.ranges(n)
		if r == nil {
			return 0, true
		}
		return r.count(n.op, numOf(n.val)), true
	case opAnd:
		best, ok := 0, false
		for i := range n.kids {
			if c, kok := b.estimate(&n.kids[i]); kok && (!ok || c < best) {
				best, ok = c, true
			}
		}
		return best, ok
	case opOr:
		sum := 0
		for i := range n.kids {
			c, ok := b.estimate(&n.kids[i])
			if !ok {
				return 0, false
			}
			sum += c
		}
		return sum, true
	}
	return 0, false
}

// collect appends the candidate slots of n (estimate(n) must be ok).
func (b *bound) collect(n *node, dst []uint32) []uint32 {
	switch n.op {
	case opEq:
		if p := b.posting(n, n.val); p != nil {
			dst = append(dst, p.slots...)
		}
	case opIn, opContainsAny:
		for _, v := range n.vals {
			if p := b.posting(n, v); p != nil {
				dst = append(dst, p.slots...)
			}
		}
	case opContainsAll:
		var best *posting
		found := false
		for _, v := range n.vals {
			if isScalar(v) {
				p := b.posting(n, v)
				if !found || postLen(p) < postLen(best) {
					best, found = p, true
				}
			}
		}
		if best != nil {
			dst = append(dst, best.slots...)
		}
	case opGt, opGte, opLt, opLte:
		if r := b.ranges(n); r != nil {
			dst = r.appendSlots(dst, n.op, numOf(n.val))
		}
	case opAnd:
		var kid *node
		best := 0
		for i := range n.kids {
			if c, ok := b.estimate(&n.kids[i]); ok && (kid == nil || c < best) {
				kid, best = &n.kids[i], c
			}
		}
		dst = b.collect(kid, dst)
	case opOr:
		for i := range n.kids {
			dst = b.collect(&n.kids[i], dst)
		}
	default:
		panic("BUG: filter: collect on an unlisted operation")
	}
	return dst
}

// list fills b.ids with the ids of the candidate docs that match, and
// b.bits with their slots (exact).
func (b *bound) list() {
	x := b.x
	b.slots = b.collect(&b.f.root, b.slots[:0])
	slices.Sort(b.slots)
	b.slots = slices.Compact(b.slots)
	b.ids = b.ids[:0]
	b.resetBits()
	for _, s := range b.slots {
		d := &x.mu.docs[s]
		if evalNode(&b.f.root, view{doc: d.rec, paths: b.paths}) {
			b.ids = append(b.ids, d.id)
			b.bits[s>>6] |= 1 << (s & 63)
		}
	}
	b.exact = true
	if cap(b.slots) > 1<<16 {
		b.slots = nil
	}
}

// prefilter sets b.bits to the candidate docs, for Allow to reject the
// others without reading their records.
func (b *bound) prefilter() {
	b.slots = b.collect(&b.f.root, b.slots[:0])
	b.resetBits()
	for _, s := range b.slots {
		b.bits[s>>6] |= 1 << (s & 63)
	}
	b.exact = false
	if cap(b.slots) > 1<<16 {
		b.slots = nil
	}
}

// resetBits sizes b.bits to the Index's slots, all clear.
func (b *bound) resetBits() {
	w := (len(b.x.mu.docs) + 63) / 64
	if cap(b.bits) < w {
		b.bits = make([]uint64, w)
		return
	}
	b.bits = b.bits[:w]
	clear(b.bits)
}
