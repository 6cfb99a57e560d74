package filter

import (
	"errors"
	"slices"
	"testing"
)

var fuzzSeeds = []struct{ filter, payload string }{
	{`{}`, `{}`},
	{`{"a": 1}`, `{"a": 1.0}`},
	{`{"a": {"$ne": 1}}`, `{"b": 1}`},
	{`{"a.b": {"$gt": "x"}}`, `{"a": {"b": "y"}}`},
	{`{"t": {"$contains_all": [1, "x"]}}`, `{"t": [1, "x", null]}`},
	{`{"t": {"$in": [1, 2, 3, 4, 5, 6, 7, 8, [1]]}}`, `{"t": [[1]]}`},
	{`{"$or": [{"a": null}, {"$not": {"b": {"$exists": true}}}]}`, `{"a": null, "b": {}}`},
	{`{"a": {"$not": {"$lte": 2}}}`, `{"a": [1, 3]}`},
	{`{"o": {"y": 1, "x": [2]}}`, `{"o": {"x": [2], "y": 1e0, "x": [2]}}`},
	{`{"s": "\ud800"}`, `{"s": "\ufffd"}`},
	{`{"s": "\ud83d\ude00"}`, "{\"s\": \"\xf0\x9f\x98\x80\"}"},
	{`{"s": "\ufffd"}`, "{\"s\": \"\xff\"}"},
	{`{"n": 1e400}`, `{"n": 1e999}`},
}

// FuzzCompile: Compile never panics, accepts exactly what the oracle
// accepts, and its errors wrap ErrBadFilter.
func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s.filter))
	}
	f.Add([]byte(`{"a": {"$gt": 1, "b": 1}}`))
	f.Add([]byte(`{"$and": [{"a": {"$in": {}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Compile(data)
		_, oerr := oCompile(data)
		if (err == nil) != (oerr == nil) {
			t.Fatalf("Compile(%q): %v; oracle: %v", data, err, oerr)
		}
		if err != nil {
			if !errors.Is(err, ErrBadFilter) {
				t.Fatalf("error %v does not wrap ErrBadFilter", err)
			}
			return
		}
		// The compiled filter answers {} as the oracle does.
		want, _ := oMatchJSON(data, []byte(`{}`))
		if c.matchesEmpty != want {
			t.Fatalf("%q on {}: %v, oracle %v", data, c.matchesEmpty, want)
		}
	})
}

// FuzzMatch: on any payload and filter, Set accepts exactly the JSON objects
// the oracle decodes, and the compiled evaluation (Allow, and the listing
// when there is one) equals the oracle's.
func FuzzMatch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s.filter), []byte(s.payload))
	}
	f.Fuzz(func(t *testing.T, filter, payload []byte) {
		x, err := NewIndex(Options{})
		if err != nil {
			t.Fatal(err)
		}
		// A second id holds a fixed payload, so listings have two candidates.
		if err := x.Set(2, []byte(`{"a": 1, "t": [1, "x"], "s": "x"}`)); err != nil {
			t.Fatal(err)
		}
		serr := x.Set(1, payload)
		want, ok := oMatchJSON(filter, payload)
		c, cerr := Compile(filter)
		if cerr != nil {
			if ok {
				t.Fatalf("Compile(%q): %v; the oracle accepts it", filter, cerr)
			}
			return
		}
		if serr != nil {
			if ok {
				t.Fatalf("Set(%q): %v; the oracle decodes it", payload, serr)
			}
			if !errors.Is(serr, ErrBadPayload) {
				t.Fatalf("Set error %v does not wrap ErrBadPayload", serr)
			}
			return
		}
		if !ok {
			t.Fatalf("the oracle rejects filter %q or payload %q, the package accepts both", filter, payload)
		}
		p := x.Bind(c)
		defer p.Release()
		if got := p.Allow(1); got != want {
			t.Fatalf("filter %q payload %q: got %v, oracle %v", filter, payload, got, want)
		}
		if l, isList := p.(interface{ AllowedIDs() []uint64 }); isList {
			if got := slices.Contains(l.AllowedIDs(), 1); got != want {
				t.Fatalf("filter %q payload %q: listed %v, oracle %v", filter, payload, got, want)
			}
		}
		checkInvariants(t, x)
	})
}
