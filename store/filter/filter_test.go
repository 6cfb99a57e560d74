package filter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func newIndex(t testing.TB) *Index {
	t.Helper()
	x, err := NewIndex(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// matchOne evaluates filter on payload through an Index (and the listing,
// when the Predicate lists), checking both agree; it fails the test on a
// compile or payload error.
func matchOne(t *testing.T, filter, payload string) bool {
	t.Helper()
	f, err := Compile([]byte(filter))
	if err != nil {
		t.Fatalf("Compile(%s): %v", filter, err)
	}
	x := newIndex(t)
	if err := x.Set(7, []byte(payload)); err != nil {
		t.Fatalf("Set(%s): %v", payload, err)
	}
	p := x.Bind(f)
	defer p.Release()
	got := p.Allow(7)
	if l, ok := p.(interface{ AllowedIDs() []uint64 }); ok {
		listed := slices.Contains(l.AllowedIDs(), 7)
		if listed != got {
			t.Errorf("filter %s payload %s: Allow %v but listed %v", filter, payload, got, listed)
		}
	}
	return got
}

func TestMatch(t *testing.T) {
	const doc = `{"s": "red", "n": 5, "f": 2.5, "neg": -0.0, "b": true, "z": null,
		"tags": ["a", "b", 3, [1, 2], {"k": 1}], "empty": [], "o": {"x": 1, "y": {"z": "deep"}, "e": {}},
		"big": 1e400, "dot.key": 1, "uni": "\u00e9", "obj": {"b": 2, "a": 1}}`
	cases := []struct {
		filter string
		want   bool
	}{
		// bare values and $eq, deep equality
		{`{}`, true},
		{`{"s": "red"}`, true},
		{`{"s": "blue"}`, false},
		{`{"n": 5.0}`, true},
		{`{"n": 5e0}`, true},
		{`{"n": "5"}`, false},
		{`{"neg": 0}`, true},
		{`{"b": true}`, true},
		{`{"b": 1}`, false},
		{`{"z": null}`, true},
		{`{"missing": null}`, false},
		{`{"big": 1e309}`, true},
		{`{"uni": "é"}`, true},
		{`{"obj": {"a": 1, "b": 2}}`, true},
		{`{"obj": {"a": 1, "b": 2.0}}`, true},
		{`{"obj": {"a": 1}}`, false},
		{`{"obj": {"a": 1, "b": 2, "c": 3}}`, false},
		{`{"o.e": {}}`, true},
		{`{"o": {"$eq": {"x": 1, "y": {"z": "deep"}, "e": {}}}}`, true},
		// $eq on arrays: whole array or one element
		{`{"tags": "a"}`, true},
		{`{"tags": 3}`, true},
		{`{"tags": [1, 2]}`, true},
		{`{"tags": {"k": 1}}`, true},
		{`{"tags": 1}`, false},
		{`{"tags": ["a", "b", 3, [1, 2], {"k": 1}]}`, true},
		{`{"tags": ["b", "a", 3, [1, 2], {"k": 1}]}`, false},
		{`{"empty": []}`, true},
		{`{"tags": {"$eq": "b"}}`, true},
		// dot paths
		{`{"o.x": 1}`, true},
		{`{"o.y.z": "deep"}`, true},
		{`{"o.y.z": {"$exists": true}}`, true},
		{`{"o.y.q": {"$exists": false}}`, true},
		{`{"s.x": {"$exists": true}}`, false},
		{`{"dot.key": 1}`, false}, // a literal '.' key cannot be named
		{`{"tags.k": 1}`, false},  // paths do not enter arrays
		// $ne / $nin and missing fields
		{`{"s": {"$ne": "blue"}}`, true},
		{`{"s": {"$ne": "red"}}`, false},
		{`{"missing": {"$ne": 1}}`, true},
		{`{"missing": {"$nin": [1]}}`, true},
		{`{"missing": {"$in": [null]}}`, false},
		{`{"missing": {"$gt": 0}}`, false},
		{`{"missing": {"$exists": false}}`, true},
		{`{"z": {"$exists": true}}`, true},
		{`{"tags": {"$ne": "a"}}`, false},
		{`{"tags": {"$ne": "q"}}`, true},
		// $in / $nin
		{`{"s": {"$in": ["blue", "red"]}}`, true},
		{`{"s": {"$in": []}}`, false},
		{`{"s": {"$nin": []}}`, true},
		{`{"s": {"$nin": ["red"]}}`, false},
		{`{"tags": {"$in": ["x", "b"]}}`, true},
		{`{"n": {"$in": [1, 2, 3, 4, 5.0, 6, 7, 8, 9]}}`, true}, // hashed set
		{`{"tags": {"$in": [1, 2, 4, 5, 6, 7, 8, 9, "b"]}}`, true},
		{`{"tags": {"$in": [1, 2, 4, 5, 6, 7, 8, 9, [1, 2]]}}`, true},
		{`{"tags": {"$nin": [1, 2, 4, 5, 6, 7, 8, 9, "q"]}}`, true},
		// ordering
		{`{"n": {"$gt": 4}}`, true},
		{`{"n": {"$gt": 5}}`, false},
		{`{"n": {"$gte": 5}}`, true},
		{`{"n": {"$lt": 5.5}}`, true},
		{`{"n": {"$lte": 4.99}}`, false},
		{`{"n": {"$gt": "4"}}`, false}, // mismatched types
		{`{"s": {"$gt": "re"}}`, true},
		{`{"s": {"$lt": "rf"}}`, true},
		{`{"s": {"$gte": "red", "$lte": "red"}}`, true},
		{`{"s": {"$gt": 1}}`, false},
		{`{"uni": {"$gt": "z"}}`, true}, // bytewise: é (0xC3..) > z
		{`{"tags": {"$gt": 2}}`, true},  // an element
		{`{"tags": {"$gt": 3}}`, false},
		{`{"tags": {"$lt": "b"}}`, true},
		{`{"z": {"$lte": 0}}`, false},
		{`{"o": {"$gt": 0}}`, false},
		{`{"big": {"$gt": 1e308}}`, true},
		{`{"n": {"$gt": 1, "$lt": 10}}`, true},
		{`{"n": {"$gt": 1, "$lt": 5}}`, false},
		// contains
		{`{"tags": {"$contains_any": ["q", 3]}}`, true},
		{`{"tags": {"$contains_any": ["q"]}}`, false},
		{`{"tags": {"$contains_any": []}}`, false},
		{`{"tags": {"$contains_all": ["a", 3, [1, 2]]}}`, true},
		{`{"tags": {"$contains_all": ["a", "q"]}}`, false},
		{`{"tags": {"$contains_all": []}}`, true},
		{`{"tags": {"$contains_all": [{"k": 1.0}]}}`, true},
		{`{"s": {"$contains_any": ["red"]}}`, false}, // not an array
		{`{"s": {"$contains_all": []}}`, false},
		{`{"missing": {"$contains_all": []}}`, false},
		{`{"tags": {"$contains_any": [1, 2, 4, 5, 6, 7, 8, 9, [1, 2]]}}`, true},
		// logic
		{`{"$and": [{"s": "red"}, {"n": 5}]}`, true},
		{`{"$and": [{"s": "red"}, {"n": 6}]}`, false},
		{`{"$or": [{"s": "blue"}, {"n": 5}]}`, true},
		{`{"$or": [{"s": "blue"}, {"n": 6}]}`, false},
		{`{"$not": {"s": "blue"}}`, true},
		{`{"$not": {"s": "red"}}`, false},
		{`{"$not": {}}`, false},
		{`{"s": "red", "n": 6}`, false},
		{`{"s": "red", "n": 5, "b": true}`, true},
		{`{"n": {"$not": {"$gt": 6}}}`, true},
		{`{"n": {"$not": 5}}`, false},
		{`{"missing": {"$not": {"$gt": 6}}}`, true},
		{`{"$or": [{"$and": [{"s": "red"}, {"$not": {"n": 5}}]}, {"o.y.z": {"$in": ["deep"]}}]}`, true},
		{`{"$and": [{"$or": [{"s": "x"}, {"n": 5}]}, {"$not": {"$or": [{"b": false}, {"z": {"$exists": false}}]}}]}`, true},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			if got := matchOne(t, c.filter, doc); got != c.want {
				t.Errorf("filter %s: got %v, want %v", c.filter, got, c.want)
			}
			want, ok := oMatchJSON([]byte(c.filter), []byte(doc))
			if !ok || want != c.want {
				t.Errorf("oracle disagrees with the table: %v (ok %v)", want, ok)
			}
		})
	}
}

// TestNoPayload checks that an id the Index does not hold evaluates as {}.
func TestNoPayload(t *testing.T) {
	x := newIndex(t)
	for _, c := range []struct {
		filter string
		want   bool
	}{
		{`{}`, true},
		{`{"a": 1}`, false},
		{`{"a": {"$ne": 1}}`, true},
		{`{"a": {"$nin": [1]}}`, true},
		{`{"a": {"$exists": false}}`, true},
		{`{"$not": {"a": 1}}`, true},
		{`{"a": {"$in": [1]}}`, false},
	} {
		f, err := Compile([]byte(c.filter))
		if err != nil {
			t.Fatal(err)
		}
		p := x.Bind(f)
		if got := p.Allow(1); got != c.want {
			t.Errorf("%s on a missing payload: got %v, want %v", c.filter, got, c.want)
		}
		if _, listed := p.(interface{ AllowedIDs() []uint64 }); listed && c.want {
			t.Errorf("%s matches ids without payloads, yet lists", c.filter)
		}
		p.Release()
	}
}

func TestCompileErrors(t *testing.T) {
	deep := strings.Repeat(`{"$not":`, 32) + `{}` + strings.Repeat(`}`, 32)
	cases := []struct{ filter, msg string }{
		{``, "unexpected end"},
		{`[]`, "not a JSON object"},
		{`null`, "not a JSON object"},
		{`{"a": 1`, "invalid JSON"},
		{`{"a": 1} x`, "after the top-level value"},
		{`{"a": 01}`, "invalid"},
		{"{\"a\": \"\x01\"}", "control character"},
		{`{"$foo": 1}`, `unknown operator "$foo"`},
		{`{"$eq": 1}`, "operator $eq needs a field"},
		{`{"a": {"$foo": 1}}`, `field "a": unknown operator "$foo"`},
		{`{"a": {"$gt": 1, "b": 2}}`, `field "a" mixes operators and plain keys`},
		{`{"a": {"$gt": null}}`, `field "a": $gt needs a number or a string, got null`},
		{`{"a": {"$lte": [1]}}`, `$lte needs a number or a string, got an array`},
		{`{"a": {"$in": 1}}`, `field "a": $in needs an array, got a number`},
		{`{"a": {"$nin": {"x": 1}}}`, `$nin needs an array, got an object`},
		{`{"a": {"$contains_any": "x"}}`, `$contains_any needs an array`},
		{`{"a": {"$contains_all": null}}`, `$contains_all needs an array`},
		{`{"a": {"$exists": 1}}`, `$exists needs true or false`},
		{`{"a": {"$gt": false}}`, `$gt needs a number or a string, got a boolean`},
		{`{"a": {"$eq": {"b": 1, "b": 2}}}`, `field "a": duplicate key in an object operand`},
		{`{"a": [{"b": 1, "b": 2}]}`, `field "a": duplicate key in an object operand`},
		{`{"a": {"$not": {"$bad": 1}}}`, `unknown operator "$bad"`},
		{`{"a": {"$or": []}}`, `$or is not allowed under a field`},
		{`{"$and": []}`, `$and needs a non-empty array`},
		{`{"$or": {}}`, `$or needs a non-empty array`},
		{`{"$and": [1]}`, `$and[0] must be a filter object, got a number`},
		{`{"$or": [{"a": 1}, {"b": {"$gt": true}}]}`, `in $or[1]: field "b": $gt needs`},
		{`{"$not": [1]}`, `$not needs a filter object, got an array`},
		{`{"$not": {"a": {"$in": 3}}}`, `in $not: field "a": $in needs an array`},
		{`{"a..b": 1}`, `field "a..b" has an empty path segment`},
		{`{"": 1}`, `empty path segment`},
		{`{".a": 1}`, `empty path segment`},
		{`{"a": 1, "a": 2}`, `duplicate key "a"`},
		{`{"a": {"$gt": 1, "$gt": 2}}`, `field "a": duplicate key "$gt"`},
		{`{"a": ` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`, "nesting deeper than 32"},
		{`{"$not":` + deep + `}`, "nesting deeper than 32"},
		{`{"a": "` + strings.Repeat("x", MaxFilterBytes) + `"}`, "exceed the limit of 8192"},
	}
	for _, c := range cases {
		t.Run(c.filter[:min(len(c.filter), 60)], func(t *testing.T) {
			_, err := Compile([]byte(c.filter))
			if err == nil {
				t.Fatalf("Compile(%s) succeeded", c.filter)
			}
			if !errors.Is(err, ErrBadFilter) {
				t.Errorf("error %v does not wrap ErrBadFilter", err)
			}
			if !strings.HasPrefix(err.Error(), "cannot compile filter: ") || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q, want it to contain %q", err, c.msg)
			}
			if _, oerr := oCompile([]byte(c.filter)); oerr == nil {
				t.Errorf("the oracle accepts %s", c.filter)
			}
		})
	}
}

// TestLimits pins the exact size and depth boundaries.
func TestLimits(t *testing.T) {
	// Depth exactly 32 compiles; 33 does not.
	for _, d := range []int{31, 32, 33} {
		s := `{"a": ` + strings.Repeat("[", d-1) + strings.Repeat("]", d-1) + `}`
		_, err := Compile([]byte(s))
		if (err == nil) != (d <= MaxFilterDepth) {
			t.Errorf("depth %d: err %v", d, err)
		}
	}
	// Exactly 8192 bytes compiles; 8193 does not.
	for _, n := range []int{MaxFilterBytes, MaxFilterBytes + 1} {
		pad := n - len(`{"a": ""}`)
		s := `{"a": "` + strings.Repeat("x", pad) + `"}`
		if len(s) != n {
			t.Fatalf("built %d bytes, want %d", len(s), n)
		}
		_, err := Compile([]byte(s))
		if (err == nil) != (n <= MaxFilterBytes) {
			t.Errorf("%d bytes: err %v", n, err)
		}
	}
}

func TestPayloadErrors(t *testing.T) {
	x := newIndex(t)
	big := `{"a": "` + strings.Repeat("x", MaxPayloadBytes) + `"}`
	for _, p := range []string{``, `[]`, `1`, `"x"`, `null`, `{"a":}`, `{"a": 1}}`, big} {
		err := x.Set(1, []byte(p))
		if !errors.Is(err, ErrBadPayload) || !strings.HasPrefix(err.Error(), "cannot index payload of 1: ") {
			t.Errorf("Set(%.40q): %v, want ErrBadPayload", p, err)
		}
	}
	if x.Len() != 0 {
		t.Errorf("Len %d after failed Sets", x.Len())
	}
	// The deepest payloads within the size limit are fine (no depth limit).
	n := (MaxPayloadBytes - 8) / 2
	arr := `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
	if err := x.Set(3, []byte(arr)); err != nil {
		t.Fatalf("deep array payload: %v", err)
	}
	x.Delete(3)
	// A deep payload within the size limit is fine (no depth limit).
	deep := strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000)
	if err := x.Set(2, []byte(deep)); err != nil {
		t.Fatalf("deep payload: %v", err)
	}
	f, err := Compile([]byte(`{"a.a.a.a": {"$exists": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := x.Bind(f)
	if !p.Allow(2) {
		t.Error("deep payload: a.a.a.a missing")
	}
	p.Release()
	checkInvariants(t, x)
}

// TestDuplicatePayloadKeys: the last duplicate wins, nested paths included.
func TestDuplicatePayloadKeys(t *testing.T) {
	const doc = `{"a": {"b": 1}, "c": 1, "a": 2, "c": [3]}`
	for _, c := range []struct {
		filter string
		want   bool
	}{
		{`{"a": 2}`, true},
		{`{"a.b": {"$exists": true}}`, false},
		{`{"c": 3}`, true},
		{`{"c": 1}`, false},
	} {
		if got := matchOne(t, c.filter, doc); got != c.want {
			t.Errorf("%s: got %v, want %v", c.filter, got, c.want)
		}
	}
}

func TestOptions(t *testing.T) {
	if _, err := NewIndex(Options{MaxList: -1}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("MaxList -1: %v", err)
	}
	x, err := NewIndex(Options{})
	if err != nil || x.Options().MaxList != 2048 {
		t.Errorf("default MaxList: %v %v", x.Options().MaxList, err)
	}
}

func ExampleCompile() {
	f, err := Compile([]byte(`{"color": "red", "price": {"$lt": 20}}`))
	if err != nil {
		panic(err)
	}
	x, _ := NewIndex(Options{})
	_ = x.Set(1, []byte(`{"color": "red", "price": 12}`))
	_ = x.Set(2, []byte(`{"color": ["red", "blue"], "price": 30}`))
	p := x.Bind(f)
	fmt.Println(p.Allow(1), p.Allow(2), p.Allow(3))
	p.Release()
	_, err = Compile([]byte(`{"price": {"$lt": [20]}}`))
	fmt.Println(err)
	// Output:
	// true false false
	// cannot compile filter: field "price": $lt needs a number or a string, got an array: filter: bad filter
}

func TestMatchesAll(t *testing.T) {
	x := newIndex(t)
	if err := x.Set(1, []byte(`{"a": 1}`)); err != nil {
		t.Fatal(err)
	}
	all, err := Compile([]byte(` { } `))
	if err != nil {
		t.Fatal(err)
	}
	some, err := Compile([]byte(`{"a": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if !all.MatchesAll() || some.MatchesAll() {
		t.Errorf("MatchesAll: {} %v, {\"a\": 1} %v", all.MatchesAll(), some.MatchesAll())
	}
	for _, f := range []*Filter{nil, all} {
		p := x.Bind(f)
		if !p.Allow(1) || !p.Allow(2) {
			t.Errorf("Bind(%v) does not allow everything", f)
		}
		if _, listed := p.(interface{ AllowedIDs() []uint64 }); listed {
			t.Errorf("Bind(%v) lists", f)
		}
		p.Release()
	}
}
