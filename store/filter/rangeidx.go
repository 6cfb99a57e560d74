package filter

import (
	"cmp"
	"slices"
	"sort"
)

// rangeIndex is the numeric index of one path: an entry (value, slot) for
// every doc whose field at the path is a number, or an array holding
// numbers (one entry per distinct number). It answers "which docs have a
// number in [lo, hi]" for the ordering operators.
//
// Entries live in a sorted array plus a small unsorted delta of recent
// inserts, merged into the array when it outgrows deltaMax; a removal from
// the sorted array leaves a tombstone (del set, the key kept so the array
// stays sorted), dropped at the next merge. A (value, slot) key appears at
// most once in the sorted array, live or not, and at most once live.
// Inserts and removals thus cost O(log n) amortized plus O(n/deltaMax) for
// the merges, and a range costs two binary searches plus a scan of the
// delta. Guarded by Index.mu.
type rangeIndex struct {
	sorted []rangeEnt // by (v, slot)
	delta  []rangeEnt
	dead   int // tombstones in sorted
}

type rangeEnt struct {
	v    float64
	slot uint32
	del  bool // a tombstone
}

// rangeEntSize is the memory an entry takes, for MemoryBytes.
const (
	rangeEntSize       = 16
	rangeIndexOverhead = 96
)

func rangeCmp(a, b rangeEnt) int {
	if c := cmp.Compare(a.v, b.v); c != 0 {
		return c
	}
	return cmp.Compare(a.slot, b.slot)
}

// deltaMax is the delta size that triggers a merge.
func (r *rangeIndex) deltaMax() int { return 256 + len(r.sorted)/256 }

// live returns the number of entries that are not tombstones.
func (r *rangeIndex) live() int { return len(r.sorted) - r.dead + len(r.delta) }

func (r *rangeIndex) add(v float64, slot uint32) {
	r.delta = append(r.delta, rangeEnt{v: v, slot: slot})
	if len(r.delta) > r.deltaMax() {
		r.merge()
	}
}

// remove removes the entry (v, slot), which must exist.
func (r *rangeIndex) remove(v float64, slot uint32) {
	e := rangeEnt{v: v, slot: slot}
	if i, ok := slices.BinarySearchFunc(r.sorted, e, rangeCmp); ok && !r.sorted[i].del {
		r.sorted[i].del = true
		r.dead++
		if r.dead > 64 && r.dead > len(r.sorted)/4 {
			r.merge()
		}
		return
	}
	for i := range r.delta {
		if r.delta[i] == e {
			last := len(r.delta) - 1
			r.delta[i] = r.delta[last]
			r.delta = r.delta[:last]
			return
		}
	}
	panic("BUG: filter: range entry to remove not found")
}

// merge sorts the delta into the array and drops tombstones, in place.
func (r *rangeIndex) merge() {
	if r.dead > 0 {
		s := r.sorted[:0]
		for _, e := range r.sorted {
			if !e.del {
				s = append(s, e)
			}
		}
		clear(r.sorted[len(s):])
		r.sorted, r.dead = s, 0
	}
	slices.SortFunc(r.delta, rangeCmp)
	n, m := len(r.sorted), len(r.delta)
	r.sorted = slices.Grow(r.sorted, m)[:n+m]
	i, j := n-1, m-1
	for k := n + m - 1; j >= 0; k-- {
		if i >= 0 && rangeCmp(r.sorted[i], r.delta[j]) > 0 {
			r.sorted[k] = r.sorted[i]
			i--
		} else {
			r.sorted[k] = r.delta[j]
			j--
		}
	}
	r.delta = r.delta[:0]
}

// entries returns the number of entries held, tombstones included.
func (r *rangeIndex) entries() int { return len(r.sorted) + len(r.delta) }

// bounds returns the [i, j) range of r.sorted (tombstones included) whose
// values satisfy the ordering operator o against w.
func (r *rangeIndex) bounds(o op, w float64) (int, int) {
	s := r.sorted
	n := len(s)
	switch o {
	case opGt:
		return sort.Search(n, func(k int) bool { return s[k].v > w }), n
	case opGte:
		return sort.Search(n, func(k int) bool { return s[k].v >= w }), n
	case opLt:
		return 0, sort.Search(n, func(k int) bool { return s[k].v >= w })
	case opLte:
		return 0, sort.Search(n, func(k int) bool { return s[k].v > w })
	}
	panic("BUG: filter: not an ordering operator")
}

func satisfies(o op, v, w float64) bool {
	switch o {
	case opGt:
		return v > w
	case opGte:
		return v >= w
	case opLt:
		return v < w
	}
	return v <= w
}

// count returns an upper bound on the docs with a value satisfying o w.
func (r *rangeIndex) count(o op, w float64) int {
	i, j := r.bounds(o, w)
	n := j - i
	for _, e := range r.delta {
		if satisfies(o, e.v, w) {
			n++
		}
	}
	return n
}

// appendSlots appends the slots of the entries satisfying o w.
func (r *rangeIndex) appendSlots(dst []uint32, o op, w float64) []uint32 {
	i, j := r.bounds(o, w)
	for _, e := range r.sorted[i:j] {
		if !e.del {
			dst = append(dst, e.slot)
		}
	}
	for _, e := range r.delta {
		if satisfies(o, e.v, w) {
			dst = append(dst, e.slot)
		}
	}
	return dst
}

// numbersOf returns the distinct numbers of the field value v (v itself, or
// an array's number elements) in dst[:0].
func numbersOf(v []byte, dst []float64) []float64 {
	dst = dst[:0]
	switch v[0] {
	case tNum:
		dst = append(dst, numOf(v))
	case tArr:
		body := arrayBody(v)
		for len(body) > 0 {
			if body[0] == tNum {
				dst = append(dst, numOf(body))
			}
			body = body[valueLen(body):]
		}
		if len(dst) > 1 {
			slices.Sort(dst)
			dst = slices.Compact(dst)
		}
	}
	return dst
}
