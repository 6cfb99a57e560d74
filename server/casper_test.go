package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCasperCollectionLifecycle(t *testing.T) {
	ts := startServer(t, Options{})
	J := "Content-Type: application/json"

	// Create, duplicate, bad arguments.
	r := ts.expect(200, "", "POST", "/collection/demo?dim=4&max_size=3", "")
	var info casperInfo
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatal(err)
	}
	if info.Name != "demo" || info.Dimension != 4 || info.MaxSize != 3 || !info.Mutable || info.HasIndex || info.Index != nil || info.Size != 0 {
		t.Fatalf("create returned %+v", info)
	}
	if !strings.Contains(string(r.body), `"index":null`) {
		t.Fatalf("info without index must have \"index\":null: %s", r.body)
	}
	ts.expect(409, "already_exists", "POST", "/collection/demo?dim=4&max_size=3", "")
	ts.expect(400, "", "POST", "/collection/bad?dim=0&max_size=3", "")
	ts.expect(400, "", "POST", "/collection/bad?dim=4", "")
	ts.expect(400, "", "POST", "/collection/bad?dim=x&max_size=3", "")
	ts.expect(400, "", "POST", "/collection/bad.name?dim=4&max_size=3", "")
	ts.expect(400, "", "POST", "/collection/"+strings.Repeat("x", 129)+"?dim=4&max_size=3", "")

	// Every route on an unknown collection is 404.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/collection/nope", ""},
		{"DELETE", "/collection/nope", ""},
		{"POST", "/collection/nope/insert?id=1", `{"vector":[1,2,3,4]}`},
		{"DELETE", "/collection/nope/delete?id=1", ""},
		{"POST", "/collection/nope/update", `{"delete":[1]}`},
		{"POST", "/collection/nope/mute", ""},
		{"POST", "/collection/nope/unmute", ""},
		{"POST", "/collection/nope/index", `{"hnsw":{"metric":"euclidean"}}`},
		{"DELETE", "/collection/nope/index", ""},
		{"POST", "/collection/nope/search", `{"vector":[1,2,3,4]}`},
		{"GET", "/collection/nope/vector/1", ""},
	} {
		ts.expect(404, "not_found", c.method, c.path, c.body, J)
	}

	// Inserts: good, dim mismatch, non-finite, bad JSON, bad ids.
	ts.expect(200, "", "POST", "/collection/demo/insert?id=42", `{"vector": [0.1, 0.2, 0.3, 0.4]}`, J)
	ts.expect(400, "dim_mismatch", "POST", "/collection/demo/insert?id=1", `{"vector": [0.1, 0.2, 0.3]}`, J)
	ts.expect(400, "invalid_vector", "POST", "/collection/demo/insert?id=1", `{"vector": [0.1, 0.2, 0.3, 1e39]}`, J)
	ts.expect(400, "invalid_vector", "POST", "/collection/demo/insert?id=1", `{"vector": [0.1, NaN, 0.3, 0.4]}`, J)
	ts.expect(400, "", "POST", "/collection/demo/insert?id=1", `{"vector": [0.1, Infinity, 0.3, 0.4]}`, J)
	ts.expect(400, "invalid_json", "POST", "/collection/demo/insert?id=1", `{"vector": [0.1,`, J)
	ts.expect(400, "invalid_vector", "POST", "/collection/demo/insert?id=1", `{"vector": "abc"}`, J)
	ts.expect(400, "", "POST", "/collection/demo/insert?id=4294967296", `{"vector": [1,2,3,4]}`, J)
	ts.expect(400, "", "POST", "/collection/demo/insert?id=-1", `{"vector": [1,2,3,4]}`, J)
	ts.expect(400, "", "POST", "/collection/demo/insert", `{"vector": [1,2,3,4]}`, J)
	ts.expect(200, "", "POST", "/collection/demo/insert?id=4294967295", `{"vector": [1,2,3,4]}`, J)

	// max_size caps live ids (3): 42 and 2^32-1 are in, one more fits.
	ts.expect(200, "", "POST", "/collection/demo/insert?id=7", `{"vector": [1,0,0,0]}`, J)
	ts.expect(400, "max_size_exceeded", "POST", "/collection/demo/insert?id=8", `{"vector": [1,0,0,0]}`, J)
	ts.expect(200, "", "POST", "/collection/demo/insert?id=7", `{"vector": [0,1,0,0]}`, J) // replace is fine

	// Get vector: exact floats back.
	r = ts.expect(200, "", "GET", "/collection/demo/vector/42", "")
	var gv struct {
		ID     uint32    `json:"id"`
		Vector []float32 `json:"vector"`
	}
	if err := json.Unmarshal(r.body, &gv); err != nil || gv.ID != 42 || fmt.Sprint(gv.Vector) != "[0.1 0.2 0.3 0.4]" {
		t.Fatalf("vector 42: %s (%v)", r.body, err)
	}
	ts.expect(404, "not_found", "GET", "/collection/demo/vector/5", "")
	ts.expect(400, "", "GET", "/collection/demo/vector/abc", "")

	// Delete: present, absent.
	ts.expect(200, "", "DELETE", "/collection/demo/delete?id=4294967295", "")
	ts.expect(404, "not_found", "DELETE", "/collection/demo/delete?id=4294967295", "")

	// Update: validation failures change nothing.
	for _, body := range []string{
		`{"insert":[{"id":1,"vector":[1,1,1,1]},{"id":1,"vector":[2,2,2,2]}]}`, // duplicate insert
		`{"delete":[42,42]}`, // duplicate delete
		`{"insert":[{"id":1,"vector":[1,1,1,1]}],"delete":[1]}`, // overlap
		`{"insert":[],"delete":[]}`,                             // empty
		`{}`,                                                    // empty
		`{"insert":[{"id":1,"vector":[1,1,1]}],"delete":[42]}`, // dim mismatch
		`{"insert":[{"id":-1,"vector":[1,1,1,1]}]}`,            // bad id
		`{"insert":[{"id":1.5,"vector":[1,1,1,1]}]}`,           // bad id
		`{"delete":["x"]}`, // bad id
		`[1,2]`,            // not an object
	} {
		ts.expect(400, "", "POST", "/collection/demo/update", body, J)
	}
	if got := ts.db.Collections()[0].Size; got != 2 {
		t.Fatalf("size %d after failed updates, want 2", got)
	}
	// A good batch: inserts then deletes; an absent id in delete is fine.
	ts.expect(200, "", "POST", "/collection/demo/update",
		`{"insert":[{"id":10,"vector":[0.1,0.2,0.3,0.4]}],"delete":[7,3,5]}`, J)
	r = ts.expect(200, "", "GET", "/collection/demo", "")
	if err := json.Unmarshal(r.body, &info); err != nil || info.Size != 2 {
		t.Fatalf("after update: %s", r.body)
	}

	// Mute: writes 405, reads work; unmute restores writes.
	ts.expect(200, "", "POST", "/collection/demo/mute", "", J) // empty body with a JSON content type
	ts.expect(405, "muted", "POST", "/collection/demo/insert?id=1", `{"vector":[1,2,3,4]}`, J)
	ts.expect(405, "muted", "DELETE", "/collection/demo/delete?id=10", "")
	ts.expect(405, "muted", "POST", "/collection/demo/update", `{"delete":[10]}`, J)
	r = ts.expect(200, "", "GET", "/collection/demo", "")
	if err := json.Unmarshal(r.body, &info); err != nil || info.Mutable {
		t.Fatalf("muted info: %s", r.body)
	}
	ts.expect(200, "", "GET", "/collection/demo/vector/42", "")
	ts.expect(200, "", "POST", "/collection/demo/unmute", "", J)
	ts.expect(200, "", "POST", "/collection/demo/insert?id=1", `{"vector":[1,2,3,4]}`, J)

	// Search before an index: 409 no_index.
	ts.expect(409, "no_index", "POST", "/collection/demo/search", `{"vector":[1,2,3,4]}`, J)

	// Bad index requests: 400 and no index.
	for _, body := range []string{
		``, `{}`, `not json`,
		`{"hnsw":{"metric":"euclidean","m":1,"m0":32,"ef_construction":200}}`,
		`{"hnsw":{"metric":"euclidean","m":129,"m0":256,"ef_construction":200}}`,
		`{"hnsw":{"metric":"euclidean","m":16,"m0":8,"ef_construction":200}}`,
		`{"hnsw":{"metric":"euclidean","m":16,"m0":513,"ef_construction":200}}`,
		`{"hnsw":{"metric":"euclidean","m":16,"m0":32,"ef_construction":8}}`,
		`{"hnsw":{"metric":"manhattan","m":16,"m0":32,"ef_construction":200}}`,
		`{"hnsw":{"metric":"euclidean","quantization":"f16"}}`,
		`{"hnsw":{"metric":"cosine","quantization":"pq8","pq_name":"nope"}}`,
		`{"hnsw":{"metric":"euclidean","quantization":"pq8","pq_name":"nope"}}`,
		`{"hnsw":{"metric":"euclidean","quantization":"pq8"}}`,
		`{"index":"ivf","config":{"metric":"euclidean"}}`,
		`{"index":"hnsw"}`,
		`{"hnsw":{"metric":"euclidean"},"index":"hnsw","config":{"metric":"euclidean"}}`,
		`{"hnsw":{"metric":"euclidean","m":"16"}}`,
	} {
		ts.expect(400, "", "POST", "/collection/demo/index", body, J)
	}
	r = ts.expect(200, "", "GET", "/collection/demo", "")
	if err := json.Unmarshal(r.body, &info); err != nil || info.HasIndex {
		t.Fatalf("a failed index request left an index: %s", r.body)
	}

	// The older body form, with normalization inside config.
	r = ts.expect(200, "", "POST", "/collection/demo/index",
		`{"index":"hnsw","config":{"metric":"l2sq","quantization":"f32","m":8,"m0":16,"ef_construction":64,"normalization":false}}`, J)
	if err := json.Unmarshal(r.body, &info); err != nil || !info.HasIndex || info.Index.HNSW.Metric != "l2sq" ||
		info.Index.HNSW.M != 8 || info.Index.HNSW.M0 != 16 || info.Index.HNSW.EfConstruction != 64 || info.Index.Normalization {
		t.Fatalf("index info: %s", r.body)
	}
	ts.expect(409, "", "POST", "/collection/demo/index", `{"hnsw":{"metric":"euclidean"}}`, J)

	// Search: JSON default, bin, limits.
	r = ts.expect(200, "", "POST", "/collection/demo/search?limit=2", `{"vector":[0.1,0.2,0.3,0.4]}`, J)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("search Content-Type %q", ct)
	}
	var hits [][2]float64
	if err := json.Unmarshal(r.body, &hits); err != nil || len(hits) != 2 {
		t.Fatalf("search JSON %s: %v", r.body, err)
	}
	if hits[0][1] != 0 || hits[0][0] != 10 && hits[0][0] != 42 || hits[1][1] != 0 {
		t.Fatalf("search hits %v: want ids 10 and 42 at distance 0", hits)
	}
	r = ts.expect(200, "", "POST", "/collection/demo/search?limit=10&output=bin", `{"vector":[1,2,3,4]}`, J)
	if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Fatalf("bin Content-Type %q", ct)
	}
	n := binary.LittleEndian.Uint32(r.body)
	if n != 3 || len(r.body) != 4+8*int(n) {
		t.Fatalf("bin body: count %d, %d bytes", n, len(r.body))
	}
	if id := binary.LittleEndian.Uint32(r.body[4:]); id != 1 || math.Float32frombits(binary.LittleEndian.Uint32(r.body[8:])) != 0 {
		t.Fatalf("bin first hit id %d", id)
	}
	prev := float32(-1)
	for i := range int(n) {
		d := math.Float32frombits(binary.LittleEndian.Uint32(r.body[8+8*i:]))
		if d < prev {
			t.Fatalf("bin distances not ascending: %v after %v", d, prev)
		}
		prev = d
	}
	ts.expect(200, "", "POST", "/collection/demo/search?output=json&ef_search=5&limit=10", `{"vector":[1,2,3,4]}`, J)
	ts.expect(400, "", "POST", "/collection/demo/search?limit=0", `{"vector":[1,2,3,4]}`, J)
	ts.expect(400, "", "POST", "/collection/demo/search?limit=10001", `{"vector":[1,2,3,4]}`, J)
	ts.expect(400, "", "POST", "/collection/demo/search?output=xml", `{"vector":[1,2,3,4]}`, J)
	ts.expect(400, "", "POST", "/collection/demo/search?ef_search=0", `{"vector":[1,2,3,4]}`, J)
	ts.expect(400, "dim_mismatch", "POST", "/collection/demo/search", `{"vector":[1,2,3]}`, J)
	ts.expect(400, "invalid_vector", "POST", "/collection/demo/search", `{"vector":[1,2,3,-1e40]}`, J)
	ts.expect(400, "invalid_json", "POST", "/collection/demo/search", ``, J)

	// Writes while indexed are searchable at once.
	ts.expect(200, "", "POST", "/collection/demo/insert?id=1", `{"vector":[9,9,9,9]}`, J)
	r = ts.expect(200, "", "POST", "/collection/demo/search?limit=1", `{"vector":[9,9,9,9]}`, J)
	if string(r.body) != "[[1,0]]" {
		t.Fatalf("search after insert: %s", r.body)
	}

	// Drop the index, then the collection.
	ts.expect(200, "", "DELETE", "/collection/demo/index", "", J)
	ts.expect(404, "", "DELETE", "/collection/demo/index", "")
	ts.expect(409, "no_index", "POST", "/collection/demo/search", `{"vector":[1,2,3,4]}`, J)
	r = ts.expect(200, "", "GET", "/collections", "")
	var list struct {
		Collections []casperInfo `json:"collections"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Collections) != 1 || list.Collections[0].Name != "demo" {
		t.Fatalf("list: %s", r.body)
	}
	ts.expect(200, "", "DELETE", "/collection/demo", "", J)
	ts.expect(404, "not_found", "GET", "/collection/demo", "")
	r = ts.expect(200, "", "GET", "/collections", "")
	if string(r.body) != `{"collections":[]}` {
		t.Fatalf("empty list: %s", r.body)
	}

	// Routing errors are JSON too.
	ts.expect(404, "route_not_found", "GET", "/nowhere", "")
	ts.expect(405, "method_not_allowed", "PUT", "/collections", "")
}

func TestCasperNormalization(t *testing.T) {
	ts := startServer(t, Options{})
	J := "Content-Type: application/json"
	ts.expect(200, "", "POST", "/collection/n?dim=3&max_size=10", "")
	ts.expect(200, "", "POST", "/collection/n/insert?id=1", `{"vector":[3,0,4]}`, J)
	ts.expect(200, "", "POST", "/collection/n/index",
		`{"hnsw":{"metric":"inner-product","quantization":"f32","m":16,"m0":32,"ef_construction":200},"normalization":true}`, J)
	r := ts.expect(200, "", "GET", "/collection/n/vector/1", "")
	if string(r.body) != `{"id":1,"vector":[0.6,0,0.8]}` {
		t.Fatalf("normalized vector: %s", r.body)
	}
	ts.expect(400, "", "POST", "/collection/n/insert?id=2", `{"vector":[0,0,0]}`, J)
	ts.expect(400, "", "POST", "/collection/n/update", `{"insert":[{"id":2,"vector":[0,0,0]}]}`, J)
	// Queries are not normalized: <q, x> with q = (3,0,4) is 5, distance 1-5.
	r = ts.expect(200, "", "POST", "/collection/n/search?limit=1", `{"vector":[3,0,4]}`, J)
	if string(r.body) != "[[1,-4]]" {
		t.Fatalf("ip search: %s", r.body)
	}
	// A zero vector stored before a normalizing index makes the build fail
	// and change nothing.
	ts.expect(200, "", "POST", "/collection/z?dim=2&max_size=10", "")
	ts.expect(200, "", "POST", "/collection/z/insert?id=1", `{"vector":[0,0]}`, J)
	ts.expect(400, "", "POST", "/collection/z/index", `{"hnsw":{"metric":"cosine"},"normalization":true}`, J)
	r = ts.expect(200, "", "GET", "/collection/z", "")
	if !strings.Contains(string(r.body), `"has_index":false`) {
		t.Fatalf("failed build left an index: %s", r.body)
	}
}

// TestCasperSearchRecall checks the search route end to end against brute
// force on random data.
func TestCasperSearchRecall(t *testing.T) {
	ts := startServer(t, Options{})
	seed := uint64(7)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	const n, dim = 300, 8
	ts.expect(200, "", "POST", fmt.Sprintf("/collection/r?dim=%d&max_size=%d", dim, n), "")
	vecs := make([][]float32, n)
	var sb strings.Builder
	sb.WriteString(`{"insert":[`)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = rng.Float32()
		}
		b, _ := json.Marshal(vecs[i])
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"vector":%s}`, i, b)
	}
	sb.WriteString(`]}`)
	ts.expect(200, "", "POST", "/collection/r/update", sb.String())
	ts.expect(200, "", "POST", "/collection/r/index", `{"hnsw":{"metric":"euclidean","m":16,"m0":32,"ef_construction":100}}`)
	q := vecs[17]
	b, _ := json.Marshal(map[string]any{"vector": q})
	r := ts.expect(200, "", "POST", "/collection/r/search?limit=5&ef_search=200", string(b))
	var hits [][2]float64
	if err := json.Unmarshal(r.body, &hits); err != nil || len(hits) != 5 {
		t.Fatalf("hits %s", r.body)
	}
	if hits[0][0] != 17 || hits[0][1] != 0 {
		t.Fatalf("nearest of vector 17 is %v", hits[0])
	}
	for _, h := range hits {
		v := vecs[int(h[0])]
		var s float64
		for j := range v {
			d := float64(v[j] - q[j])
			s += d * d
		}
		if math.Abs(math.Sqrt(s)-h[1]) > 1e-5 {
			t.Fatalf("id %v: distance %v, brute force %v", h[0], h[1], math.Sqrt(s))
		}
	}
}
