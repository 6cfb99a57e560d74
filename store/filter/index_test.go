package filter

import (
	"encoding/binary"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("filter.seed", 0, "seed of the randomized tests (0: from the clock)")

func testSeed(t testing.TB) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -filter.seed=%d)", s, s)
	return s
}

// checkInvariants recomputes the Index's derived state (path reference
// counts, postings, positions, memory estimate) from the records.
func checkInvariants(t testing.TB, x *Index) {
	t.Helper()
	x.mu.RLock()
	defer x.mu.RUnlock()
	ids := maps.Clone(x.mu.slotOf)
	for id, s := range x.mu.dense {
		if s != 0 {
			if _, dup := ids[uint64(id)]; dup {
				t.Fatalf("id %d both dense and in the map", id)
			}
			ids[uint64(id)] = s - 1
		}
	}
	if len(ids) != x.mu.count || len(ids)+len(x.mu.free) != len(x.mu.docs) {
		t.Fatalf("%d ids (count %d) + %d free != %d slots", len(ids), x.mu.count, len(x.mu.free), len(x.mu.docs))
	}
	for _, s := range x.mu.free {
		if x.mu.docs[s].rec != nil || len(x.mu.docs[s].refs) != 0 {
			t.Fatalf("free slot %d holds a record", s)
		}
	}
	refs := map[uint32]int64{}
	want := map[string][]uint32{}
	wantRange := map[uint32][]rangeEnt{}
	bytes := 4 * int64(len(x.mu.dense))
	for id, s := range ids {
		d := &x.mu.docs[s]
		if d.id != id || d.rec == nil {
			t.Fatalf("slot %d: id %d rec %v, want id %d", s, d.id, d.rec != nil, id)
		}
		bytes += docOverhead + int64(len(d.rec))
		last := int64(-1)
		forEachField(d.rec, func(path uint32, v []byte) {
			if int64(path) <= last {
				t.Fatalf("doc %d: fields not sorted", id)
			}
			last = int64(path)
			refs[path]++
			for _, f := range numbersOf(v, nil) {
				wantRange[path] = append(wantRange[path], rangeEnt{v: f, slot: s})
			}
			add := func(v []byte) {
				k := string(binary.LittleEndian.AppendUint32(nil, path)) + string(v)
				if l := want[k]; len(l) == 0 || l[len(l)-1] != s {
					want[k] = append(l, s)
				}
			}
			switch {
			case isScalar(v):
				add(v[:valueLen(v)])
			case v[0] == tArr:
				b := arrayBody(v)
				for len(b) > 0 {
					l := valueLen(b)
					if isScalar(b) {
						add(b[:l])
					}
					b = b[l:]
				}
			}
		})
		for _, r := range d.refs {
			if r.p.slots[r.pos] != s {
				t.Fatalf("doc %d: stale posting position", id)
			}
		}
	}
	for k, p := range x.mu.posts {
		if p.key != k {
			t.Fatalf("posting key mismatch")
		}
		got := slices.Clone(p.slots)
		slices.Sort(got)
		w := slices.Clone(want[k])
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Fatalf("posting %q: slots %v, want %v", k, got, w)
		}
		bytes += postingOverhead + int64(len(k)) + int64(len(p.slots))*(4+postRefSize)
	}
	if len(x.mu.posts) != len(want) {
		t.Fatalf("%d postings, want %d", len(x.mu.posts), len(want))
	}
	if len(x.mu.ranges) != len(wantRange) {
		t.Fatalf("%d range indexes, want %d", len(x.mu.ranges), len(wantRange))
	}
	for path, r := range x.mu.ranges {
		if !slices.IsSortedFunc(r.sorted, rangeCmp) {
			t.Fatalf("range index of path %d not sorted", path)
		}
		var got []rangeEnt
		deadN := 0
		for _, e := range r.sorted {
			if e.del {
				deadN++
			} else {
				got = append(got, e)
			}
		}
		if deadN != r.dead {
			t.Fatalf("range index of path %d: %d tombstones, counted %d", path, deadN, r.dead)
		}
		got = append(got, r.delta...)
		slices.SortFunc(got, rangeCmp)
		w := wantRange[path]
		slices.SortFunc(w, rangeCmp)
		if !slices.Equal(got, w) {
			t.Fatalf("range index of path %d: %v, want %v", path, got, w)
		}
		bytes += rangeIndexOverhead + int64(r.entries())*rangeEntSize
	}
	if len(x.mu.pathIDs) != len(refs) {
		t.Fatalf("%d paths interned, %d in use", len(x.mu.pathIDs), len(refs))
	}
	for k, id := range x.mu.pathIDs {
		e := x.mu.paths[id]
		if e.key != k || e.refs != refs[id] {
			t.Fatalf("path %v: refs %d, want %d", k, e.refs, refs[id])
		}
		bytes += pathOverhead + int64(len(k.name))
	}
	if bytes != x.mu.bytes {
		t.Fatalf("MemoryBytes %d, recomputed %d", x.mu.bytes, bytes)
	}
}

// gen builds random payloads and filters from a small vocabulary, so that
// values collide often.
type gen struct{ r *rand.Rand }

var (
	genNums    = []string{"0", "1", "1.0", "-0", "2", "2.5", "-1", "1e1", "10", "1e400"}
	genStrs    = []string{`""`, `"r"`, `"g"`, `"b"`, `"R"`, `"é"`, `"\u00e9"`, `"a.b"`}
	genKeys    = []string{"a", "b", "c", "x"}
	genFields  = []string{"a", "b", "c", "n", "s", "tags", "o"}
	genPaths   = []string{"a", "b", "c", "n", "s", "tags", "o", "o.x", "o.y", "o.x.a", "zz", "a.b", "tags.a"}
	genOps     = []string{"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains_any", "$contains_all", "$not"}
	genLogical = []string{"$and", "$or", "$not"}
)

func (g gen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g gen) scalar() string {
	switch g.r.IntN(6) {
	case 0:
		return g.pick([]string{"null", "true", "false"})
	case 1, 2:
		return g.pick(genNums)
	default:
		return g.pick(genStrs)
	}
}

// value returns a random value; objects may repeat keys.
func (g gen) value(depth int) string { return g.valueK(depth, false) }

// literal returns a random value whose objects do not repeat keys (filters
// reject duplicate keys).
func (g gen) literal(depth int) string { return g.valueK(depth, true) }

func (g gen) valueK(depth int, uniq bool) string {
	if depth <= 0 || g.r.IntN(3) > 0 {
		return g.scalar()
	}
	var b strings.Builder
	if g.r.IntN(2) == 0 {
		b.WriteByte('[')
		for i := range g.r.IntN(4) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(g.valueK(depth-1, uniq))
		}
		b.WriteByte(']')
		return b.String()
	}
	b.WriteByte('{')
	used := map[string]bool{}
	for range g.r.IntN(4) {
		// Keys may repeat: the last one wins in payloads.
		k := g.pick(genKeys)
		if uniq && used[k] {
			continue
		}
		if len(used) > 0 {
			b.WriteByte(',')
		}
		used[k] = true
		fmt.Fprintf(&b, "%q:%s", k, g.valueK(depth-1, uniq))
	}
	b.WriteByte('}')
	return b.String()
}

func (g gen) payload() string {
	var parts []string
	for _, k := range genFields {
		if g.r.IntN(5) < 2 {
			continue
		}
		var v string
		switch k {
		case "tags":
			var els []string
			for range g.r.IntN(5) {
				els = append(els, g.value(1))
			}
			v = "[" + strings.Join(els, ",") + "]"
		case "o":
			v = g.value(3)
			if g.r.IntN(2) == 0 {
				v = fmt.Sprintf(`{"x": %s, "y": %s}`, g.value(2), g.scalar())
			}
		default:
			v = g.value(2)
		}
		parts = append(parts, fmt.Sprintf("%q: %s", k, v))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (g gen) array(n int) string {
	var els []string
	for range n {
		els = append(els, g.literal(1))
	}
	return "[" + strings.Join(els, ",") + "]"
}

// operand returns an operand valid for op.
func (g gen) operand(op string, depth int) string {
	switch op {
	case "$gt", "$gte", "$lt", "$lte":
		if g.r.IntN(2) == 0 {
			return g.pick(genNums)
		}
		return g.pick(genStrs)
	case "$in", "$nin", "$contains_any", "$contains_all":
		n := g.r.IntN(4)
		if g.r.IntN(5) == 0 {
			n = setMin + g.r.IntN(4)
		}
		return g.array(n)
	case "$exists":
		return g.pick([]string{"true", "false"})
	case "$not":
		return g.fieldValue(depth - 1)
	}
	return g.literal(2)
}

// fieldValue returns a bare value or an operator object.
func (g gen) fieldValue(depth int) string {
	if depth <= 0 || g.r.IntN(4) == 0 {
		v := g.literal(2)
		if strings.HasPrefix(v, "{") {
			v = `{"$eq": ` + v + `}`
		}
		return v
	}
	used := map[string]bool{}
	var parts []string
	for range 1 + g.r.IntN(2) {
		op := g.pick(genOps)
		if used[op] || op == "$not" && depth <= 1 {
			continue
		}
		used[op] = true
		parts = append(parts, fmt.Sprintf("%q: %s", op, g.operand(op, depth)))
	}
	if len(parts) == 0 {
		return g.scalar()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (g gen) filter(depth int) string {
	used := map[string]bool{}
	var parts []string
	for range g.r.IntN(3) {
		if depth > 0 && g.r.IntN(4) == 0 {
			op := g.pick(genLogical)
			if used[op] {
				continue
			}
			used[op] = true
			if op == "$not" {
				parts = append(parts, fmt.Sprintf("%q: %s", op, g.filter(depth-1)))
				continue
			}
			var subs []string
			for range 1 + g.r.IntN(3) {
				subs = append(subs, g.filter(depth-1))
			}
			parts = append(parts, fmt.Sprintf("%q: [%s]", op, strings.Join(subs, ", ")))
			continue
		}
		p := g.pick(genPaths)
		if used[p] {
			continue
		}
		used[p] = true
		parts = append(parts, fmt.Sprintf("%q: %s", p, g.fieldValue(2)))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// TestIndexOracle drives an Index through random Set/Delete/replace and
// checks every filter answer (Allow and AllowedIDs) against the oracle, and
// the derived state against a recomputation.
func TestIndexOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 1))
	g := gen{r}
	rounds, ops := 40, 60
	if testing.Short() {
		rounds = 15
	}
	x, err := NewIndex(Options{MaxList: 8})
	if err != nil {
		t.Fatal(err)
	}
	const ids = 150
	docs := map[uint64]map[string]any{}
	raw := map[uint64]string{}
	listed, prefiltered, scanned := 0, 0, 0
	for round := range rounds {
		for range ops {
			id := uint64(r.IntN(ids))
			switch k := r.IntN(20); {
			case k < 2:
				x.Delete(id)
				delete(docs, id)
				delete(raw, id)
			case k < 3:
				if err := x.Set(id, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				delete(docs, id)
				delete(raw, id)
			default:
				p := g.payload()
				if err := x.Set(id, []byte(p)); err != nil {
					t.Fatalf("Set(%s): %v", p, err)
				}
				v, err := oDecode([]byte(p))
				if err != nil {
					t.Fatalf("oracle cannot decode %s: %v", p, err)
				}
				docs[id] = v.(map[string]any)
				raw[id] = p
				if len(docs[id]) == 0 { // {} removes the id
					delete(docs, id)
					delete(raw, id)
				}
			}
		}
		checkInvariants(t, x)
		if x.Len() != len(docs) {
			t.Fatalf("Len %d, want %d", x.Len(), len(docs))
		}
		for range 30 {
			fs := g.filter(2)
			switch r.IntN(6) { // indexable filters
			case 0, 1:
				fs = fmt.Sprintf(`{"%s": {"$in": [%s, %s]}}`, g.pick(genPaths), g.scalar(), g.scalar())
			case 2:
				fs = fmt.Sprintf(`{"%s": {"%s": %s}, "$not": {"%s": %s}}`, g.pick(genPaths),
					g.pick([]string{"$gt", "$gte", "$lt", "$lte"}), g.pick(genNums), g.pick(genPaths), g.scalar())
			}
			f, err := Compile([]byte(fs))
			if err != nil {
				t.Fatalf("round %d: Compile(%s): %v", round, fs, err)
			}
			of, err := oCompile([]byte(fs))
			if err != nil {
				t.Fatalf("oracle rejects %s: %v", fs, err)
			}
			p := x.Bind(f)
			var want []uint64
			for id := uint64(0); id < ids+5; id++ {
				d := docs[id]
				if d == nil {
					d = map[string]any{}
				}
				w := oMatch(of, d)
				if w {
					want = append(want, id)
				}
				if got := p.Allow(id); got != w {
					p.Release()
					t.Fatalf("round %d: filter %s on id %d payload %s: got %v, want %v", round, fs, id, raw[id], got, w)
				}
			}
			if l, ok := p.(interface{ AllowedIDs() []uint64 }); ok {
				listed++
				got := slices.Clone(l.AllowedIDs())
				slices.Sort(got)
				if !slices.Equal(got, want) {
					p.Release()
					t.Fatalf("round %d: filter %s lists %v, want %v", round, fs, got, want)
				}
			} else if len(p.(*scanPredicate).bits) > 0 {
				prefiltered++
			} else {
				scanned++
			}
			p.Release()
		}
	}
	t.Logf("%d listed, %d prefiltered, %d evaluated per id; %d paths, %d bytes", listed, prefiltered, scanned, x.Paths(), x.MemoryBytes())
	if listed == 0 || prefiltered == 0 || scanned == 0 {
		t.Errorf("the test covered listed %d, prefiltered %d and scanned %d predicates: all must be used", listed, prefiltered, scanned)
	}
	// Deleting everything releases every path and posting.
	for id := range uint64(ids) {
		x.Delete(id)
	}
	checkInvariants(t, x)
	if x.Paths() != 0 || x.Len() != 0 || x.MemoryBytes() != 4*int64(len(x.mu.dense)) {
		t.Errorf("after deleting all: %d paths, %d ids, %d bytes", x.Paths(), x.Len(), x.MemoryBytes())
	}
}

// TestListing checks when a Predicate lists its ids.
func TestListing(t *testing.T) {
	x, err := NewIndex(Options{MaxList: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		p := fmt.Sprintf(`{"c": "c%d", "n": %d, "tags": ["t%d", "all"]}`, i%20, i, i%5)
		if err := x.Set(uint64(i), []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		filter string
		list   bool
		n      int
	}{
		{`{"c": "c3"}`, true, 5},
		{`{"c": {"$in": ["c3", "c4"]}}`, true, 10},
		{`{"c": {"$in": ["c3", "c4", "c5"]}}`, false, 15}, // above MaxList
		{`{"tags": "all"}`, false, 100},
		{`{"tags": "all", "c": "c3"}`, true, 5},                       // AND takes the smallest
		{`{"$and": [{"tags": "t1"}, {"n": {"$gt": 50}}]}`, false, 10}, // t1 has 20
		{`{"$and": [{"c": "c1"}, {"n": {"$gt": 50}}]}`, true, 2},
		{`{"$or": [{"c": "c1"}, {"c": "c2"}]}`, true, 10},
		{`{"$or": [{"c": "c1"}, {"n": 3}]}`, true, 6},
		{`{"$or": [{"c": "c1"}, {"n": {"$lt": 3}}]}`, true, 7},
		{`{"$or": [{"c": "c1"}, {"n": {"$lt": 6}}]}`, false, 10},
		{`{"n": {"$lt": 5}}`, true, 5},
		{`{"n": {"$gte": 95.5}}`, true, 4},
		{`{"n": {"$gte": 10, "$lt": 15}}`, false, 5}, // min(90, 15) candidates
		{`{"n": {"$gte": 90, "$lt": 15}}`, true, 0},
		{`{"c": {"$gte": "c9"}}`, false, 5}, // strings are not range-indexed
		{`{"tags": {"$contains_all": ["all", "t2"]}}`, false, 20},
		{`{"tags": {"$contains_any": ["nope"]}}`, true, 0},
		{`{"nope": 1}`, true, 0},
		{`{"c": {"$ne": "c3"}}`, false, 95},
		{`{"c": {"$eq": ["c3"]}}`, false, 0}, // an array operand is not indexed
	} {
		f, err := Compile([]byte(c.filter))
		if err != nil {
			t.Fatal(err)
		}
		p := x.Bind(f)
		l, listed := p.(interface{ AllowedIDs() []uint64 })
		if listed != c.list {
			t.Errorf("%s: listed %v, want %v", c.filter, listed, c.list)
		}
		if listed && len(l.AllowedIDs()) != c.n {
			t.Errorf("%s: %d ids listed, want %d", c.filter, len(l.AllowedIDs()), c.n)
		}
		n := 0
		for i := range 100 {
			if p.Allow(uint64(i)) {
				n++
			}
		}
		if n != c.n {
			t.Errorf("%s: %d allowed, want %d", c.filter, n, c.n)
		}
		p.Release()
	}
}

// TestConcurrent runs Set/Delete against Bind/Allow/AllowedIDs under the
// race detector; every answer must be one the oracle gives for one of the
// payloads the id had.
func TestConcurrent(t *testing.T) {
	seed := testSeed(t)
	x, err := NewIndex(Options{MaxList: 8})
	if err != nil {
		t.Fatal(err)
	}
	// Each id alternates between two payloads and none; the filters match
	// the first only, from the postings, the range index, or neither.
	const ids = 64
	pa, pb := []byte(`{"k": "a", "n": 1}`), []byte(`{"k": ["b"], "n": 2}`)
	var fs []*Filter
	for _, s := range []string{`{"k": "a"}`, `{"n": {"$lt": 1.5}}`, `{"k": {"$ne": ["b"]}, "n": 1}`, `{"k": {"$exists": true}, "$not": {"n": 2}}`} {
		f, err := Compile([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	dur := 300 * time.Millisecond
	if testing.Short() {
		dur = 100 * time.Millisecond
	}
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for time.Now().Before(stop) {
				id := uint64(r.IntN(ids))
				switch r.IntN(3) {
				case 0:
					x.Delete(id)
				case 1:
					_ = x.Set(id, pa)
				default:
					_ = x.Set(id, pb)
				}
			}
		}()
	}
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(100+w)))
			for time.Now().Before(stop) {
				f := fs[r.IntN(len(fs))]
				p := x.Bind(f)
				// The lock is held: the state is frozen, so Allow and the
				// listing must agree exactly.
				var allowed []uint64
				for id := uint64(0); id < ids; id++ {
					if p.Allow(id) {
						allowed = append(allowed, id)
					}
				}
				if l, ok := p.(interface{ AllowedIDs() []uint64 }); ok {
					got := slices.Clone(l.AllowedIDs())
					slices.Sort(got)
					if !slices.Equal(got, allowed) {
						errs <- fmt.Errorf("listed %v, allowed %v", got, allowed)
					}
				}
				// Allow (with or without a prefilter bitmap) must equal a
				// plain evaluation of each record.
				var b *bound
				switch q := p.(type) {
				case *scanPredicate:
					b = (*bound)(q)
				case *listPredicate:
					b = (*bound)(q)
				}
				var plain []uint64
				for id := uint64(0); id < ids; id++ {
					if s, ok := x.slotLocked(id); ok && evalNode(&f.root, view{doc: x.mu.docs[s].rec, paths: b.paths}) {
						plain = append(plain, id)
					}
				}
				if !slices.Equal(plain, allowed) {
					errs <- fmt.Errorf("evaluated %v, allowed %v", plain, allowed)
				}
				p.Release()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkInvariants(t, x)
}

// benchIndex builds an index of n payloads: "cat" one of 10 values (10%
// selectivity each), "rare" one of 100 (1%), "price" 0..999, "tags" two of
// 20.
func benchIndex(tb testing.TB, n int, opts Options) *Index {
	x, err := NewIndex(opts)
	if err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		p := fmt.Sprintf(`{"cat": "c%d", "rare": %d, "price": %d, "tags": ["t%d", "t%d"], "meta": {"owner": "u%d", "ok": %v}}`,
			i%10, r.IntN(100), r.IntN(1000), r.IntN(20), r.IntN(20), r.IntN(50), i%2 == 0)
		if err := x.Set(uint64(i), []byte(p)); err != nil {
			tb.Fatal(err)
		}
	}
	return x
}

var benchFilters = []struct{ name, filter string }{
	{"clauses=1", `{"cat": "c3"}`},
	{"clauses=2", `{"cat": "c3", "price": {"$lt": 500}}`},
	{"clauses=3", `{"cat": {"$in": ["c3", "c4"]}, "price": {"$gte": 100, "$lt": 900}, "meta.ok": true}`},
	{"clauses=3/or", `{"$or": [{"tags": "t1"}, {"meta.owner": "u7"}], "price": {"$gt": 10}}`},
}

func TestAllowAllocs(t *testing.T) {
	x := benchIndex(t, 2000, Options{MaxList: 100})
	for _, bf := range append(benchFilters,
		struct{ name, filter string }{"listed", `{"rare": 5}`},
		struct{ name, filter string }{"scan", `{"cat": {"$ne": "c1"}}`}) {
		f, err := Compile([]byte(bf.filter))
		if err != nil {
			t.Fatal(err)
		}
		p := x.Bind(f)
		id := uint64(0)
		if a := testing.AllocsPerRun(1000, func() { p.Allow(id); id = (id + 7) % 2100 }); a != 0 {
			t.Errorf("%s: Allow allocates %v times", bf.name, a)
		}
		p.Release()
		if raceEnabled {
			continue // the pool drops predicates at random
		}
		if a := testing.AllocsPerRun(100, func() { x.Bind(f).Release() }); a != 0 {
			t.Errorf("%s: Bind+Release allocates %v times", bf.name, a)
		}
	}
}

// BenchmarkMatch measures Allow of 1-3 clause filters on a 100k index,
// evaluating every id (prefilter=off) and with the candidate bitmap.
func BenchmarkMatch(b *testing.B) {
	const n = 100_000
	for _, pre := range []struct {
		name string
		max  int
	}{{"off", -1}, {"on", 0}} {
		x := benchIndex(b, n, Options{MaxPrefilter: pre.max})
		for _, bf := range benchFilters {
			b.Run(bf.name+"/prefilter="+pre.name, func(b *testing.B) { benchMatch(b, x, n, bf.filter) })
		}
	}
}

func benchMatch(b *testing.B, x *Index, n int, filter string) {
	f, err := Compile([]byte(filter))
	if err != nil {
		b.Fatal(err)
	}
	p := x.Bind(f)
	defer p.Release()
	ids := make([]uint64, 4096)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range ids {
		ids[i] = uint64(r.IntN(n))
	}
	b.ReportAllocs()
	hits := 0
	for i := 0; b.Loop(); i++ {
		if p.Allow(ids[i&4095]) {
			hits++
		}
	}
	b.ReportMetric(float64(hits)/float64(b.N), "selectivity")
}

// BenchmarkBind measures binding (and listing, for the 1% filter) per search.
func BenchmarkBind(b *testing.B) {
	x := benchIndex(b, 100_000, Options{})
	for _, bf := range []struct{ name, filter string }{
		{"scan/sel=90%", `{"cat": {"$ne": "c3"}}`},
		{"prefilter/sel=10%", `{"cat": "c3"}`},
		{"prefilter/sel=10%/range", `{"price": {"$lt": 100}}`},
		{"list/sel=1%/range", `{"price": {"$lt": 10}}`},
		{"list/sel=1%", `{"rare": 5}`},
		{"list/sel=1%/and", `{"rare": 5, "cat": {"$ne": "c1"}}`},
	} {
		b.Run(bf.name, func(b *testing.B) {
			f, err := Compile([]byte(bf.filter))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				x.Bind(f).Release()
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	data := []byte(benchFilters[2].filter)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Compile(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	x := newIndex(b)
	p := []byte(`{"cat": "c3", "rare": 17, "price": 250, "tags": ["t1", "t9"], "meta": {"owner": "u7", "ok": true}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	i := uint64(0)
	for b.Loop() {
		if err := x.Set(i%100_000, p); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestRangeChurn drives the range indexes through many merges and
// tombstone compactions and checks range answers against a brute force.
func TestRangeChurn(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 7))
	ids, ops := 3000, 30000
	if testing.Short() {
		ids, ops = 1000, 8000
	}
	x, err := NewIndex(Options{MaxList: 100})
	if err != nil {
		t.Fatal(err)
	}
	vals := map[uint64][]float64{}
	for i := range ops {
		id := uint64(r.IntN(ids))
		if r.IntN(4) == 0 {
			x.Delete(id)
			delete(vals, id)
		} else {
			// A number or an array of numbers (with repeats).
			a, b := float64(r.IntN(500)), float64(r.IntN(500))/4
			p := fmt.Sprintf(`{"n": %v}`, a)
			vals[id] = []float64{a}
			if r.IntN(3) == 0 {
				p = fmt.Sprintf(`{"n": [%v, %v, %v, "x"]}`, a, b, a)
				vals[id] = []float64{a, b}
			}
			if err := x.Set(id, []byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		if i%5000 == 4999 {
			checkInvariants(t, x)
		}
	}
	checkInvariants(t, x)
	for _, c := range []struct {
		o string
		w float64
	}{{"$lt", 3}, {"$lte", 3}, {"$gt", 497}, {"$gte", 497}, {"$lt", 0.5}, {"$gt", 250}, {"$gte", 1e9}} {
		f, err := Compile(fmt.Appendf(nil, `{"n": {"%s": %v}}`, c.o, c.w))
		if err != nil {
			t.Fatal(err)
		}
		p := x.Bind(f)
		var want []uint64
		for id := range uint64(ids) {
			ok := false
			for _, v := range vals[id] {
				ok = ok || c.o == "$lt" && v < c.w || c.o == "$lte" && v <= c.w || c.o == "$gt" && v > c.w || c.o == "$gte" && v >= c.w
			}
			if ok {
				want = append(want, id)
			}
			if p.Allow(id) != ok {
				t.Fatalf("n %s %v: Allow(%d) = %v, values %v", c.o, c.w, id, !ok, vals[id])
			}
		}
		if l, ok := p.(interface{ AllowedIDs() []uint64 }); ok {
			got := slices.Clone(l.AllowedIDs())
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("n %s %v: listed %d ids, want %d", c.o, c.w, len(got), len(want))
			}
		}
		p.Release()
	}
}
