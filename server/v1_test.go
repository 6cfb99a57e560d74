package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

const jsonCT = "Content-Type: application/json"

// decodeJSON decodes b with numbers as json.Number.
func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body %q is not JSON: %v", b, err)
	}
	return v
}

// sameJSON reports whether two JSON texts decode to equal values.
func sameJSON(t testing.TB, a, b string) bool {
	t.Helper()
	return reflect.DeepEqual(decodeJSON(t, []byte(a)), decodeJSON(t, []byte(b)))
}

type v1Vector struct {
	ID     uint64    `json:"id"`
	Vector []float32 `json:"vector"`
}

func (ts *testServer) getVector(id string) v1Vector {
	ts.t.Helper()
	r := ts.expect(200, "", "GET", "/v1/vectors/"+id, "")
	var v v1Vector
	if err := json.Unmarshal(r.body, &v); err != nil {
		ts.t.Fatalf("GET vector %s: %s: %v", id, r.body, err)
	}
	return v
}

type v1Hit struct {
	ID       uint64  `json:"id"`
	Distance float32 `json:"distance"`
}

func (ts *testServer) search(body string) []v1Hit {
	ts.t.Helper()
	r := ts.expect(200, "", "POST", "/v1/search", body, jsonCT)
	var out struct {
		Results []v1Hit `json:"results"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil || out.Results == nil {
		ts.t.Fatalf("search %s: body %s: %v", body, r.body, err)
	}
	return out.Results
}

func TestV1VectorsCRUD(t *testing.T) {
	ts := startServer(t, Options{})

	// Reads before the collection exists.
	ts.expect(404, "not_found", "GET", "/v1/vectors/1", "")
	ts.expect(404, "not_found", "GET", "/v1/vectors/1/payload", "")
	ts.expect(204, "", "DELETE", "/v1/vectors/1", "")
	if got := ts.search(`{"vector":[1,2,3]}`); len(got) != 0 {
		t.Fatalf("search before any write: %v", got)
	}

	// The first write fixes the dimension (3).
	r := ts.expect(201, "", "POST", "/v1/vectors", `{"id": 1, "vector": [0.1, 0.2, 0.3], "metadata": {"color": "red"}}`, jsonCT)
	if string(r.body) != `{"id":1}` {
		t.Fatalf("insert returned %s", r.body)
	}
	if v := ts.getVector("1"); v.ID != 1 || fmt.Sprint(v.Vector) != "[0.1 0.2 0.3]" {
		t.Fatalf("GET 1 = %+v", v)
	}
	ts.expect(400, "dim_mismatch", "POST", "/v1/vectors", `{"id": 2, "vector": [1, 2]}`, jsonCT)
	ts.expect(400, "dim_mismatch", "PUT", "/v1/vectors/2", `{"vector": [1, 2, 3, 4]}`, jsonCT)
	ts.expect(400, "dim_mismatch", "POST", "/v1/search", `{"vector": [1, 2]}`, jsonCT)

	// Exact floats: values that need all 9 significant digits, the smallest
	// subnormal and the largest float32 come back bit for bit.
	exact := []float32{0.1, 1.0000001, 1.4e-45}
	body, _ := json.Marshal(map[string]any{"id": 3, "vector": exact})
	ts.expect(201, "", "POST", "/v1/vectors", string(body), jsonCT)
	if v := ts.getVector("3"); !reflect.DeepEqual(v.Vector, exact) {
		t.Fatalf("GET 3 = %v, want %v", v.Vector, exact)
	}
	ts.expect(201, "", "POST", "/v1/vectors", `{"id": 4, "vector": [3.4028235e38, -3.4028235e38, 0]}`, jsonCT)
	if v := ts.getVector("4"); v.Vector[0] != math.MaxFloat32 || v.Vector[1] != -math.MaxFloat32 {
		t.Fatalf("GET 4 = %v", v.Vector)
	}

	// Replace: metadata absent keeps the payload, present replaces it,
	// null counts as absent, {} clears it.
	ts.expect(201, "", "POST", "/v1/vectors", `{"id": 1, "vector": [1, 1, 1]}`, jsonCT)
	if r := ts.expect(200, "", "GET", "/v1/vectors/1/payload", ""); !sameJSON(t, string(r.body), `{"color":"red"}`) {
		t.Fatalf("payload after a replace without metadata: %s", r.body)
	}
	if v := ts.getVector("1"); fmt.Sprint(v.Vector) != "[1 1 1]" {
		t.Fatalf("vector not replaced: %v", v.Vector)
	}
	ts.expect(201, "", "POST", "/v1/vectors", `{"id": 1, "vector": [1, 1, 1], "metadata": null}`, jsonCT)
	if r := ts.expect(200, "", "GET", "/v1/vectors/1/payload", ""); !sameJSON(t, string(r.body), `{"color":"red"}`) {
		t.Fatalf("payload after metadata null: %s", r.body)
	}
	ts.expect(201, "", "POST", "/v1/vectors", `{"id": 1, "vector": [1, 1, 1], "metadata": {"size": 2}}`, jsonCT)
	if r := ts.expect(200, "", "GET", "/v1/vectors/1/payload", ""); !sameJSON(t, string(r.body), `{"size":2}`) {
		t.Fatalf("payload after metadata replace: %s", r.body)
	}

	// PUT upserts the vector and leaves the payload alone.
	r = ts.expect(200, "", "PUT", "/v1/vectors/1", `{"vector": [2, 2, 2]}`, jsonCT)
	if string(r.body) != `{"id":1}` {
		t.Fatalf("PUT returned %s", r.body)
	}
	if r := ts.expect(200, "", "GET", "/v1/vectors/1/payload", ""); !sameJSON(t, string(r.body), `{"size":2}`) {
		t.Fatalf("payload after PUT: %s", r.body)
	}
	ts.expect(200, "", "PUT", "/v1/vectors/77", `{"vector": [7, 7, 7]}`, jsonCT) // insert
	if v := ts.getVector("77"); fmt.Sprint(v.Vector) != "[7 7 7]" {
		t.Fatalf("GET 77 = %v", v.Vector)
	}
	if r := ts.expect(200, "", "GET", "/v1/vectors/77/payload", ""); string(r.body) != "{}" {
		t.Fatalf("payload of a vector without one: %s, want {}", r.body)
	}

	// DELETE: 204, also for an absent id; then 404 everywhere.
	ts.expect(204, "", "DELETE", "/v1/vectors/77", "")
	ts.expect(204, "", "DELETE", "/v1/vectors/77", "")
	ts.expect(404, "not_found", "GET", "/v1/vectors/77", "")
	ts.expect(404, "not_found", "GET", "/v1/vectors/77/payload", "")
	ts.expect(404, "not_found", "PUT", "/v1/vectors/77/payload", `{"a":1}`, jsonCT)
	ts.expect(404, "not_found", "PATCH", "/v1/vectors/77/payload", `{"a":1}`, jsonCT)
	for _, h := range ts.search(`{"vector": [7, 7, 7], "k": 100}`) {
		if h.ID == 77 {
			t.Fatal("a deleted id is still found")
		}
	}

	// Bad vectors, bodies and members.
	for _, c := range []struct{ body, code string }{
		{`{"id": 5, "vector": [1, NaN, 3]}`, "invalid_json"},
		{`{"id": 5, "vector": [1, Infinity, 3]}`, "invalid_json"},
		{`{"id": 5, "vector": [1, 1e39, 3]}`, "invalid_vector"},
		{`{"id": 5, "vector": [1, -1e39, 3]}`, "invalid_vector"},
		{`{"id": 5, "vector": [1, "2", 3]}`, "invalid_vector"},
		{`{"id": 5, "vector": "abc"}`, "invalid_vector"},
		{`{"id": 5, "vector": null}`, "invalid_vector"},
		{`{"id": 5}`, "invalid_vector"},
		{`{"id": 5, "vector": []}`, "invalid_vector"},
		{`{"vector": [1, 2, 3]}`, "invalid_id"},
		{`{"id": 5, "vector": [1, 2, 3], "metadata": [1]}`, "invalid_payload"},
		{`{"id": 5, "vector": [1, 2, 3], "metadata": "x"}`, "invalid_payload"},
		{`{"id": 5, "vector": [1, 2, 3], "metadata": 7}`, "invalid_payload"},
		{`{"id": 5, "id": 6, "vector": [1, 2, 3]}`, "invalid_argument"},
		{`{"id": 5, "vector": [1, 2, 3]`, "invalid_json"},
		{`{"id": 5, "vector": [1, 2, 3]} x`, "invalid_json"},
		{`[1, 2, 3]`, "invalid_json"},
		{``, "invalid_json"},
	} {
		ts.expect(400, c.code, "POST", "/v1/vectors", c.body, jsonCT)
	}
	ts.expect(404, "not_found", "GET", "/v1/vectors/5", "")
	// Unknown members are ignored.
	ts.expect(201, "", "POST", "/v1/vectors", `{"id": 5, "vector": [1, 2, 3], "extra": {"x": [1]}}`, jsonCT)
}

func TestV1IDForms(t *testing.T) {
	ts := startServer(t, Options{Dim: 2})
	const max64 = "18446744073709551615"
	good := []struct {
		json string
		id   uint64
	}{
		{`0`, 0},
		{`42`, 42},
		{`"42"`, 42},
		{`"007"`, 7},
		{`9007199254740993`, 9007199254740993}, // 2^53+1: not rounded through a double
		{max64, math.MaxUint64},
		{`"` + max64 + `"`, math.MaxUint64},
	}
	for _, g := range good {
		r := ts.expect(201, "", "POST", "/v1/vectors", `{"id": `+g.json+`, "vector": [1, 2]}`, jsonCT)
		if want := `{"id":` + strconv.FormatUint(g.id, 10) + `}`; string(r.body) != want {
			t.Errorf("id %s: response %s, want %s", g.json, r.body, want)
		}
		if v := ts.getVector(strconv.FormatUint(g.id, 10)); v.ID != g.id {
			t.Errorf("id %s: GET returned id %d", g.json, v.ID)
		}
	}
	// The full u64 range comes back as a JSON number, digit for digit.
	r := ts.expect(200, "", "GET", "/v1/vectors/"+max64, "")
	if !strings.HasPrefix(string(r.body), `{"id":`+max64+`,`) {
		t.Fatalf("GET max id: %s", r.body)
	}
	hits := ts.search(`{"vector": [1, 2], "k": 100}`)
	found := false
	for _, h := range hits {
		found = found || h.ID == math.MaxUint64
	}
	if !found {
		t.Fatalf("search does not return id 2^64-1: %v", hits)
	}

	bad := []string{`-1`, `-0`, `1.5`, `1.0`, `1e3`, `18446744073709551616`, `99999999999999999999999`,
		`"-1"`, `"+5"`, `""`, `" 5"`, `"5 "`, `"1.5"`, `"1e3"`, `"0x10"`, `"\u0035"`, `"18446744073709551616"`,
		`null`, `true`, `[1]`, `{"a":1}`}
	for _, b := range bad {
		ts.expect(400, "invalid_id", "POST", "/v1/vectors", `{"id": `+b+`, "vector": [1, 2]}`, jsonCT)
		ts.expect(400, "invalid_id", "POST", "/v1/vectors/batch", `{"items": [{"id": `+b+`, "vector": [1, 2]}]}`, jsonCT)
	}
	// Path ids: the same rules.
	for _, p := range []string{"-1", "+5", "1.5", "1e3", "18446744073709551616", "abc", "%205", "0x10"} {
		for _, m := range []struct{ method, suffix, body string }{
			{"GET", "", ""}, {"PUT", "", `{"vector": [1, 2]}`}, {"DELETE", "", ""},
			{"GET", "/payload", ""}, {"PUT", "/payload", `{}`}, {"PATCH", "/payload", `{}`},
		} {
			ts.expect(400, "invalid_id", m.method, "/v1/vectors/"+p+m.suffix, m.body, jsonCT)
		}
	}
}

// The examples of RFC 7396, appendix A. Payloads are JSON objects, so the
// examples whose target or result is not an object cannot be stored: those
// patches must be refused with nothing changed.
func TestV1PayloadMergePatchRFC7396(t *testing.T) {
	ts := startServer(t, Options{Dim: 1})
	ts.expect(201, "", "POST", "/v1/vectors", `{"id": 1, "vector": [1]}`, jsonCT)
	examples := []struct{ target, patch, result string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		// RFC section 3's longer example.
		{`{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},"tags":["example","sample"],"content":"This will be unchanged"}`,
			`{"title":"Hello!","phoneNumber":"+01-234-567-8901","author":{"familyName":null},"tags":["example"]}`,
			`{"title":"Hello!","author":{"givenName":"John"},"tags":["example"],"content":"This will be unchanged","phoneNumber":"+01-234-567-8901"}`},
	}
	for _, ex := range examples {
		ts.expect(200, "", "PUT", "/v1/vectors/1/payload", ex.target, jsonCT)
		r := ts.expect(200, "", "PATCH", "/v1/vectors/1/payload", ex.patch, "Content-Type: application/merge-patch+json")
		if !sameJSON(t, string(r.body), ex.result) {
			t.Errorf("patch %s on %s returned %s, want %s", ex.patch, ex.target, r.body, ex.result)
		}
		r = ts.expect(200, "", "GET", "/v1/vectors/1/payload", "")
		if !sameJSON(t, string(r.body), ex.result) {
			t.Errorf("patch %s on %s stored %s, want %s", ex.patch, ex.target, r.body, ex.result)
		}
	}
	// Appendix examples whose patch is not an object (they would replace the
	// payload with an array, null or a string) or whose target is an array.
	ts.expect(200, "", "PUT", "/v1/vectors/1/payload", `{"a":"b"}`, jsonCT)
	for _, p := range []string{`["c"]`, `null`, `"bar"`, `["c","d"]`, `1`} {
		ts.expect(400, "invalid_payload", "PATCH", "/v1/vectors/1/payload", p, jsonCT)
	}
	ts.expect(400, "invalid_payload", "PUT", "/v1/vectors/1/payload", `["a","b"]`, jsonCT)
	if r := ts.expect(200, "", "GET", "/v1/vectors/1/payload", ""); !sameJSON(t, string(r.body), `{"a":"b"}`) {
		t.Fatalf("a refused patch changed the payload: %s", r.body)
	}
}

func TestV1PayloadLimits(t *testing.T) {
	ts := startServer(t, Options{Dim: 1})
	ts.expect(201, "", "POST", "/v1/vectors", `{"id": 1, "vector": [1], "metadata": {"k": 1}}`, jsonCT)
	// 64 KiB exactly is accepted, one byte more is 413, everywhere.
	pad := func(n int) string { // an object of exactly n bytes
		return `{"s":"` + strings.Repeat("x", n-8) + `"}`
	}
	if len(pad(64<<10)) != 64<<10 {
		t.Fatal("bad pad")
	}
	ts.expect(200, "", "PUT", "/v1/vectors/1/payload", pad(64<<10), jsonCT)
	ts.expect(413, "payload_too_large", "PUT", "/v1/vectors/1/payload", pad(64<<10+1), jsonCT)
	ts.expect(413, "payload_too_large", "PATCH", "/v1/vectors/1/payload", pad(64<<10+1), jsonCT)
	ts.expect(413, "payload_too_large", "POST", "/v1/vectors", `{"id": 2, "vector": [1], "metadata": `+pad(64<<10+1)+`}`, jsonCT)
	ts.expect(201, "", "POST", "/v1/vectors", `{"id": 2, "vector": [1], "metadata": `+pad(64<<10)+`}`, jsonCT)
	// A patch whose result outgrows the limit.
	ts.expect(200, "", "PUT", "/v1/vectors/1/payload", pad(40<<10), jsonCT)
	ts.expect(413, "payload_too_large", "PATCH", "/v1/vectors/1/payload", `{"t":"`+strings.Repeat("y", 30<<10)+`"}`, jsonCT)
	if r := ts.expect(200, "", "GET", "/v1/vectors/1/payload", ""); string(r.body) != pad(40<<10) {
		t.Fatalf("refused patch changed the payload (%d bytes)", len(r.body))
	}
	// Not objects, not JSON.
	for _, b := range []string{`[]`, `"x"`, `12`, `null`, `true`, `{"a":`, `{"a":1}{}`, ``} {
		code := "invalid_payload"
		if strings.Contains(b, "{") || b == "" {
			code = "invalid_json"
		}
		ts.expect(400, code, "PUT", "/v1/vectors/1/payload", b, jsonCT)
		ts.expect(400, code, "PATCH", "/v1/vectors/1/payload", b, jsonCT)
	}
	// Payload bytes are stored as sent (no re-encoding).
	const odd = `{"b": 1.50, "a": "é\u00e9", "n": 12345678901234567890}`
	ts.expect(200, "", "PUT", "/v1/vectors/1/payload", odd, jsonCT)
	if r := ts.expect(200, "", "GET", "/v1/vectors/1/payload", ""); string(r.body) != odd {
		t.Fatalf("payload came back as %s, want %s", r.body, odd)
	}
}

func TestV1Batch(t *testing.T) {
	ts := startServer(t, Options{})
	r := ts.expect(200, "", "POST", "/v1/vectors/batch",
		`{"items": [{"id": 1, "vector": [1, 0]}, {"id": "2", "vector": [0, 1]}, {"id": 3, "vector": [1, 1]}]}`, jsonCT)
	if string(r.body) != `{"ids":[1,2,3]}` {
		t.Fatalf("batch returned %s", r.body)
	}
	for _, id := range []string{"1", "2", "3"} {
		ts.getVector(id)
	}
	// Any bad item: 400 and nothing written (id 10 must not appear).
	for _, c := range []struct{ body, code string }{
		{`{"items": [{"id": 10, "vector": [1, 0]}, {"id": 10, "vector": [0, 1]}]}`, "duplicate_id"},
		{`{"items": [{"id": 10, "vector": [1, 0]}, {"id": 11, "vector": [0, 1, 2]}]}`, "dim_mismatch"},
		{`{"items": [{"id": 10, "vector": [1, 0, 0]}, {"id": 11, "vector": [0, 1, 2]}]}`, "dim_mismatch"},
		{`{"items": [{"id": 10, "vector": [1, 0]}, {"id": -1, "vector": [0, 1]}]}`, "invalid_id"},
		{`{"items": [{"id": 10, "vector": [1, 0]}, {"id": 11, "vector": [0, 1e40]}]}`, "invalid_vector"},
		{`{"items": [{"id": 10, "vector": [1, 0]}, {"id": 11}]}`, "invalid_vector"},
		{`{"items": [{"id": 10, "vector": [1, 0]}, 5]}`, "invalid_argument"},
		{`{"items": [{"id": 10, "vector": [1, 0]}, {"id": 11, "vector": [0, 1], "metadata": [1]}]}`, "invalid_payload"},
		{`{"items": []}`, "invalid_argument"},
		{`{"items": {}}`, "invalid_argument"},
		{`{}`, "invalid_argument"},
		{`{"items": [{"id": 10, "vector": [1, 0]}`, "invalid_json"},
	} {
		ts.expect(400, c.code, "POST", "/v1/vectors/batch", c.body, jsonCT)
	}
	ts.expect(404, "not_found", "GET", "/v1/vectors/10", "")
	// Replacing existing ids in a batch is fine.
	ts.expect(200, "", "POST", "/v1/vectors/batch", `{"items": [{"id": 1, "vector": [5, 5]}, {"id": 4, "vector": [4, 4]}]}`, jsonCT)
	if v := ts.getVector("1"); fmt.Sprint(v.Vector) != "[5 5]" {
		t.Fatalf("batch replace: %v", v.Vector)
	}
}

func TestV1BatchMetadata(t *testing.T) {
	ts := startServer(t, Options{Dim: 2})
	ts.expect(201, "", "POST", "/v1/vectors", `{"id": 1, "vector": [1, 0], "metadata": {"keep": true}}`, jsonCT)
	r := ts.expect(200, "", "POST", "/v1/vectors/batch",
		`{"items": [{"id": 1, "vector": [1, 1]}, {"id": 2, "vector": [0, 1], "metadata": {"c": "x"}}, {"id": 3, "vector": [2, 2], "metadata": null}]}`, jsonCT)
	if string(r.body) != `{"ids":[1,2,3]}` {
		t.Fatalf("batch returned %s", r.body)
	}
	if r := ts.expect(200, "", "GET", "/v1/vectors/2/payload", ""); !sameJSON(t, string(r.body), `{"c":"x"}`) {
		t.Fatalf("payload of 2: %s", r.body)
	}
	if r := ts.expect(200, "", "GET", "/v1/vectors/1/payload", ""); !sameJSON(t, string(r.body), `{"keep":true}`) {
		t.Fatalf("payload of 1 (no metadata in the batch: kept): %s", r.body)
	}
	if r := ts.expect(200, "", "GET", "/v1/vectors/3/payload", ""); string(r.body) != "{}" {
		t.Fatalf("payload of 3 (metadata null): %s", r.body)
	}
	if v := ts.getVector("1"); fmt.Sprint(v.Vector) != "[1 1]" {
		t.Fatalf("vector 1 = %v", v.Vector)
	}
	// The filter index sees batch payloads at once.
	if hits := ts.search(`{"vector": [0, 0], "filter": {"c": "x"}}`); len(hits) != 1 || hits[0].ID != 2 {
		t.Fatalf("filtered search after the batch: %v", hits)
	}
	// A batch with one bad payload writes nothing, payloads included.
	ts.expect(413, "payload_too_large", "POST", "/v1/vectors/batch",
		`{"items": [{"id": 1, "vector": [9, 9], "metadata": {"keep": false}}, {"id": 4, "vector": [0, 1], "metadata": {"s": "`+strings.Repeat("x", 64<<10)+`"}}]}`, jsonCT)
	ts.expect(404, "not_found", "GET", "/v1/vectors/4", "")
	if r := ts.expect(200, "", "GET", "/v1/vectors/1/payload", ""); !sameJSON(t, string(r.body), `{"keep":true}`) {
		t.Fatalf("a refused batch changed payload 1: %s", r.body)
	}
}

func TestV1SearchArguments(t *testing.T) {
	ts := startServer(t, Options{})
	// 30 points on a line: the distance from [0, 0] to [i, 0] is i.
	var items []string
	for i := range 30 {
		items = append(items, fmt.Sprintf(`{"id": %d, "vector": [%d, 0]}`, i, i))
	}
	ts.expect(200, "", "POST", "/v1/vectors/batch", `{"items": [`+strings.Join(items, ",")+`]}`, jsonCT)

	hits := ts.search(`{"vector": [0, 0]}`)
	if len(hits) != 10 {
		t.Fatalf("default k: %d results, want 10", len(hits))
	}
	for i, h := range hits {
		if h.ID != uint64(i) || h.Distance != float32(i) {
			t.Fatalf("result %d = %+v, want id %d at distance %d", i, h, i, i)
		}
	}
	if hits := ts.search(`{"vector": [0, 0], "k": 3, "ef_search": 1}`); len(hits) != 3 || hits[2].ID != 2 {
		t.Fatalf("k 3 with ef_search 1 (raised to k): %v", hits)
	}
	if hits := ts.search(`{"vector": [0, 0], "k": 10000}`); len(hits) != 30 {
		t.Fatalf("k 10000 over 30 vectors: %d results", len(hits))
	}
	if hits := ts.search(`{"vector": [29.4, 0], "k": 1, "ef_search": null, "filter": null}`); len(hits) != 1 || hits[0].ID != 29 {
		t.Fatalf("null members: %v", hits)
	}
	for _, b := range []string{
		`{"vector": [0, 0], "k": 0}`, `{"vector": [0, 0], "k": 10001}`, `{"vector": [0, 0], "k": -1}`,
		`{"vector": [0, 0], "k": 2.5}`, `{"vector": [0, 0], "k": "3"}`, `{"vector": [0, 0], "k": 1e2}`,
		`{"vector": [0, 0], "ef_search": 0}`, `{"vector": [0, 0], "ef_search": 65537}`,
		`{"vector": [0, 0], "k": 1, "k": 2}`,
	} {
		ts.expect(400, "invalid_argument", "POST", "/v1/search", b, jsonCT)
	}
	ts.expect(400, "invalid_vector", "POST", "/v1/search", `{"k": 3}`, jsonCT)
	ts.expect(400, "invalid_vector", "POST", "/v1/search", `{"vector": []}`, jsonCT)
	ts.expect(400, "invalid_vector", "PUT", "/v1/vectors/1", `{"vector": []}`, jsonCT)
	ts.expect(400, "invalid_vector", "POST", "/v1/vectors/batch", `{"items": [{"id": 1, "vector": []}]}`, jsonCT)
	ts.expect(400, "invalid_vector", "POST", "/v1/search", `{"vector": [0, 1e39]}`, jsonCT)
	ts.expect(400, "invalid_json", "POST", "/v1/search", `{"vector": [0, NaN]}`, jsonCT)
	ts.expect(400, "dim_mismatch", "POST", "/v1/search", `{"vector": [0, 0, 0]}`, jsonCT)
	ts.expect(400, "invalid_json", "POST", "/v1/search", `{"vector": [0, 0]`, jsonCT)

	// Deletes: a deleted id never comes back; an emptied collection gives [].
	ts.expect(204, "", "DELETE", "/v1/vectors/0", "")
	if hits := ts.search(`{"vector": [0, 0], "k": 1}`); hits[0].ID != 1 {
		t.Fatalf("after deleting 0: %v", hits)
	}
	for i := 1; i < 30; i++ {
		ts.expect(204, "", "DELETE", "/v1/vectors/"+strconv.Itoa(i), "")
	}
	if hits := ts.search(`{"vector": [0, 0]}`); len(hits) != 0 {
		t.Fatalf("empty collection: %v", hits)
	}
	if r := ts.expect(200, "", "POST", "/v1/search", `{"vector": [0, 0]}`, jsonCT); string(r.body) != `{"results":[]}` {
		t.Fatalf("empty result body %s", r.body)
	}
}

func TestV1Auth(t *testing.T) {
	ts := startServer(t, Options{APIKeys: []string{"rw"}, ReadOnlyKeys: []string{"ro"}, Dim: 2})
	RW, RO := "Authorization: Bearer rw", "Authorization: Bearer ro"
	routes := []struct {
		method, path, body string
		write              bool
	}{
		{"POST", "/v1/vectors", `{"id": 1, "vector": [1, 2]}`, true},
		{"POST", "/v1/vectors/batch", `{"items": [{"id": 2, "vector": [1, 2]}]}`, true},
		{"PUT", "/v1/vectors/3", `{"vector": [1, 2]}`, true},
		{"GET", "/v1/vectors/1", ``, false},
		{"GET", "/v1/vectors/1/payload", ``, false},
		{"PUT", "/v1/vectors/1/payload", `{"a": 1}`, true},
		{"PATCH", "/v1/vectors/1/payload", `{"b": 2}`, true},
		{"POST", "/v1/search", `{"vector": [1, 2]}`, false},
		{"GET", "/v1/stats", ``, false},
		{"GET", "/ready", ``, false},
		{"DELETE", "/v1/vectors/3", ``, true},
	}
	for _, r := range routes {
		ts.expect(401, "unauthorized", r.method, r.path, r.body, jsonCT)
		ts.expect(401, "unauthorized", r.method, r.path, r.body, jsonCT, "Authorization: Bearer nope")
		if r.write {
			ts.expect(403, "forbidden", r.method, r.path, r.body, jsonCT, RO)
		}
	}
	// With the right keys every route works (in this order: writes first).
	for _, r := range routes {
		key := RO
		if r.write {
			key = RW
		}
		if resp := ts.do(r.method, r.path, r.body, jsonCT, key); resp.status >= 300 {
			t.Fatalf("%s %s with a %s key: %d %s", r.method, r.path, key, resp.status, resp.body)
		}
	}
	// The bulk build too (the collection is not empty: 409 after auth).
	ts.expect(401, "unauthorized", "POST", "/v1/build/bulk", "", "X-LSMVec-N: 1", "X-LSMVec-Dim: 2")
	ts.expect(403, "forbidden", "POST", "/v1/build/bulk", "", "X-LSMVec-N: 1", "X-LSMVec-Dim: 2", RO)
	ts.expect(409, "db_not_empty", "POST", "/v1/build/bulk", string(make([]byte, 8)), "X-LSMVec-N: 1", "X-LSMVec-Dim: 2", RW)
	// Refusals before the handler leave a big bulk body unread: the
	// connection must be closed, not reused out of step.
	big := string(make([]byte, 64<<10))
	for range 3 {
		ts.expect(401, "unauthorized", "POST", "/v1/build/bulk", big, "X-LSMVec-N: 8192", "X-LSMVec-Dim: 2")
		ts.expect(405, "", "GET", "/v1/build/bulk", big, RO)
		ts.expect(200, "", "GET", "/v1/stats", "", RO)
	}
	// Health needs nothing.
	ts.expect(200, "", "GET", "/health", "")
}

func TestV1StatsAndReady(t *testing.T) {
	ts := startServer(t, Options{Metric: "cosine", M: 8, M0: 16, EfConstruction: 40, EfSearch: 30})
	var st map[string]any
	get := func() {
		t.Helper()
		r := ts.expect(200, "", "GET", "/v1/stats", "")
		st = nil
		if err := json.Unmarshal(r.body, &st); err != nil {
			t.Fatal(err)
		}
	}
	num := func(k string) float64 {
		t.Helper()
		v, ok := st[k].(float64)
		if !ok {
			t.Fatalf("stats %q = %v (%T), want a number", k, st[k], st[k])
		}
		return v
	}
	get()
	if st["exists"] != false || num("vectors") != 0 || num("dim") != 0 || st["metric"] != "cosine" {
		t.Fatalf("stats before the first write: %v", st)
	}
	// Every documented field is present.
	for _, k := range []string{"collection", "exists", "vectors", "dim", "metric", "tombstones", "tombstone_ratio",
		"total_inserts_ever", "total_deletes_ever", "memory_bytes", "index_memory_bytes", "payload_index_bytes",
		"writes_since_checkpoint", "log_seq", "checkpoint_seq", "m", "m0", "ef_construction", "ef_search",
		"bloom_hits", "bloom_misses", "bloom_hit_ratio", "disk_usage_bytes", "checkpoint_bytes", "wal_bytes",
		"memtable_bytes", "sstables", "read_amp", "compactions", "compaction_bytes", "flushes",
		"block_cache_bytes", "block_cache_hits", "block_cache_misses", "sync_commits", "synced_writes"} {
		if _, ok := st[k]; !ok {
			t.Errorf("stats lack %q", k)
		}
	}
	if len(st) != 36 {
		t.Errorf("stats have %d fields, the README documents 36: %v", len(st), st)
	}
	ts.expect(200, "", "GET", "/ready", "")

	for i := range 10 {
		ts.expect(201, "", "POST", "/v1/vectors", fmt.Sprintf(`{"id": %d, "vector": [1, %d, 3], "metadata": {"i": %d}}`, i, i, i), jsonCT)
	}
	ts.expect(201, "", "POST", "/v1/vectors", `{"id": 3, "vector": [3, 3, 3]}`, jsonCT) // a replace
	ts.expect(204, "", "DELETE", "/v1/vectors/4", "")
	ts.expect(204, "", "DELETE", "/v1/vectors/4", "") // absent: not counted
	get()
	if st["exists"] != true || num("vectors") != 9 || num("dim") != 3 || st["metric"] != "cosine" ||
		num("m") != 8 || num("m0") != 16 || num("ef_construction") != 40 || num("ef_search") != 30 {
		t.Fatalf("stats: %v", st)
	}
	if num("total_inserts_ever") != 11 || num("total_deletes_ever") != 1 {
		t.Fatalf("inserts %v deletes %v, want 11 and 1", st["total_inserts_ever"], st["total_deletes_ever"])
	}
	// The replace and the delete each leave a tombstone until a repair pass.
	tomb, live := num("tombstones"), num("vectors")
	if tomb < 0 || tomb > 2 || num("tombstone_ratio") != tomb/(tomb+live) {
		t.Fatalf("tombstones %v ratio %v", tomb, st["tombstone_ratio"])
	}
	if num("memory_bytes") <= 0 || num("memory_bytes") != num("index_memory_bytes")+num("payload_index_bytes") ||
		num("payload_index_bytes") <= 0 {
		t.Fatalf("memory: %v", st)
	}
	if num("sync_commits") < 1 || num("synced_writes") < 11 || num("log_seq") < 12 {
		t.Fatalf("write counters: %v", st)
	}
	// The bloom counters move only once lookups reach flushed tables (these
	// writes are still in the memtable): check the ratio's definition.
	if h, m := num("bloom_hits"), num("bloom_misses"); h+m > 0 && num("bloom_hit_ratio") != h/(h+m) ||
		h+m == 0 && num("bloom_hit_ratio") != 0 {
		t.Fatalf("bloom: %v", st)
	}
	ts.expect(200, "", "GET", "/ready", "")
}

func TestV1ReadyAfterClose(t *testing.T) {
	db := openTestStore(t)
	s, err := New(db, Options{LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	if st, body := serveCtx(h, "GET", "/ready", ""); st != 200 || body != `{"status":"ok"}` {
		t.Fatalf("ready: %d %s", st, body)
	}
	if st, _ := serveCtx(h, "POST", "/v1/vectors", `{"id": 1, "vector": [1]}`); st != 201 {
		t.Fatalf("insert: %d", st)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if st, body := serveCtx(h, "GET", "/ready", ""); st != 503 || !strings.Contains(body, `"not_ready"`) {
		t.Fatalf("ready after the store closed: %d %s", st, body)
	}
	if st, _ := serveCtx(h, "GET", "/health", ""); st != 200 {
		t.Fatalf("health after close: %d", st)
	}
}

func TestV1BulkBuild(t *testing.T) {
	ts := startServer(t, Options{})
	const n, dim = 300, 4
	vecs := make([]float32, n*dim)
	for i := range n {
		for j := range dim {
			vecs[i*dim+j] = float32(i) + float32(j)/10
		}
	}
	raw := make([]byte, 0, 4*len(vecs))
	for _, f := range vecs {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
	}
	var pl []string
	for i := range n {
		if i%3 == 0 {
			pl = append(pl, "null")
		} else {
			pl = append(pl, fmt.Sprintf(`{"g": %d}`, i%3))
		}
	}
	payloads := "[" + strings.Join(pl, ",") + "]"
	hdr := func(n, dim string) []string {
		return []string{"X-LSMVec-N: " + n, "X-LSMVec-Dim: " + dim, "Content-Type: application/octet-stream"}
	}
	bulk := func(status int, code, body string, headers ...string) response {
		t.Helper()
		r := ts.expect(status, code, "POST", "/v1/build/bulk", body, headers...)
		if status >= 400 {
			// Nothing stored.
			ts.expect(404, "not_found", "GET", "/v1/vectors/0", "")
		}
		return r
	}
	// Bad headers and sizes: 400 before anything is read or created.
	bulk(400, "invalid_header", string(raw))
	bulk(400, "invalid_header", string(raw), "X-LSMVec-N: 300")
	bulk(400, "invalid_header", string(raw), "X-LSMVec-Dim: 4")
	for _, bad := range [][2]string{{"0", "4"}, {"-1", "4"}, {"+300", "4"}, {"3e2", "4"}, {"x", "4"}, {"300", "0"}, {"300", "65537"}, {"300", "-4"}, {"300", "4.0"}} {
		bulk(400, "invalid_header", string(raw), hdr(bad[0], bad[1])...)
	}
	bulk(400, "invalid_header", string(raw), append(hdr("300", "4"), "X-LSMVec-Threads: -1")...)
	bulk(400, "invalid_header", string(raw), append(hdr("300", "4"), "X-LSMVec-Threads: many")...)
	bulk(400, "invalid_body", string(raw[:len(raw)-4]), hdr("300", "4")...)
	bulk(400, "invalid_body", string(raw), hdr("301", "4")...)
	bulk(400, "invalid_body", "", hdr("300", "4")...)
	bulk(413, "payload_too_large", "", hdr("1099511627776", "65536")...)
	// Wrong trailing bytes, a short payload array, a NaN: the store rolls back.
	bulk(400, "", string(raw)+"xyz", hdr("300", "4")...)
	bulk(400, "", string(raw)+"[null]", hdr("300", "4")...)
	bulk(400, "", string(raw)+payloads+"{}", hdr("300", "4")...)
	bulk(400, "", string(raw)+`[`+strings.Repeat(`[1],`, 299)+`[1]]`, hdr("300", "4")...)
	nan := bytes.Clone(raw)
	binary.LittleEndian.PutUint32(nan[4*555:], math.Float32bits(float32(math.NaN())))
	bulk(400, "", string(nan), hdr("300", "4")...)
	// The server stays usable (connections were closed, not desynchronised).
	ts.expect(200, "", "GET", "/ready", "")
	if r := ts.expect(200, "", "GET", "/v1/stats", ""); !strings.Contains(string(r.body), `"vectors":0`) {
		t.Fatalf("stats after failed bulk builds: %s", r.body)
	}

	// The real thing, with payloads.
	r := bulk(200, "", string(raw)+"\n"+payloads, append(hdr("300", "4"), "X-LSMVec-Threads: 2")...)
	var res struct {
		N             int     `json:"n"`
		Payloads      int     `json:"payloads"`
		ElapsedMS     float64 `json:"elapsed_ms"`
		VectorsPerSec float64 `json:"vectors_per_sec"`
		Threads       int     `json:"threads"`
	}
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	if res.N != n || res.Payloads != 200 || res.Threads != 2 || res.ElapsedMS <= 0 || res.VectorsPerSec <= 0 {
		t.Fatalf("bulk result %s", r.body)
	}
	for _, id := range []int{0, 1, 299} {
		v := ts.getVector(strconv.Itoa(id))
		if !reflect.DeepEqual(v.Vector, vecs[id*dim:(id+1)*dim]) {
			t.Fatalf("vector %d = %v", id, v.Vector)
		}
	}
	if r := ts.expect(200, "", "GET", "/v1/vectors/1/payload", ""); !sameJSON(t, string(r.body), `{"g":1}`) {
		t.Fatalf("payload 1: %s", r.body)
	}
	if r := ts.expect(200, "", "GET", "/v1/vectors/3/payload", ""); string(r.body) != "{}" {
		t.Fatalf("payload 3 (null): %s", r.body)
	}
	hits := ts.search(`{"vector": [5, 5.1, 5.2, 5.3], "k": 3, "filter": {"g": 2}}`)
	if len(hits) != 3 || hits[0].ID != 5 {
		t.Fatalf("filtered search after bulk: %v", hits)
	}
	// A second bulk build: 409, nothing changed.
	bulk2 := ts.expect(409, "db_not_empty", "POST", "/v1/build/bulk", string(raw), hdr("300", "4")...)
	_ = bulk2
	ts.getVector("299")
	// A dimension that contradicts the collection: 400.
	ts.expect(400, "dim_mismatch", "POST", "/v1/build/bulk", string(raw), hdr("600", "2")...)
}

func TestV1BulkBuildChunked(t *testing.T) {
	ts := startServer(t, Options{Dim: 2})
	raw := make([]byte, 0, 16)
	for _, f := range []float32{1, 2, 3, 4} {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
	}
	post := func(body io.Reader, n string) *http.Response {
		req, err := http.NewRequest("POST", ts.base+"/v1/build/bulk", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1 // chunked
		req.Header.Set("X-LSMVec-N", n)
		req.Header.Set("X-LSMVec-Dim", "2")
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// Dimension contradicting LSMVEC_DIM: refused before anything exists.
	ts.expect(400, "dim_mismatch", "POST", "/v1/build/bulk", string(raw), "X-LSMVec-N: 1", "X-LSMVec-Dim: 4")
	if r := ts.expect(200, "", "GET", "/v1/stats", ""); !strings.Contains(string(r.body), `"exists":false`) {
		t.Fatalf("a refused bulk build created the collection: %s", r.body)
	}
	if resp := post(io.MultiReader(bytes.NewReader(raw[:12])), "2"); resp.StatusCode != 400 {
		t.Fatalf("short chunked body: %d", resp.StatusCode)
	}
	if resp := post(io.MultiReader(bytes.NewReader(raw), strings.NewReader(` [{"a":1}, null] `)), "2"); resp.StatusCode != 200 {
		t.Fatalf("chunked body: %d", resp.StatusCode)
	}
	if v := ts.getVector("1"); fmt.Sprint(v.Vector) != "[3 4]" {
		t.Fatalf("vector 1 = %v", v.Vector)
	}
	if r := ts.expect(200, "", "GET", "/v1/vectors/0/payload", ""); !sameJSON(t, string(r.body), `{"a":1}`) {
		t.Fatalf("payload 0: %s", r.body)
	}
}

// TestStreamedBodies checks the body handling that StreamRequestBody
// needs: chunked and oversized bodies on ordinary routes, and a body on a
// route that ignores it followed by another request on the same connection.
func TestStreamedBodies(t *testing.T) {
	ts := startServer(t, Options{MaxBody: 64 << 10, Dim: 2})
	big := `{"id": 1, "vector": [1, 2], "metadata": {"s": "` + strings.Repeat("x", 70<<10) + `"}}`
	ts.expect(413, "payload_too_large", "POST", "/v1/vectors", big, jsonCT)
	chunked := func(body string) response {
		req, _ := http.NewRequest("POST", ts.base+"/v1/vectors", io.MultiReader(strings.NewReader(body)))
		req.ContentLength = -1
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, body: b}
	}
	if r := chunked(big); r.status != 413 {
		t.Fatalf("chunked oversized body: %d %s", r.status, r.body)
	}
	if r := chunked(`{"id": 1, "vector": [1, 2]}`); r.status != 201 {
		t.Fatalf("chunked body: %d %s", r.status, r.body)
	}
	// Keep-alive: a GET carrying a 20 KiB body (more than fasthttp
	// prefetches), then a second request on the same connection.
	for range 3 {
		ts.expect(200, "", "GET", "/v1/stats", strings.Repeat(" ", 20<<10), jsonCT)
		ts.getVector("1")
	}
}

// serveCtx runs h on an in-memory request.
func serveCtx(h func(*fasthttp.RequestCtx), method, path, body string) (int, string) {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	if body != "" {
		ctx.Request.SetBodyString(body)
	}
	h(&ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Body())
}

func sortedIDs(hits []v1Hit) []uint64 {
	ids := make([]uint64, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// TestV1Concurrent runs writers (inserts with payloads, patches, deletes)
// and filtered searches at once (run it under -race); each writer owns its
// ids, so the final state is known.
func TestV1Concurrent(t *testing.T) {
	ts := startServer(t, Options{Dim: 4, LogLevel: "warn"})
	const writers, perWriter = 4, 25
	var wg sync.WaitGroup
	errc := make(chan error, writers+2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				id := w*1000 + i
				body := fmt.Sprintf(`{"id": %d, "vector": [%d, %d, 1, 1], "metadata": {"w": %d, "i": %d}}`, id, w, i, w, i)
				if r := ts.do("POST", "/v1/vectors", body, jsonCT); r.status != 201 {
					errc <- fmt.Errorf("insert %d: %d %s", id, r.status, r.body)
					return
				}
				if i%5 == 0 {
					if r := ts.do("PATCH", fmt.Sprintf("/v1/vectors/%d/payload", id), `{"patched": true}`, jsonCT); r.status != 200 {
						errc <- fmt.Errorf("patch %d: %d %s", id, r.status, r.body)
						return
					}
				}
				if i%7 == 6 {
					if r := ts.do("DELETE", fmt.Sprintf("/v1/vectors/%d", id), ""); r.status != 204 {
						errc <- fmt.Errorf("delete %d: %d", id, r.status)
						return
					}
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range 40 {
				body := fmt.Sprintf(`{"vector": [%d, 1, 1, 1], "k": 5, "filter": {"w": %d}}`, q%writers, q%writers)
				r := ts.do("POST", "/v1/search", body, jsonCT)
				if r.status != 200 {
					errc <- fmt.Errorf("search: %d %s", r.status, r.body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for w := range writers {
		hits := ts.search(fmt.Sprintf(`{"vector": [%d, 0, 1, 1], "k": 100, "filter": {"w": %d}}`, w, w))
		want := 0
		for i := range perWriter {
			if i%7 != 6 {
				want++
			}
		}
		if len(hits) != want {
			t.Fatalf("writer %d: %d live ids match, want %d", w, len(hits), want)
		}
		for _, h := range hits {
			i := int(h.ID) - w*1000
			r := ts.expect(200, "", "GET", fmt.Sprintf("/v1/vectors/%d/payload", h.ID), "")
			want := fmt.Sprintf(`{"w": %d, "i": %d}`, w, i)
			if i%5 == 0 {
				want = fmt.Sprintf(`{"w": %d, "i": %d, "patched": true}`, w, i)
			}
			if !sameJSON(t, string(r.body), want) {
				t.Fatalf("payload of %d: %s, want %s", h.ID, r.body, want)
			}
		}
	}
}

// TestV1StatsBloom checks that the bloom figures are Pebble's: lookups of
// absent ids in flushed level-0 tables are answered by their filters. (Pebble
// does not consult the filters of the bottom level, L6, on point reads, so
// fully compacted data moves neither counter.)
func TestV1StatsBloom(t *testing.T) {
	db, err := store.Open(store.Options{Dir: t.TempDir(), MemTableSize: 1 << 20, Logger: quietStoreLogger{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(db, Options{Dim: 256, LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	type figures struct {
		Hits    float64 `json:"bloom_hits"`
		Misses  float64 `json:"bloom_misses"`
		Ratio   float64 `json:"bloom_hit_ratio"`
		Flushes float64 `json:"flushes"`
		ReadAmp float64 `json:"read_amp"`
	}
	stats := func() (f figures) {
		st, body := serveCtx(h, "GET", "/v1/stats", "")
		if err := json.Unmarshal([]byte(body), &f); st != 200 || err != nil {
			t.Fatalf("stats: %d %s %v", st, body, err)
		}
		return f
	}
	// 1500 vectors of 1 KiB (even ids): more than the 1 MiB memtable, so
	// one flush writes a level-0 table.
	vec := "[" + strings.TrimSuffix(strings.Repeat("0.5,", 256), ",") + "]"
	var items []string
	for i := range 1500 {
		items = append(items, fmt.Sprintf(`{"id": %d, "vector": %s}`, 2*i, vec))
	}
	if st, body := serveCtx(h, "POST", "/v1/vectors/batch", `{"items": [`+strings.Join(items, ",")+`]}`); st != 200 {
		t.Fatalf("batch: %d %s", st, body)
	}
	f0 := stats()
	for deadline := time.Now().Add(5 * time.Second); f0.Flushes < 1 && time.Now().Before(deadline); f0 = stats() {
		time.Sleep(10 * time.Millisecond)
	}
	if f0.Flushes < 1 {
		t.Fatalf("no flush after writing 1.5 MiB into a 1 MiB memtable: %+v", f0)
	}
	for i := range 200 { // odd ids were never written
		if st, _ := serveCtx(h, "GET", "/v1/vectors/"+strconv.Itoa(2*i+1), ""); st != 404 {
			t.Fatalf("GET absent id: %d", st)
		}
	}
	f1 := stats()
	if f1.Hits-f0.Hits == 0 && f1.Misses == f0.Misses && f1.ReadAmp <= 1 {
		t.Skipf("the flushed table was compacted to L6, whose filters point reads skip: %+v", f1)
	}
	if f1.Hits-f0.Hits < 150 {
		t.Fatalf("200 lookups of absent ids: bloom hits %v → %v, misses %v → %v; want most answered by the filters", f0.Hits, f1.Hits, f0.Misses, f1.Misses)
	}
	if f1.Ratio != f1.Hits/(f1.Hits+f1.Misses) {
		t.Fatalf("bloom_hit_ratio %v for %v hits and %v misses", f1.Ratio, f1.Hits, f1.Misses)
	}
	t.Logf("200 absent lookups: bloom hits +%v, misses +%v (read_amp %v)", f1.Hits-f0.Hits, f1.Misses-f0.Misses, f1.ReadAmp)
}
