package store

import (
	"errors"
	"math"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/lsmvec/lsmvec/store/filter"
)

// FuzzSearchWhere fuzzes the filtered search path end to end: random
// payloads and a random filter (generated from the fuzz bytes, or the raw
// filter text when one is given) → Collection.SearchWhere, checked against
// a brute-force evaluation over the same payloads.
//
// The collection (4000 vectors of dimension 4, seeded base payloads over a
// small vocabulary) is built once per fuzzing process on an in-memory file
// system. Each exec deletes some ids and replaces some payloads (from a
// list of unusual payloads, or raw fuzz bytes), searches, then writes the
// base state back. The brute force evaluates the filter on each live id's
// payload alone (a one-document filter.Index, which FuzzMatch in
// store/filter checks against a naive oracle), so what is under test here
// is everything between: the payload index kept up to date across writes
// and deletes, the candidate lists and bitmaps Bind plans, hnsw's plan
// choice (exact list, exact scan, 2-hop walk, distance walk) and the
// top-k. Checked on every search: no error or panic; min(k, matches)
// results; distinct live matching ids; each distance the exact one;
// ascending. When at most 1024 ids match (hnsw then searches exactly:
// its sampled estimate stays under 2048 by ~9 standard deviations) the
// results are the brute-force top k.
func FuzzSearchWhere(f *testing.F) {
	for _, s := range []struct {
		prog string
		raw  string
	}{
		{"\x10\x20\x30\x40\x05\x00\x00\x00", ""},
		{"\x01\x02\x03\x04\x0a\x90\x03\x01\x05\x00\x02\x01\x07\x00\x00\x01\x03\x02", ""},
		{"\x7f\x80\x01\xff\x85\x20\xff\x04\x00\x10\x00\x03\x00\x11\x01\x02\x00\x12\x05\x01\x08\x03\x01\x02", ""},
		{"\x00\x00\x00\x00\x01\x00\x00", `{"g": {"$ne": 0}}`},
		{"\x00\x00\x00\x00\x31\xa0\x00", `{"$or": [{"c": "red"}, {"t": {"$contains_any": ["x", 1]}}]}`},
		{"\x05\x05\x05\x05\x0a\x00\x00", `{"r": {"$gte": 10, "$lt": 60}, "o.p": {"$in": [0, 2]}}`},
		{"\x05\x05\x05\x05\x0a\xff\x00", `{"$not": {"n": {"$exists": true}}}`},
		{"\x05\x05\x05\x05\x0a\x00\x02\x01\x00\x01\x07\x02\x00\x01\x09", `{"g": {"$nin": [1, 2]}, "zz": {"$exists": false}}`},
		{"\x00\x00\x00\x00\x0a\x00\x00", `{"t": ["x", "y"]}`},
		{"\x00\x00\x00\x00\x0a\x00\x00", `{"g": {"$gt": "a"}}`},
		{"\x00\x00\x00\x00\x0a\x00\x00", `{"g": {"$bad": 1}}`},
		{"\x00\x00\x00\x00\x0a\x00\x00", `{"g": `},
	} {
		f.Add([]byte(s.prog), s.raw)
	}
	fx := newSearchFixture(f)
	f.Fuzz(func(t *testing.T, prog []byte, raw string) {
		fx.run(t, prog, raw)
	})
}

const (
	// fuzzN is the collection's size; 1000 under -short (every search is
	// then exact: hnsw scans whenever at most 2048 ids can match).
	fuzzN   = 4000
	fuzzDim = 4
	// fuzzExactMatches: at most this many matches and hnsw searches exactly.
	fuzzExactMatches = 1024
)

type searchFixture struct {
	n       int
	c       *Collection
	vecs    [][]float32
	base    []string // "" = no payload
	oracle  *filter.Index
	cache   map[string]bool
	payload []string // this exec's payloads
	live    []bool
}

// unusualPayloads are what an exec may put in place of a base payload.
var unusualPayloads = []string{
	`{}`, `{"g": [1, 2]}`, `{"g": "1"}`, `{"g": 1.0}`, `{"r": -0}`, `{"t": []}`, `{"t": "x"}`,
	`{"o": {"p": [1]}}`, `{"o": null}`, `{"c": "red", "c": "blue"}`, `{"g": 1e400}`, `{"a.b": 1, "a": {"b": 2}}`,
	`{"c": "\u0072ed"}`, `{"t": [["x"]]}`, `{"r": 99.5}`, `{"g": true}`, `{"t": [1, 1, "x", null]}`,
	`{"o": {"p": 2, "q": {"z": 1}}}`, `{"n": null, "g": null}`, `{"r": 1e-320}`,
}

func newSearchFixture(f *testing.F) *searchFixture {
	db, err := Open(Options{Dir: "/fuzz", FS: vfs.NewMem(), Logger: newTestLogger(f), CacheSize: 8 << 20,
		MemTableSize: 8 << 20, CheckpointInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	c, err := db.CreateCollection(CollectionConfig{Name: "fz", Dim: fuzzDim, Family: FamilyV1,
		Index: &IndexConfig{M: 8, M0: 16, EfConstruction: 64, EfSearch: 32}})
	if err != nil {
		f.Fatal(err)
	}
	const seed = 20261122 // fixed: the base state is part of every input's meaning
	f.Logf("base state seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	n := fuzzN
	if testing.Short() {
		n = 1000
	}
	fx := &searchFixture{n: n, c: c, cache: map[string]bool{}, payload: make([]string, n), live: make([]bool, n)}
	var batch []Entry
	for i := range n {
		v := make([]float32, fuzzDim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		fx.vecs = append(fx.vecs, v)
		p := basePayload(rng)
		fx.base = append(fx.base, p)
		e := Entry{ID: uint64(i), Vector: v}
		if p != "" {
			e.SetPayload, e.Payload = true, []byte(p)
		}
		if batch = append(batch, e); len(batch) == 500 || i == n-1 {
			if err := c.Update(batch, nil); err != nil {
				f.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if fx.oracle, err = filter.NewIndex(filter.Options{}); err != nil {
		f.Fatal(err)
	}
	return fx
}

// basePayload draws a payload over a small vocabulary ("" = none), so that
// filters match anything from nothing to everything.
func basePayload(rng *rand.Rand) string {
	if rng.Intn(10) == 0 {
		return ""
	}
	var m []string
	m = append(m, `"g": `+strconv.Itoa(rng.Intn(5)))
	if rng.Intn(5) != 0 {
		m = append(m, `"c": "`+[]string{"red", "green", "blue"}[rng.Intn(3)]+`"`)
	}
	m = append(m, `"r": `+strconv.Itoa(rng.Intn(100)))
	if rng.Intn(2) == 0 {
		var tags []string
		for range rng.Intn(4) {
			tags = append(tags, []string{`"x"`, `"y"`, `"z"`, `1`, `2`}[rng.Intn(5)])
		}
		m = append(m, `"t": [`+strings.Join(tags, ", ")+`]`)
	}
	if rng.Intn(3) == 0 {
		m = append(m, `"o": {"p": `+strconv.Itoa(rng.Intn(3))+`, "q": "`+[]string{"a", "b"}[rng.Intn(2)]+`"}`)
	}
	if rng.Intn(10) == 0 {
		m = append(m, `"n": null`)
	}
	if rng.Intn(3) == 0 {
		m = append(m, `"f": `+strconv.FormatFloat(float64(rng.Intn(8))*0.5, 'g', -1, 64))
	}
	rng.Shuffle(len(m), func(i, j int) { m[i], m[j] = m[j], m[i] })
	return "{" + strings.Join(m, ", ") + "}"
}

// progReader hands out the fuzz program a byte at a time (zeros past the
// end).
type progReader struct{ b []byte }

func (r *progReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *progReader) u16() int { return int(r.byte())<<8 | int(r.byte()) }

var (
	fuzzFields = []string{"g", "c", "r", "t", "o.p", "o.q", "n", "f", "o", "zz"}
	fuzzValues = []string{`0`, `1`, `2`, `3`, `4`, `50`, `99`, `0.5`, `"red"`, `"green"`, `"x"`, `"y"`, `"a"`,
		`null`, `true`, `[1, 2]`, `["x"]`, `{"p": 1, "q": "a"}`, `-1`, `1e400`}
	fuzzRangeOps = []string{"$gt", "$gte", "$lt", "$lte"}
)

func (r *progReader) pick(list []string) string { return list[int(r.byte())%len(list)] }

func (r *progReader) values() string {
	n := int(r.byte() % 4)
	vs := make([]string, n)
	for i := range vs {
		vs[i] = r.pick(fuzzValues)
	}
	return "[" + strings.Join(vs, ", ") + "]"
}

// fieldOp is a field's operator (or bare value) in the language.
func (r *progReader) fieldOp(depth int) string {
	switch r.byte() % 9 {
	case 0:
		return r.pick(fuzzValues)
	case 1:
		return `{"$ne": ` + r.pick(fuzzValues) + `}`
	case 2:
		return `{"$in": ` + r.values() + `}`
	case 3:
		return `{"$nin": ` + r.values() + `}`
	case 4:
		op := `{"` + r.pick(fuzzRangeOps) + `": ` + r.pick(fuzzValues)
		if r.byte()%2 == 0 {
			op += `, "` + r.pick(fuzzRangeOps) + `": ` + r.pick(fuzzValues)
		}
		return op + "}"
	case 5:
		return `{"$exists": ` + []string{"true", "false"}[r.byte()%2] + `}`
	case 6:
		return `{"$contains_any": ` + r.values() + `}`
	case 7:
		return `{"$contains_all": ` + r.values() + `}`
	default:
		if depth > 3 {
			return r.pick(fuzzValues)
		}
		return `{"$not": ` + r.fieldOp(depth+1) + `}`
	}
}

// filter generates a filter; duplicate keys (an error) are possible.
func (r *progReader) filter(depth int) string {
	op := r.byte() % 8
	if depth > 3 {
		op %= 3
	}
	switch op {
	case 0, 1:
		return `{"` + r.pick(fuzzFields) + `": ` + r.fieldOp(depth) + `}`
	case 2:
		return `{"` + r.pick(fuzzFields) + `": ` + r.fieldOp(depth) + `, "` + r.pick(fuzzFields) + `": ` + r.fieldOp(depth) + `}`
	case 3, 4:
		kw := []string{"$and", "$or"}[op-3]
		n := 1 + int(r.byte()%3)
		subs := make([]string, n)
		for i := range subs {
			subs[i] = r.filter(depth + 1)
		}
		return `{"` + kw + `": [` + strings.Join(subs, ", ") + `]}`
	case 5:
		return `{"$not": ` + r.filter(depth+1) + `}`
	case 6:
		return `{}`
	default:
		return `{"` + r.pick(fuzzFields) + `": ` + r.fieldOp(depth) + `}`
	}
}

// matches evaluates f on one payload ("" = none) alone.
func (fx *searchFixture) matches(t *testing.T, f *filter.Filter, p string) bool {
	if m, ok := fx.cache[p]; ok {
		return m
	}
	if p == "" {
		fx.oracle.Delete(1)
	} else if err := fx.oracle.Set(1, []byte(p)); err != nil {
		t.Fatalf("the oracle index refuses payload %s: %v", p, err)
	}
	pred := fx.oracle.Bind(f)
	m := pred.Allow(1)
	pred.Release()
	fx.cache[p] = m
	return m
}

func (fx *searchFixture) run(t *testing.T, prog []byte, raw string) {
	r := &progReader{b: prog}
	q := make([]float32, fuzzDim)
	for i := range q {
		q[i] = float32(int8(r.byte())) / 32
	}
	kb := r.byte()
	k := 1 + int(kb%64)
	if kb&0x80 != 0 {
		k = 1 + r.u16()%(fx.n+100)
	}
	ef := 0
	if e := r.byte(); e >= 128 {
		ef = int(e-127) * 32
	}

	// This exec's writes: deletes and payload replacements.
	copy(fx.payload, fx.base)
	for i := range fx.live {
		fx.live[i] = true
	}
	var touched []uint64
	defer func() { fx.restore(t, touched) }()
	for range r.byte() % 8 {
		id := uint64(r.u16() % fx.n)
		if slices.Contains(touched, id) {
			continue
		}
		touched = append(touched, id)
		switch r.byte() % 4 {
		case 0:
			if err := fx.c.Delete(id); err != nil {
				t.Fatalf("Delete(%d): %v", id, err)
			}
			fx.live[id] = false
		case 1:
			p := r.pick(unusualPayloads)
			if err := fx.c.SetPayload(id, []byte(p)); err != nil {
				t.Fatalf("SetPayload(%d, %s): %v", id, p, err)
			}
			fx.payload[id] = p
		case 2:
			n := int(r.byte() % 24)
			p := make([]byte, 0, n)
			for range n {
				p = append(p, r.byte())
			}
			if err := fx.c.SetPayload(id, p); err == nil {
				fx.payload[id] = string(p)
			} else if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("SetPayload(%d, %q): %v", id, p, err)
			}
		case 3:
			if err := fx.c.Update([]Entry{{ID: id, Vector: fx.vecs[id], SetPayload: true}}, nil); err != nil {
				t.Fatalf("removing payload %d: %v", id, err)
			}
			fx.payload[id] = ""
		}
	}

	text := raw
	if text == "" {
		text = r.filter(0)
	}
	f, err := filter.Compile([]byte(text))
	if err != nil {
		if !errors.Is(err, filter.ErrBadFilter) {
			t.Fatalf("Compile(%s): %v does not wrap ErrBadFilter", text, err)
		}
		return
	}
	res, err := fx.c.SearchWhere(q, k, ef, f, nil)
	if err != nil {
		t.Fatalf("SearchWhere(k=%d ef=%d %s): %v", k, ef, text, err)
	}

	// Brute force.
	clear(fx.cache)
	type cand struct {
		id uint64
		d  float64
	}
	var all []cand
	dist := func(id uint64) float64 {
		s := 0.0
		for j, x := range fx.vecs[id] {
			d := float64(x) - float64(q[j])
			s += d * d
		}
		return math.Sqrt(s)
	}
	isMatch := make(map[uint64]bool)
	for i := range fx.n {
		id := uint64(i)
		if fx.live[i] && fx.matches(t, f, fx.payload[i]) {
			all = append(all, cand{id, dist(id)})
			isMatch[id] = true
		}
	}
	slices.SortFunc(all, func(a, b cand) int {
		if a.d < b.d {
			return -1
		}
		if a.d > b.d {
			return 1
		}
		return 0
	})
	desc := func() string {
		return "k=" + strconv.Itoa(k) + " ef=" + strconv.Itoa(ef) + " filter " + text + " (" + strconv.Itoa(len(all)) + " matches)"
	}
	if want := min(k, len(all)); len(res) != want {
		t.Fatalf("%s: %d results, want %d", desc(), len(res), want)
	}
	seen := map[uint64]bool{}
	for i, x := range res {
		if seen[x.ID] || !isMatch[x.ID] {
			t.Fatalf("%s: result %d id %d: repeated %v, match %v (payload %s, live %v)", desc(), i, x.ID,
				seen[x.ID], isMatch[x.ID], fx.payload[min(x.ID, uint64(fx.n-1))], x.ID < uint64(fx.n) && fx.live[x.ID])
		}
		seen[x.ID] = true
		if d := dist(x.ID); !closeTo(float64(x.Distance), d) {
			t.Fatalf("%s: result %d id %d distance %v, exact %v", desc(), i, x.ID, x.Distance, d)
		}
		if i > 0 && float64(x.Distance) < float64(res[i-1].Distance)-1e-6 {
			t.Fatalf("%s: results not ascending at %d: %v after %v", desc(), i, x.Distance, res[i-1].Distance)
		}
		if len(all) <= fuzzExactMatches && !closeTo(float64(x.Distance), all[i].d) {
			t.Fatalf("%s: result %d is id %d at %v; the brute force's is id %d at %v", desc(), i, x.ID, x.Distance, all[i].id, all[i].d)
		}
	}
}

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-5*max(1, math.Abs(b)) }

// restore writes the base vectors and payloads of the touched ids back.
func (fx *searchFixture) restore(t *testing.T, ids []uint64) {
	if len(ids) == 0 {
		return
	}
	es := make([]Entry, len(ids))
	for i, id := range ids {
		es[i] = Entry{ID: id, Vector: fx.vecs[id], SetPayload: true}
		if p := fx.base[id]; p != "" {
			es[i].Payload = []byte(p)
		}
	}
	if err := fx.c.Update(es, nil); err != nil {
		t.Fatalf("cannot restore the base state: %v", err)
	}
}
