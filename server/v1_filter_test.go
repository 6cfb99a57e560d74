package server

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// filterDocs are the payloads of ids 0..len-1 in TestV1SearchFilters
// (id 9 has none; id 10 has an empty object).
var filterDocs = []string{
	`{"color": "red", "price": 10, "tags": ["a", "b"], "meta": {"rank": 1, "src": "x"}}`,
	`{"color": "blue", "price": 20, "tags": ["b", "c"], "meta": {"rank": 2}}`,
	`{"color": "red", "price": 30, "tags": ["c"], "meta": {"rank": 3, "src": "y"}}`,
	`{"color": "green", "price": 15.5, "tags": [], "meta": {"rank": 1, "deep": {"x": true}}}`,
	`{"color": "blue", "price": "25", "tags": ["a"]}`,
	`{"color": ["red", "blue"], "price": 40}`,
	`{"color": null, "price": 5, "meta": "flat"}`,
	`{"price": 50, "tags": ["a", "b", "c"], "meta": {"rank": 5}}`,
	`{"color": "Red", "price": -1, "obj": {"k": [1, 2]}}`,
	``,
	`{}`,
}

func TestV1SearchFilters(t *testing.T) {
	ts := startServer(t, Options{Dim: 2})
	for i, p := range filterDocs {
		meta := ""
		if p != "" {
			meta = `, "metadata": ` + p
		}
		ts.expect(201, "", "POST", "/v1/vectors", fmt.Sprintf(`{"id": %d, "vector": [%d, 1]%s}`, i, i, meta), jsonCT)
	}
	all := func(ids ...uint64) []uint64 { return ids }
	cases := []struct {
		filter string
		want   []uint64
	}{
		{`{}`, all(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)},
		// Bare values and $eq: deep equality, arrays match by element.
		{`{"color": "red"}`, all(0, 2, 5)},
		{`{"color": {"$eq": "red"}}`, all(0, 2, 5)},
		{`{"color": ["red", "blue"]}`, all(5)},
		{`{"color": null}`, all(6)},
		{`{"price": 15.5}`, all(3)},
		{`{"price": 10.0}`, all(0)},
		{`{"obj": {"k": [1, 2]}}`, all(8)},
		{`{"tags": "a"}`, all(0, 4, 7)},
		{`{"tags": []}`, all(3)},
		// Several keys AND together.
		{`{"color": "red", "price": {"$gt": 15}}`, all(2, 5)},
		// $ne and $nin: a missing field matches.
		{`{"color": {"$ne": "red"}}`, all(1, 3, 4, 6, 7, 8, 9, 10)},
		{`{"color": {"$nin": ["red", "blue"]}}`, all(3, 6, 7, 8, 9, 10)},
		{`{"color": {"$in": ["green", "Red"]}}`, all(3, 8)},
		{`{"color": {"$in": []}}`, all()},
		{`{"color": {"$nin": []}}`, all(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)},
		// Ordering: numbers with numbers, strings with strings; other pairs false.
		{`{"price": {"$gt": 20}}`, all(2, 5, 7)},
		{`{"price": {"$gte": 20}}`, all(1, 2, 5, 7)},
		{`{"price": {"$lt": 10}}`, all(6, 8)},
		{`{"price": {"$lte": 10}}`, all(0, 6, 8)},
		{`{"price": {"$gte": 10, "$lt": 30}}`, all(0, 1, 3)},
		{`{"price": {"$gt": "2"}}`, all(4)},
		{`{"color": {"$gt": 1}}`, all()},
		{`{"color": {"$lt": "c"}}`, all(1, 4, 5, 8)},
		// $exists: null is present.
		{`{"color": {"$exists": true}}`, all(0, 1, 2, 3, 4, 5, 6, 8)},
		{`{"color": {"$exists": false}}`, all(7, 9, 10)},
		// Array operators: only array fields match.
		{`{"tags": {"$contains_any": ["c", "z"]}}`, all(1, 2, 7)},
		{`{"tags": {"$contains_all": ["a", "b"]}}`, all(0, 7)},
		{`{"tags": {"$contains_all": []}}`, all(0, 1, 2, 3, 4, 7)},
		{`{"color": {"$contains_any": ["red"]}}`, all(5)},
		// Dot paths walk objects, not arrays, and not into non-objects.
		{`{"meta.rank": 1}`, all(0, 3)},
		{`{"meta.rank": {"$gte": 2}}`, all(1, 2, 7)},
		{`{"meta.src": {"$exists": true}}`, all(0, 2)},
		{`{"meta.deep.x": true}`, all(3)},
		{`{"meta.rank": {"$ne": 1}}`, all(1, 2, 4, 5, 6, 7, 8, 9, 10)},
		{`{"obj.k": 2}`, all(8)},
		{`{"obj.k.0": 1}`, all()},
		// Logical operators.
		{`{"$or": [{"color": "green"}, {"price": {"$gte": 40}}]}`, all(3, 5, 7)},
		{`{"$and": [{"tags": "b"}, {"meta.rank": {"$lt": 2}}]}`, all(0)},
		{`{"$not": {"color": "red"}}`, all(1, 3, 4, 6, 7, 8, 9, 10)},
		{`{"price": {"$not": {"$gt": 10}}}`, all(0, 4, 6, 8, 9, 10)},
		{`{"$or": [{"$and": [{"color": "red"}, {"tags": "c"}]}, {"$not": {"price": {"$exists": true}}}]}`, all(2, 9, 10)},
	}
	for _, c := range cases {
		hits := ts.search(`{"vector": [0, 1], "k": 100, "filter": ` + c.filter + `}`)
		got := sortedIDs(hits)
		want := append([]uint64{}, c.want...)
		sortU64(want)
		if len(want) == 0 {
			want = []uint64{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("filter %s: ids %v, want %v", c.filter, got, want)
		}
		for i := 1; i < len(hits); i++ {
			if hits[i].Distance < hits[i-1].Distance {
				t.Errorf("filter %s: results not ascending: %v", c.filter, hits)
			}
		}
	}
	// k results whenever k vectors match, nearest first.
	hits := ts.search(`{"vector": [10, 1], "k": 2, "filter": {"color": {"$exists": true}}}`)
	if got := sortedIDs(hits); !reflect.DeepEqual(got, []uint64{6, 8}) || hits[0].ID != 8 {
		t.Fatalf("k 2 nearest to 10 with color: %v", hits)
	}

	// Errors: 400 bad_filter.
	nest := func(n int) string { // {"$not": ... {"a": 1} ...}: depth n+1
		return strings.Repeat(`{"$not": `, n) + `{"a": 1}` + strings.Repeat(`}`, n)
	}
	ts.search(`{"vector": [0, 1], "filter": ` + nest(31) + `}`) // depth 32: fine
	inList := func(size int) string {
		f := `{"a": {"$in": [`
		for len(f) < size-len(`1]}}`)-2 {
			f += "1,"
		}
		f += strings.Repeat(" ", size-len(f)-len(`1]}}`)) + `1]}}`
		return f
	}
	if len(inList(8192)) != 8192 {
		t.Fatal("bad inList")
	}
	ts.search(`{"vector": [0, 1], "filter": ` + inList(8192) + `}`) // 8 KiB: fine
	for _, f := range []string{
		nest(32),   // depth 33
		nest(2000), // deeper than the body scanner's own limit
		inList(8193),
		`[{"a": 1}]`, `"a"`, `1`, `true`,
		`{"a": {"$foo": 1}}`, `{"$foo": [{"a": 1}]}`, `{"$and": []}`, `{"$and": {"a": 1}}`, `{"$or": [1]}`,
		`{"a": {"$in": 1}}`, `{"a": {"$gt": [1]}}`, `{"a": {"$gt": null}}`, `{"a": {"$exists": 1}}`,
		`{"a": {"$contains_any": "x"}}`, `{"a": {"$eq": 1, "b": 2}}`, `{"a": 1, "a": 2}`,
		`{"": 1}`, `{"a..b": 1}`,
	} {
		ts.expect(400, "bad_filter", "POST", "/v1/search", `{"vector": [0, 1], "filter": `+f+`}`, jsonCT)
	}
	// Bad filters are refused even before the collection exists.
	empty := startServer(t, Options{})
	empty.expect(400, "bad_filter", "POST", "/v1/search", `{"vector": [0, 1], "filter": {"a": {"$bad": 1}}}`, jsonCT)
}

func sortU64(s []uint64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
