package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/big"
	"net/url"
	"reflect"
	"strconv"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

// Fuzz targets for the request decoders. Each target calls the decoder the
// handlers call and checks, beyond "no panic": errors are client errors
// (4xx with a code, never 5xx), accepted input agrees with a reference
// decoder written with encoding/json, strconv and math/big, and what was
// accepted survives a re-encode and a second decode bit for bit. The
// handler-level targets (a real store, state checked before and after) are
// in fuzz_handler_test.go and grpc_fuzz_test.go. `make fuzz` runs them all.

// checkClientError fails unless err is an error the server answers with a
// 4xx status and a code.
func checkClientError(t *testing.T, what string, input []byte, err error) {
	t.Helper()
	k, code, msg, _, known := describe(err)
	if !known || k.status < 400 || k.status >= 500 || code == "" || msg == "" {
		t.Fatalf("%s(%q): error %v maps to %d %q, want a 4xx with a code", what, input, err, k.status, code)
	}
}

// refMembers decodes body with encoding/json as a JSON object and returns
// its members' raw values by key, and the keys given more than once (the
// server refuses a known member given twice and ignores unknown ones;
// encoding/json keeps the last). ok is false when the body is not one
// valid JSON object.
func refMembers(body []byte) (m map[string]json.RawMessage, dups map[string]bool, ok bool) {
	if !json.Valid(body) {
		return nil, nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, false
	}
	m, dups = map[string]json.RawMessage{}, map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, false
		}
		if _, seen := m[k]; seen {
			dups[k] = true
		}
		m[k] = v
	}
	return m, dups, true
}

// anyOf reports whether set holds one of keys.
func anyOf(set map[string]bool, keys ...string) bool {
	for _, k := range keys {
		if set[k] {
			return true
		}
	}
	return false
}

// refVector decodes a raw JSON value as a vector the way the API defines
// one: an array of JSON numbers, each converted as strconv.ParseFloat(s, 64)
// then float32(), each finite as a float32.
func refVector(raw json.RawMessage) ([]float32, bool) {
	var nums []json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var elems []any
	if err := dec.Decode(&elems); err != nil || elems == nil {
		return nil, false
	}
	for _, e := range elems {
		n, ok := e.(json.Number)
		if !ok {
			return nil, false
		}
		nums = append(nums, n)
	}
	out := make([]float32, 0, len(nums))
	for _, n := range nums {
		f, err := strconv.ParseFloat(string(n), 64)
		x := float32(f)
		if err != nil || math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
			return nil, false
		}
		out = append(out, x)
	}
	return out, true
}

func sameFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// FuzzVectorBody fuzzes the vector bodies of both API families: the /v1
// item (POST /v1/vectors and each batch item: parseV1Item), the /v1 search
// body (parseV1Search) and the bare {"vector": [...]} body (Casper insert
// and search, PUT /v1/vectors/{id}: parseSearchBody). Errors are 4xx;
// accepted bodies are valid JSON, agree with the encoding/json reference
// (same floats, bit for bit, same id and metadata bytes), and re-encode
// (appendFloat32s, the server's own float writer) to a body that decodes
// to the same values.
func FuzzVectorBody(f *testing.F) {
	for _, s := range []string{
		`{"id": 1, "vector": [1, 2.5, -3e-2]}`,
		`{"id": "18446744073709551615", "vector": [0], "metadata": {"a": [1, {"b": null}]}}`,
		`{"id": 7, "vector": [1], "metadata": null}`,
		`{"vector": [0.1, 3.4028235e38, -1.4e-45], "k": 3, "ef_search": 100, "filter": {"a": {"$gt": 1}}}`,
		`{"vector": [1, 2], "k": null, "ef_search": null, "filter": null, "other": [1, 2]}`,
		`{"vector": [1e39]}`, `{"vector": [NaN]}`, `{"vector": []}`, `{"vector": [1,]}`,
		`{"vector": [1], "vector": [2]}`, `{"vec\u0074or": [5]}`, `{"vector":[10],"":0,"":{}}`, `{"id": 1.0, "vector": [1]}`,
		`{"id": 1, "vector": [1], "metadata": [1]}`, `{"id": -1, "vector": [1]}`, `[1, 2]`, ``,
		`{"vector": ["1"]}`, `{"vector": [1], "k": 10001}`, `{"vector": [1], "k": 0}`, `{"vector": [1], "k": 1e1}`,
		`{"vector": [123456789012345678901234567890, 0.000000000000000000000000000000000000000000001]}`,
		` {"vector" : [ -0 , 0 ] } `, `{"vector": [1]} x`, `{"vector": [1]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ref, dups, refOK := refMembers(body)

		// /v1 item.
		var it v1Item
		vecs, err := parseV1Item(body, nil, &it, "")
		if err != nil {
			checkClientError(t, "parseV1Item", body, err)
		} else {
			if !refOK || anyOf(dups, "id", "vector", "metadata") {
				t.Fatalf("parseV1Item accepted %q: not one JSON object, or a member given twice", body)
			}
			want, ok := refVector(ref["vector"])
			if !ok || !sameFloats(want, it.vec) || !sameFloats(vecs, it.vec) {
				t.Fatalf("parseV1Item(%q): vector %v, reference %v (ok=%v)", body, it.vec, want, ok)
			}
			if id, ok := refID(ref["id"]); !ok || id != it.id {
				t.Fatalf("parseV1Item(%q): id %d, reference %d (ok=%v)", body, it.id, id, ok)
			}
			meta, has := ref["metadata"]
			has = has && string(meta) != "null"
			if has != it.hasMeta || has && !bytes.Equal(meta, it.meta) {
				t.Fatalf("parseV1Item(%q): metadata %q (%v), reference %q", body, it.meta, it.hasMeta, meta)
			}
			// Round trip through the server's own encoders.
			enc := appendV1ID(nil, it.id)
			enc = append(enc[:len(enc)-1], `,"vector":`...)
			enc = appendFloat32s(enc, it.vec)
			if it.hasMeta {
				enc = append(append(enc, `,"metadata":`...), it.meta...)
			}
			enc = append(enc, '}')
			var it2 v1Item
			if _, err := parseV1Item(enc, nil, &it2, ""); err != nil || it2.id != it.id ||
				!sameFloats(it2.vec, it.vec) || !bytes.Equal(it2.meta, it.meta) {
				t.Fatalf("re-encoded item %q does not decode to the same item: %v", enc, err)
			}
		}

		// /v1 search body.
		var req v1SearchReq
		if err := parseV1Search(body, &req); err != nil {
			checkClientError(t, "parseV1Search", body, err)
		} else {
			if !refOK || anyOf(dups, "vector", "k", "ef_search", "filter") {
				t.Fatalf("parseV1Search accepted %q: not one JSON object, or a member given twice", body)
			}
			want, ok := refVector(ref["vector"])
			if !ok || !sameFloats(want, req.vec) || req.k < 1 || req.k > maxSearchLimit ||
				req.ef != 0 && (req.ef < req.k || req.ef > maxEfSearch) {
				t.Fatalf("parseV1Search(%q) = %+v; reference vector %v (ok=%v)", body, req, want, ok)
			}
			if fl, has := ref["filter"]; has && string(fl) != "null" && !bytes.Equal(fl, req.filter) {
				t.Fatalf("parseV1Search(%q): filter %q, reference %q", body, req.filter, fl)
			}
		}

		// Bare {"vector": [...]}: Casper insert and search, /v1 upsert.
		v, err := parseSearchBody(nil, body)
		if err != nil {
			checkClientError(t, "parseSearchBody", body, err)
			return
		}
		if !json.Valid(body) {
			t.Fatalf("parseSearchBody accepted invalid JSON %q", body)
		}
		if refOK && !dups["vector"] {
			if want, ok := refVector(ref["vector"]); !ok || !sameFloats(want, v) {
				t.Fatalf("parseSearchBody(%q) = %v, reference %v (ok=%v)", body, v, want, ok)
			}
		}
		enc := appendFloat32s([]byte(`{"vector":`), v)
		enc = append(enc, '}')
		if v2, err := parseSearchBody(nil, enc); err != nil || !sameFloats(v, v2) {
			t.Fatalf("re-encoded %q does not decode to the same vector: %v", enc, err)
		}
	})
}

var maxU64 = new(big.Int).SetUint64(math.MaxUint64)

// refDigits is the reference u64 parser: decimal digits only, at most
// 2^64-1 (math/big, not strconv).
func refDigits(s []byte) (uint64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, ok := new(big.Int).SetString(string(s), 10)
	if !ok || n.Cmp(maxU64) > 0 {
		return 0, false
	}
	return n.Uint64(), true
}

// refID is the reference for an id member's raw JSON: a number without
// sign, fraction, exponent or leading zero, or a string of digits.
func refID(raw []byte) (uint64, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		return refDigits(raw[1 : len(raw)-1])
	}
	if len(raw) > 1 && raw[0] == '0' {
		return 0, false
	}
	return refDigits(raw)
}

// FuzzID fuzzes the id decoders: the /v1 id member (parseJSONID, a JSON
// number or a decimal string), the /v1 path id (parseU64) and the Casper
// query parameter id (casperID, u32), each against a math/big reference,
// with round trips through the encoders (strconv.AppendUint, a URL query).
func FuzzID(f *testing.F) {
	for _, s := range []string{
		`0`, `42`, `"42"`, `"007"`, `007`, `18446744073709551615`, `"18446744073709551615"`,
		`18446744073709551616`, `"99999999999999999999"`, `-1`, `-0`, `1.0`, `1e3`, `"1e3"`, `""`, `"`,
		`" 1"`, `"\u0031"`, `null`, `true`, `4294967295`, `4294967296`, `+1`, `0x10`, `1_000`, "1\x00",
	} {
		f.Add([]byte(s))
	}
	var ctx fasthttp.RequestCtx
	f.Fuzz(func(t *testing.T, raw []byte) {
		// parseJSONID sees one validated JSON value (forEachMember's).
		id, err := parseJSONID(raw, "id")
		want, ok := refID(raw)
		var ae *apiError
		switch {
		case !json.Valid(raw) || len(bytes.TrimSpace(raw)) != len(raw):
			// Not a value the scanner hands out: only "no panic" applies.
		case (err == nil) != ok || ok && id != want:
			t.Fatalf("parseJSONID(%q) = %d, %v; reference %d, %v", raw, id, err, want, ok)
		case err != nil:
			checkClientError(t, "parseJSONID", raw, err)
			if !errors.As(err, &ae) || ae.code != "invalid_id" {
				t.Fatalf("parseJSONID(%q): %v is not invalid_id", raw, err)
			}
		default:
			dec := strconv.AppendUint(nil, id, 10)
			quoted := append(append([]byte{'"'}, dec...), '"')
			for _, enc := range [][]byte{dec, quoted} {
				if id2, err := parseJSONID(enc, "id"); err != nil || id2 != id {
					t.Fatalf("%q re-encoded as %q decodes to %d, %v", raw, enc, id2, err)
				}
			}
		}

		p, pok := parseU64(raw)
		want, ok = refDigits(raw)
		if pok != ok || ok && p != want {
			t.Fatalf("parseU64(%q) = %d, %v; reference %d, %v", raw, p, pok, want, ok)
		}

		// Casper ?id= : the value as a client's URL library escapes it,
		// and as sent raw on the request line.
		ctx.Request.Reset()
		ctx.Request.SetRequestURI("/collection/c/insert?id=" + url.QueryEscape(string(raw)))
		if got := ctx.QueryArgs().Peek("id"); !bytes.Equal(got, raw) {
			t.Fatalf("query id=%q reads back as %q", raw, got)
		}
		cid, err := casperID(&ctx)
		want, ok = refDigits(raw)
		ok = ok && want <= math.MaxUint32
		if len(raw) == 0 {
			ok = false // absent or empty: required
		}
		if (err == nil) != ok || ok && cid != want {
			t.Fatalf("casperID(%q) = %d, %v; reference %d, %v", raw, cid, err, want, ok)
		}
		if err != nil {
			checkClientError(t, "casperID", raw, err)
		}
		ctx.Request.Reset()
		ctx.Request.SetRequestURI("/collection/c/insert?id=" + string(raw))
		if cid, err := casperID(&ctx); err != nil {
			checkClientError(t, "casperID", raw, err)
		} else if got := ctx.QueryArgs().Peek("id"); cid != mustDigits(t, got) {
			t.Fatalf("casperID(raw %q) = %d, the argument reads %q", raw, cid, got)
		}
	})
}

func mustDigits(t *testing.T, s []byte) uint64 {
	t.Helper()
	v, ok := refDigits(s)
	if !ok {
		t.Fatalf("accepted id %q is not decimal digits", s)
	}
	return v
}

// FuzzIndexBody fuzzes the Casper index request body (parseIndexBody),
// both forms: {"hnsw": {...}, "normalization"?} and {"index": "hnsw",
// "config": {...}}. Errors are 4xx; an accepted body is valid JSON, its
// parameters are in the documented ranges, and the config re-encoded in
// either form parses back to the same config.
func FuzzIndexBody(f *testing.F) {
	for _, s := range []string{
		`{"hnsw": {"metric": "euclidean", "m": 16, "m0": 32, "ef_construction": 200}}`,
		`{"hnsw": {"metric": "cosine", "quantization": "i8"}, "normalization": true}`,
		`{"hnsw": {"metric": "ip", "quantization": "pq8", "pq_name": "p", "normalization": false}}`,
		`{"index": "hnsw", "config": {"metric": "euclidean", "m": 8, "normalization": true}}`,
		`{"index": "ivf", "config": {}}`, `{"index": "hnsw"}`, `{"config": {}}`,
		`{"hnsw": {}, "index": "hnsw"}`, `{"hnsw": {"m": 1}}`, `{"hnsw": {"m": 129}}`,
		`{"hnsw": {"m": 16, "m0": 8}}`, `{"hnsw": {"m": 16, "ef_construction": 4}}`, `{"hnsw": {"m": -2}}`,
		`{"hnsw": {"m": 1.5}}`, `{"hnsw": {"m": "16"}}`, `{}`, ``, `null`, `[]`, `{"hnsw": null}`,
		`{"HNSW": {"M": 4}}`, `{"hnsw": {"m": 99999999999999999999}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cfg, err := parseIndexBody(body)
		if err != nil {
			checkClientError(t, "parseIndexBody", body, err)
			return
		}
		if !json.Valid(body) {
			t.Fatalf("parseIndexBody accepted invalid JSON %q", body)
		}
		if cfg.M != 0 && (cfg.M < 2 || cfg.M > 128) || cfg.M0 != 0 && (cfg.M0 < max(cfg.M, 2) || cfg.M0 > 512) ||
			cfg.EfConstruction != 0 && cfg.EfConstruction < max(cfg.M, 2) || cfg.M0 < 0 || cfg.EfConstruction < 0 {
			t.Fatalf("parseIndexBody(%q) accepted out-of-range parameters %+v", body, cfg)
		}
		params := casperIndexParams{Metric: cfg.Metric, Quantization: cfg.Quantization, M: cfg.M, M0: cfg.M0,
			EfConstruction: cfg.EfConstruction, PQName: cfg.PQName}
		norm := cfg.Normalization
		hnswForm, _ := json.Marshal(casperIndexBody{HNSW: &params, Normalization: &norm})
		idx := "hnsw"
		params.Normalization = &norm
		configForm, _ := json.Marshal(casperIndexBody{Index: &idx, Config: &params})
		for _, enc := range [][]byte{hnswForm, configForm} {
			if cfg2, err := parseIndexBody(enc); err != nil || !reflect.DeepEqual(cfg2, cfg) {
				t.Fatalf("%q: config %+v re-encoded as %s parses to %+v, %v", body, cfg, enc, cfg2, err)
			}
		}
	})
}

// memStore opens a store on an in-memory file system (no fsync cost per
// write, so a fuzz target can write on every exec). It is closed when the
// test ends.
func memStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Dir: "/fuzz", FS: vfs.NewMem(), Logger: quietStoreLogger{t},
		CacheSize: 4 << 20, MemTableSize: 4 << 20, CheckpointInterval: -1})
	if err != nil {
		t.Fatalf("cannot open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("cannot close store: %v", err)
		}
	})
	return db
}

// memServer is a Server over memStore, driven in memory through Handler.
func memServer(t testing.TB, opts Options) (*Server, *store.DB) {
	t.Helper()
	db := memStore(t)
	opts.LogOutput = io.Discard
	opts.LogLevel = "error"
	s, err := New(db, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, db
}

// TestLenientJSONRefused: bodies that fastjson accepts but RFC 8259 does
// not (found by FuzzVectorBody: {"vector":[00]} was accepted as [0]) are
// refused on every route that parses with fastjson, with invalid_json;
// NaN, and numbers fastjson reads but cannot convert (+1, 1e), keep their
// invalid_vector.
func TestLenientJSONRefused(t *testing.T) {
	for _, body := range []string{
		`{"vector":[00]}`, `{"vector":[.5]}`, `{"vector":[1.]}`, `{"vector":[-01]}`,
		"{\"vector\":[1],\"x\":\"\x01\"}", `{"vector":[1],"x":"\u00zz"}`,
	} {
		_, err := parseSearchBody(nil, []byte(body))
		var ae *apiError
		if !errors.As(err, &ae) || ae.code != "invalid_json" {
			t.Errorf("parseSearchBody(%q) = %v, want invalid_json", body, err)
		}
	}
	for _, body := range []string{`{"vector":[1,NaN]}`, `{"x":1,"vector":[nan]}`, `{"vector":[+1]}`, `{"vector":[1e]}`, `{"vector":[1.5e+]}`} {
		_, err := parseSearchBody(nil, []byte(body))
		var ae *apiError
		if !errors.As(err, &ae) || ae.code != "invalid_vector" {
			t.Errorf("parseSearchBody(%q) = %v, want invalid_vector", body, err)
		}
	}
	s, db := memServer(t, Options{})
	c, err := db.CreateCollection(store.CollectionConfig{Name: "c", Dim: 1, MaxSize: 10, Family: store.FamilyCasper})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(1, []float32{1}); err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	for _, body := range []string{`{"delete":[01]}`, `{"insert":[{"id":2,"vector":[.5]}]}`, "{\"delete\":[1],\"x\":\"\t\"}"} {
		if st, resp := memRequest(s.Handler(), &ctx, "POST", "/collection/c/update", []byte(body)); st != 400 || !bytes.Contains(resp, []byte("invalid_json")) {
			t.Errorf("update %q: %d %s, want 400 invalid_json", body, st, resp)
		}
	}
	if ids, _ := c.IDs(nil); len(ids) != 1 || ids[0] != 1 {
		t.Errorf("refused updates changed the collection: ids %v", ids)
	}
}
