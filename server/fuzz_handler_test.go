package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

// Handler-level fuzz targets: the request goes through Server.Handler (the
// whole middleware and router chain) in memory, against a real store on an
// in-memory file system opened once per fuzzing process. Each exec starts
// from the same base state and puts it back afterwards, so an input's
// outcome depends on the input alone. Checked: never a 5xx; error bodies
// are {"error","code"} JSON; a 4xx leaves the store unchanged; a 2xx
// leaves exactly the state a reference decoder (encoding/json) predicts;
// and the reference's verdict (accept or refuse) is the server's.

// memRequest sends one request through h and returns the status and body.
func memRequest(h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, method, uri string, body []byte) (int, []byte) {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	if body != nil {
		ctx.Request.SetBody(body)
	}
	h(ctx)
	return ctx.Response.StatusCode(), ctx.Response.Body()
}

// checkStatus fails on a 5xx and on an error response that is not the
// JSON error shape.
func checkStatus(t *testing.T, ctx *fasthttp.RequestCtx, input any) int {
	t.Helper()
	status := ctx.Response.StatusCode()
	body := ctx.Response.Body()
	if status >= 500 {
		t.Fatalf("input %q: status %d %s", input, status, body)
	}
	if status >= 400 {
		var e struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Error == "" || e.Code == "" {
			t.Fatalf("input %q: error body %q is not {\"error\",\"code\"}: %v", input, body, err)
		}
		if ct := string(ctx.Response.Header.ContentType()); ct != "application/json" {
			t.Fatalf("input %q: error Content-Type %q", input, ct)
		}
	}
	return status
}

// vecState is a collection's content: vectors and (for /v1) payloads.
type vecState struct {
	vecs     map[uint64][]float32
	payloads map[uint64]string
}

func snapshot(t *testing.T, c *store.Collection, payloads bool) vecState {
	t.Helper()
	ids, err := c.IDs(nil)
	if err != nil {
		t.Fatalf("IDs: %v", err)
	}
	st := vecState{vecs: map[uint64][]float32{}, payloads: map[uint64]string{}}
	for _, id := range ids {
		v, err := c.Vector(id, nil)
		if err != nil {
			t.Fatalf("Vector(%d): %v", id, err)
		}
		st.vecs[id] = v
		if payloads {
			p, err := c.Payload(id, nil)
			if err != nil {
				t.Fatalf("Payload(%d): %v", id, err)
			}
			st.payloads[id] = string(p)
		}
	}
	return st
}

func (s vecState) clone() vecState {
	out := vecState{vecs: map[uint64][]float32{}, payloads: map[uint64]string{}}
	for id, v := range s.vecs {
		out.vecs[id] = v
	}
	for id, p := range s.payloads {
		out.payloads[id] = p
	}
	return out
}

// diff describes how got differs from want, or returns "".
func (s vecState) diff(want vecState) string {
	for id, v := range want.vecs {
		if g, ok := s.vecs[id]; !ok || !sameFloats(g, v) {
			return "id " + strconv.FormatUint(id, 10) + ": vector " + floatsString(g) + ", want " + floatsString(v)
		}
		if s.payloads[id] != want.payloads[id] {
			return "id " + strconv.FormatUint(id, 10) + ": payload " + s.payloads[id] + ", want " + want.payloads[id]
		}
	}
	for id := range s.vecs {
		if _, ok := want.vecs[id]; !ok {
			return "id " + strconv.FormatUint(id, 10) + " should not exist"
		}
	}
	return ""
}

func floatsString(v []float32) string {
	if v == nil {
		return "<absent>"
	}
	return string(appendFloat32s(nil, v))
}

// restore writes base back over c (one atomic Update).
func restore(t *testing.T, c *store.Collection, base vecState, payloads bool) {
	t.Helper()
	cur := snapshot(t, c, payloads)
	var ins []store.Entry
	var del []uint64
	for id := range cur.vecs {
		if _, ok := base.vecs[id]; !ok {
			del = append(del, id)
		}
	}
	for id, v := range base.vecs {
		if g, ok := cur.vecs[id]; ok && sameFloats(g, v) && cur.payloads[id] == base.payloads[id] {
			continue
		}
		e := store.Entry{ID: id, Vector: v}
		if payloads {
			e.SetPayload = true
			if p := base.payloads[id]; p != "{}" {
				e.Payload = []byte(p)
			}
		}
		ins = append(ins, e)
	}
	if len(ins)+len(del) == 0 {
		return
	}
	if err := c.Update(ins, del); err != nil {
		t.Fatalf("cannot restore the base state: %v", err)
	}
}

// refU32 is the reference for a Casper id in a JSON body: a JSON number
// whose value is an integer in [0, 2^32) (1.0 and 1e2 count as integers).
func refU32(raw json.RawMessage) (uint64, bool) {
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&n) != nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f < 0 || f > math.MaxUint32 || f != math.Trunc(f) {
		return 0, false
	}
	return uint64(f), true
}

// refArray splits a raw JSON value that is an array into its elements.
func refArray(raw json.RawMessage) ([]json.RawMessage, bool) {
	var elems []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil, false
	}
	return elems, true
}

// hasDupKeys reports whether any object in the valid JSON text b has a key
// twice (the parsers disagree on which one counts).
func hasDupKeys(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func() bool
	walk = func() bool {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		switch t {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, _ := dec.Token()
				ks, _ := k.(string)
				if seen[ks] || walk() {
					return true
				}
				seen[ks] = true
			}
			_, _ = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if walk() {
					return true
				}
			}
			_, _ = dec.Token()
		}
		return false
	}
	return walk()
}

const fuzzCasperMax = 12

// refCasperUpdate predicts POST /collection/{name}/update on base (a dim-3
// Casper collection with max_size fuzzCasperMax): the state after it, or
// ok false when the request must be refused. skip is true when the body
// has duplicate keys (parsers legitimately differ on which one counts).
func refCasperUpdate(body []byte, base vecState) (want vecState, ok, skip bool) {
	if !json.Valid(body) {
		return base, false, false
	}
	if hasDupKeys(body) {
		return base, false, true
	}
	m, _, isObj := refMembers(body)
	if !isObj {
		return base, false, false
	}
	want = base.clone()
	seen := map[uint64]bool{}
	var ins, del []uint64
	if raw, has := m["insert"]; has && string(raw) != "null" {
		elems, ok := refArray(raw)
		if !ok {
			return base, false, false
		}
		for _, e := range elems {
			im, _, ok := refMembers(e)
			if !ok {
				return base, false, false
			}
			id, ok := refU32(im["id"])
			if !ok {
				return base, false, false
			}
			v, ok := refVector(im["vector"])
			if !ok || len(v) != 3 || seen[id] {
				return base, false, false
			}
			seen[id] = true
			ins = append(ins, id)
			want.vecs[id] = v
		}
	}
	if raw, has := m["delete"]; has && string(raw) != "null" {
		elems, ok := refArray(raw)
		if !ok {
			return base, false, false
		}
		dseen := map[uint64]bool{}
		for _, e := range elems {
			id, ok := refU32(e)
			if !ok || seen[id] || dseen[id] {
				return base, false, false
			}
			dseen[id] = true
			del = append(del, id)
			delete(want.vecs, id)
		}
	}
	if len(ins)+len(del) == 0 || len(want.vecs) > fuzzCasperMax {
		return base, false, false
	}
	return want, true, false
}

// FuzzCasperUpdate fuzzes POST /collection/{name}/update ({"insert":
// [{"id", "vector"}], "delete": [ids]}) on a Casper collection of
// dimension 3 and max_size 12 holding ids 0..5.
func FuzzCasperUpdate(f *testing.F) {
	for _, s := range []string{
		`{"insert": [{"id": 9, "vector": [1, 2, 3]}], "delete": [0, 1]}`,
		`{"insert": [{"id": 0, "vector": [0.5, -1e-3, 7E+2]}, {"id": 4294967295, "vector": [1, 1, 1]}]}`,
		`{"delete": [5, 4, 4294967295.0, 1e2]}`, `{"insert": null, "delete": [2]}`,
		`{"insert": [{"id": 1, "vector": [1, 2]}]}`, `{"insert": [{"id": 1, "vector": [1, 2, 3e39]}]}`,
		`{"insert": [{"id": 1, "vector": [1, 2, 3]}], "delete": [1]}`, `{"delete": [1, 1]}`,
		`{"insert": [{"id": -1, "vector": [1, 2, 3]}]}`, `{"insert": [{"id": 4294967296, "vector": [1, 2, 3]}]}`,
		`{"insert": [{"id": 1.5, "vector": [1, 2, 3]}]}`, `{"insert": {}}`, `{"delete": "1"}`, `{}`, `[]`, ``,
		`{"insert": [{"id": 6, "vector": [1,2,3]}, {"id": 7, "vector": [1,2,3]}, {"id": 8, "vector": [1,2,3]},
		 {"id": 9, "vector": [1,2,3]}, {"id": 10, "vector": [1,2,3]}, {"id": 11, "vector": [1,2,3]}, {"id": 12, "vector": [1,2,3]}]}`,
		`{"insert": [{"id": 1, "vector": [1, 2, 3]}], "insert": [{"id": 2, "vector": [1, 2, 3]}]}`,
		`{"insert": [{"id": 1, "vector": [1, 2, 3], "id": 2}]}`, `{"insert": [{"id": 1, "vector": [1, 2, 3]}]`,
	} {
		f.Add([]byte(s))
	}
	s, db := memServer(f, Options{})
	c, err := db.CreateCollection(store.CollectionConfig{Name: "fz", Dim: 3, MaxSize: fuzzCasperMax, Family: store.FamilyCasper})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 6 {
		if err := c.Put(uint64(i), []float32{float32(i), float32(i) + 0.5, -float32(i)}); err != nil {
			f.Fatal(err)
		}
	}
	h := s.Handler()
	var ctx fasthttp.RequestCtx
	f.Fuzz(func(t *testing.T, body []byte) {
		base := snapshot(t, c, false)
		memRequest(h, &ctx, "POST", "/collection/fz/update", body)
		status := checkStatus(t, &ctx, body)
		got := snapshot(t, c, false)
		want, ok, skip := refCasperUpdate(body, base)
		switch {
		case status != 200 && status != 400:
			t.Fatalf("%q: status %d %s", body, status, ctx.Response.Body())
		case status == 400:
			if d := got.diff(base); d != "" {
				t.Fatalf("%q: refused (%s) but the store changed: %s", body, ctx.Response.Body(), d)
			}
			if ok && !skip {
				t.Fatalf("%q: refused (%s); the reference accepts it", body, ctx.Response.Body())
			}
		default:
			if !bytes.Equal(ctx.Response.Body(), okBody) {
				t.Fatalf("%q: 200 with body %s", body, ctx.Response.Body())
			}
			if skip {
				break
			}
			if !ok {
				t.Fatalf("%q: accepted; the reference refuses it", body)
			}
			if d := got.diff(want); d != "" {
				t.Fatalf("%q: after the update %s", body, d)
			}
		}
		restore(t, c, base, false)
	})
}

// refV1Item predicts one /v1 item: its id, vector and metadata (nil when
// absent or null).
func refV1Item(raw json.RawMessage) (id uint64, vec []float32, meta json.RawMessage, tooLarge, ok bool) {
	m, _, isObj := refMembers(raw)
	if !isObj {
		return 0, nil, nil, false, false
	}
	if id, ok = refID(m["id"]); !ok {
		return 0, nil, nil, false, false
	}
	if vec, ok = refVector(m["vector"]); !ok || len(vec) == 0 {
		return 0, nil, nil, false, false
	}
	if meta = m["metadata"]; string(meta) == "null" {
		meta = nil
	}
	if meta != nil && meta[0] != '{' {
		return 0, nil, nil, false, false
	}
	return id, vec, meta, len(meta) > store.MaxPayloadBytes, true
}

// refV1Write predicts a /v1 write on base (dimension 3): the state after
// it, or ok false when it must be refused. skip: duplicate keys.
func refV1Write(route int, pathID string, body []byte, base vecState) (want vecState, ok, skip bool) {
	if !json.Valid(body) {
		return base, false, false
	}
	if hasDupKeys(body) {
		return base, false, true
	}
	want = base.clone()
	put := func(id uint64, vec []float32, meta json.RawMessage, setMeta bool) bool {
		if len(vec) != 3 {
			return false
		}
		want.vecs[id] = vec
		if setMeta {
			want.payloads[id] = string(meta)
		} else if _, had := want.payloads[id]; !had {
			want.payloads[id] = "{}"
		}
		return true
	}
	switch route {
	case 0: // batch
		m, _, isObj := refMembers(body)
		if !isObj {
			return base, false, false
		}
		elems, ok := refArray(m["items"])
		if !ok || len(elems) == 0 {
			return base, false, false
		}
		seen := map[uint64]bool{}
		for _, e := range elems {
			id, vec, meta, big, ok := refV1Item(e)
			if !ok || big || seen[id] || !put(id, vec, meta, meta != nil) {
				return base, false, false
			}
			seen[id] = true
		}
	case 1: // single insert
		id, vec, meta, big, ok := refV1Item(body)
		if !ok || big || !put(id, vec, meta, meta != nil) {
			return base, false, false
		}
	case 2: // upsert
		id, ok := refDigits([]byte(pathID))
		if !ok {
			return base, false, false
		}
		m, _, isObj := refMembers(body)
		if !isObj {
			return base, false, false
		}
		vec, ok := refVector(m["vector"])
		if !ok || !put(id, vec, nil, false) {
			return base, false, false
		}
	case 3, 4: // PUT, PATCH payload
		id, ok := refDigits([]byte(pathID))
		if _, exists := base.vecs[id]; !ok || !exists {
			return base, false, false
		}
		p := bytes.Trim(body, " \t\r\n")
		if len(p) == 0 || p[0] != '{' || len(p) > store.MaxPayloadBytes {
			return base, false, false
		}
		if route == 3 {
			want.payloads[id] = string(p)
			break
		}
		old, _ := decodeNumbers([]byte(base.payloads[id]))
		patch, _ := decodeNumbers(p)
		res, _ := json.Marshal(refMergePatch(old, patch))
		want.payloads[id] = string(res)
	}
	return want, true, false
}

// decodeNumbers decodes one JSON value with numbers as json.Number.
func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// canonJSON re-encodes a JSON text with sorted keys and numbers as sent,
// so that equal documents compare equal as strings.
func canonJSON(s string) string {
	v, err := decodeNumbers([]byte(s))
	if err != nil {
		return "invalid JSON: " + s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// refMergePatch is RFC 7396's MergePatch, as the RFC writes it.
func refMergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
		} else {
			tm[k] = refMergePatch(tm[k], v)
		}
	}
	return tm
}

// FuzzV1Write fuzzes the /v1 write bodies through the handlers: route 0
// POST /v1/vectors/batch, 1 POST /v1/vectors, 2 PUT /v1/vectors/{id}, 3
// PUT and 4 PATCH /v1/vectors/{id}/payload (id from the fuzzer,
// path-escaped), on a collection of dimension 3 holding ids 1 and 2 (with
// payloads) and 3 (without). A patch's result is checked against RFC
// 7396's MergePatch over encoding/json values.
func FuzzV1Write(f *testing.F) {
	add := func(route uint8, id, body string) { f.Add(route, id, []byte(body)) }
	add(0, "", `{"items": [{"id": 10, "vector": [1, 2, 3], "metadata": {"a": 1}}, {"id": "11", "vector": [0, 0, 1]}]}`)
	add(0, "", `{"items": [{"id": 1, "vector": [1, 2, 3], "metadata": null}, {"id": 2, "vector": [3, 2, 1], "metadata": {}}]}`)
	add(0, "", `{"items": [{"id": 1, "vector": [1, 2, 3]}, {"id": "1", "vector": [1, 2, 3]}]}`)
	add(0, "", `{"items": [{"id": 1, "vector": [1, 2]}]}`)
	add(0, "", `{"items": [{"id": 1, "vector": [1, 2, 3], "metadata": [1]}]}`)
	add(0, "", `{"items": []}`)
	add(0, "", `{"items": [{"id": 18446744073709551615, "vector": [1e-45, -3.4028235e38, 0]}]}`)
	add(0, "", `{"items": [{"id": 5, "vector": [1, 2, 1e39]}]}`)
	add(0, "", `{"items": {"id": 5}}`)
	add(1, "", `{"id": 7, "vector": [1, 2, 3], "metadata": {"tags": ["x", "y"], "n": {"m": null}}}`)
	add(1, "", `{"id": 1, "vector": [4, 5, 6]}`)
	add(1, "", `{"id": 1.0, "vector": [4, 5, 6]}`)
	add(1, "", `{"id": 1, "vector": [4, 5, 6], "id": 2}`)
	add(1, "", `{"id": 1, "vector": [4, 5, 6, 7]}`)
	add(2, "3", `{"vector": [9, 8, 7]}`)
	add(2, "0018446744073709551615", `{"vector": [9, 8, 7]}`)
	add(2, "-1", `{"vector": [9, 8, 7]}`)
	add(2, "1/payload", `{"vector": [9, 8, 7]}`)
	add(2, "", `{"vector": [9, 8, 7]}`)
	add(2, "4", `{"vector": []}`)
	add(2, "4", `{"vector": [1, 2, 3], "other": {"vector": 1}}`)
	add(3, "1", ` {"x": [1, {"y": null}], "a": 1.50} `)
	add(3, "3", `{}`)
	add(3, "9", `{"x": 1}`)
	add(3, "1", `[1]`)
	add(3, "1", `{"x": 1} {}`)
	add(4, "1", `{"a": null, "c": {"d": 1e2, "e": null}}`)
	add(4, "2", `{"b": {"z": 1}}`)
	add(4, "3", `{"new": "\u00e9"}`)
	add(4, "9", `{"a": 1}`)
	add(4, "1", `null`)
	add(4, "1", `{"a": 1,}`)
	add(3, "2", "\v{\"v\": 1}\f")
	add(4, "2", "\u00a0{\"v\": 1}")
	s, db := memServer(f, Options{Dim: 3, M: 8, M0: 16, EfConstruction: 32})
	h := s.Handler()
	var ctx fasthttp.RequestCtx
	for _, b := range []string{`{"id": 1, "vector": [1, 0, 0], "metadata": {"a": 1}}`,
		`{"id": 2, "vector": [0, 1, 0], "metadata": {"b": [1, "x"]}}`, `{"id": 3, "vector": [0, 0, 1]}`} {
		if st, body := memRequest(h, &ctx, "POST", "/v1/vectors", []byte(b)); st != 201 {
			f.Fatalf("seeding the collection: %d %s", st, body)
		}
	}
	c, err := db.Collection(s.opts.Collection)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, route uint8, pathID string, body []byte) {
		r := int(route % 5)
		if r >= 2 && (pathID == "" || strings.ContainsAny(pathID, "/\\")) {
			// A slash (escaped or not) may reach another route, such as
			// .../payload: the reference does not model routing.
			return
		}
		base := snapshot(t, c, true)
		var status int
		switch r {
		case 0:
			status, _ = memRequest(h, &ctx, "POST", "/v1/vectors/batch", body)
		case 1:
			status, _ = memRequest(h, &ctx, "POST", "/v1/vectors", body)
		case 2:
			status, _ = memRequest(h, &ctx, "PUT", "/v1/vectors/"+url.PathEscape(pathID), body)
		case 3:
			status, _ = memRequest(h, &ctx, "PUT", "/v1/vectors/"+url.PathEscape(pathID)+"/payload", body)
		case 4:
			status, _ = memRequest(h, &ctx, "PATCH", "/v1/vectors/"+url.PathEscape(pathID)+"/payload", body)
		}
		checkStatus(t, &ctx, body)
		got := snapshot(t, c, true)
		want, ok, skip := refV1Write(r, pathID, body, base)
		if status >= 300 {
			if d := got.diff(base); d != "" {
				t.Fatalf("route %d %q %q: refused (%d %s) but the store changed: %s", r, pathID, body, status, ctx.Response.Body(), d)
			}
			if ok && !skip {
				t.Fatalf("route %d %q %q: refused (%d %s); the reference accepts it", r, pathID, body, status, ctx.Response.Body())
			}
		} else {
			if !skip && !ok {
				t.Fatalf("route %d %q %q: accepted (%d %s); the reference refuses it", r, pathID, body, status, ctx.Response.Body())
			}
			if id, ok := refDigits([]byte(pathID)); ok && r == 4 && !skip {
				// A patched payload is re-encoded: compare documents.
				got.payloads[id], want.payloads[id] = canonJSON(got.payloads[id]), canonJSON(want.payloads[id])
			}
			if d := got.diff(want); !skip && d != "" {
				t.Fatalf("route %d %q %q: after the write %s", r, pathID, body, d)
			}
		}
		restore(t, c, base, true)
	})
}

// refBulk predicts POST /v1/build/bulk: the HTTP status class (200, 400,
// 409 or 413) and, for 200, the vectors and payloads loaded. exists is
// the dimension of an existing empty collection (0: none).
func refBulk(nh, dh, th string, hasN, hasD, hasT bool, chunked bool, body []byte, exists, maxBulk int) (status int, vecs [][]float32, payloads []json.RawMessage) {
	hdr := func(v string, lo, hi uint64) (int, bool) {
		u, ok := refDigits(bytes.TrimSpace([]byte(v)))
		return int(u), ok && u >= lo && u <= hi
	}
	if !chunked && len(body) > maxBulk {
		return 413, nil, nil
	}
	n, okN := hdr(nh, 1, 1<<40)
	if hasN && !okN {
		return 400, nil, nil
	}
	dim, okD := hdr(dh, 1, store.MaxDim)
	if hasD && !okD || !hasN || !hasD {
		return 400, nil, nil
	}
	if _, okT := hdr(th, 0, maxBulkThreads); hasT && !okT {
		return 400, nil, nil
	}
	if n > maxBulk/(4*dim) {
		return 413, nil, nil
	}
	want := n * dim * 4
	if !chunked && len(body) < want {
		return 400, nil, nil
	}
	if exists != 0 && exists != dim {
		return 400, nil, nil
	}
	if len(body) > maxBulk {
		// Chunked and past the limit: the stream fails with 413 when the
		// store reads past the limit, or with 400 when what it read
		// before was wrong. Either is right.
		return statusTooLargeOrBad, nil, nil
	}
	if len(body) < want {
		return 400, nil, nil
	}
	for i := range n {
		v := make([]float32, dim)
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(body[(i*dim+j)*4:]))
			if math.IsNaN(float64(v[j])) || math.IsInf(float64(v[j]), 0) {
				return 400, nil, nil
			}
		}
		vecs = append(vecs, v)
	}
	tail := bytes.TrimLeft(body[want:], " \t\r\n")
	if len(tail) == 0 {
		return 200, vecs, nil
	}
	var arr []json.RawMessage
	if tail[0] != '[' || json.Unmarshal(tail, &arr) != nil || len(arr) != n {
		return 400, nil, nil
	}
	for _, p := range arr {
		switch {
		case string(p) == "null":
		case p[0] != '{':
			return 400, nil, nil
		case len(p) > store.MaxPayloadBytes:
			return 413, nil, nil
		}
	}
	return 200, vecs, arr
}

const fuzzMaxBulk = 64 << 10

// statusTooLargeOrBad is refBulk's answer when 400 and 413 are both right.
const statusTooLargeOrBad = -1

// FuzzBulkBuild fuzzes POST /v1/build/bulk: the three headers (each set
// when its string is not "-"), a Content-Length or a chunked body, an
// absent /v1 collection or an empty one of dimension 2, and the body
// (little-endian float32 vectors, then an optional JSON array of payloads),
// streamed as the server streams it.
func FuzzBulkBuild(f *testing.F) {
	le := func(tail string, v ...float32) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		return append(b, tail...)
	}
	add := func(n, dim, threads string, flags uint8, body []byte) { f.Add(n, dim, threads, flags, body) }
	add("2", "2", "-", 0, le("", 1, 2, 3, 4))
	add("2", "2", "1", 1, le(` [{"a": 1}, null]`, 1, 2, 3, 4))
	add(" 3 ", "1", "0", 2, le("\n[{}, {\"t\": [1, \"x\"]}, {\"n\": {\"m\": null}}]\n", 1, 2, 3))
	add("1", "3", "-", 0, le("", 1, 2, 3))
	add("2", "2", "-", 0, le("", 1, 2, 3))
	add("2", "2", "-", 0, le(`[{}]`, 1, 2, 3, 4))
	add("2", "2", "-", 0, le(`[{}, [1]]`, 1, 2, 3, 4))
	add("2", "2", "-", 0, le(`[{}, {}] x`, 1, 2, 3, 4))
	add("2", "2", "-", 0, le(`[{}, {}`, 1, 2, 3, 4))
	add("1", "2", "-", 0, le("", float32(math.Inf(1)), 0))
	add("1", "2", "-", 0, le("", float32(math.NaN()), 0))
	add("0", "2", "-", 0, nil)
	add("1", "0", "-", 0, nil)
	add("-", "2", "-", 0, le("", 1, 2))
	add("1", "-", "-", 0, le("", 1, 2))
	add("1", "2", "1025", 0, le("", 1, 2))
	add("1", "2", "1024", 0, le("", 1, 2)) // allocated 8 GiB before the fix (TestBulkBuildThreadsMemory)
	add("1099511627776", "65536", "-", 0, nil)
	add("16385", "1", "-", 2, nil)
	add("+1", "2", "-", 0, le("", 1, 2))
	add("1", "2", "-", 3, le("    ", 1, 2))
	bf := newBulkFixture(f)
	f.Fuzz(bf.exec)
}

// bulkFixture is FuzzBulkBuild's server and store.
type bulkFixture struct {
	s   *Server
	db  *store.DB
	h   fasthttp.RequestHandler
	ctx fasthttp.RequestCtx
}

func newBulkFixture(tb testing.TB) *bulkFixture {
	s, db := memServer(tb, Options{MaxBulkBytes: fuzzMaxBulk, M: 8, M0: 16, EfConstruction: 16})
	return &bulkFixture{s: s, db: db, h: s.Handler()}
}

// exec runs one FuzzBulkBuild input.
func (bf *bulkFixture) exec(t *testing.T, nh, dh, th string, flags uint8, body []byte) {
	s, db, h, ctx := bf.s, bf.db, bf.h, &bf.ctx
	name := s.opts.Collection
	if err := db.DropCollection(name); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	exists := 0
	if flags&1 != 0 {
		exists = 2
		if _, err := db.EnsureCollection(s.v1Config(2)); err != nil {
			t.Fatal(err)
		}
	}
	chunked := flags&2 != 0
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI(v1BulkPath)
	for _, hv := range []struct{ k, v string }{{"X-LSMVec-N", nh}, {"X-LSMVec-Dim", dh}, {"X-LSMVec-Threads", th}} {
		if hv.v != "-" {
			ctx.Request.Header.Set(hv.k, hv.v)
		}
	}
	cl := len(body)
	if chunked {
		cl = -1
	}
	ctx.Request.SetBodyStream(bytes.NewReader(body), cl)
	h(ctx)
	status := checkStatus(t, ctx, body)
	in := []any{nh, dh, th, flags, body}
	// What the request carried, as fasthttp holds it (Set drops bytes
	// a header value cannot hold).
	peek := func(k string) (string, bool) {
		v := ctx.Request.Header.Peek(k)
		return string(v), v != nil
	}
	n2, hasN := peek("X-LSMVec-N")
	d2, hasD := peek("X-LSMVec-Dim")
	t2, hasT := peek("X-LSMVec-Threads")
	wantStatus, vecs, pays := refBulk(n2, d2, t2, hasN, hasD, hasT, chunked, body, exists, fuzzMaxBulk)
	if status != wantStatus && !(wantStatus == statusTooLargeOrBad && (status == 400 || status == 413)) {
		t.Fatalf("%q: status %d (%s), reference %d", in, status, ctx.Response.Body(), wantStatus)
	}
	c, err := db.Collection(name)
	if errors.Is(err, store.ErrNotFound) {
		if status == 200 {
			t.Fatalf("%q: 200 but no collection", in)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, c, true)
	if status != 200 {
		if len(got.vecs) != 0 {
			t.Fatalf("%q: refused (%d %s) but the collection holds %d vectors", in, status, ctx.Response.Body(), len(got.vecs))
		}
		return
	}
	var res struct{ N, Payloads int }
	if err := json.Unmarshal(ctx.Response.Body(), &res); err != nil || res.N != len(vecs) {
		t.Fatalf("%q: response %s, want n %d", in, ctx.Response.Body(), len(vecs))
	}
	npay := 0
	for _, p := range pays {
		if string(p) != "null" {
			npay++
		}
	}
	if res.Payloads != npay || len(got.vecs) != len(vecs) {
		t.Fatalf("%q: response %s, %d vectors stored; want %d vectors, %d payloads", in, ctx.Response.Body(), len(got.vecs), len(vecs), npay)
	}
	for i, v := range vecs {
		id := uint64(i)
		if !sameFloats(got.vecs[id], v) {
			t.Fatalf("%q: vector %d is %v, want %v", in, i, got.vecs[id], v)
		}
		wantP := "{}"
		if pays != nil && string(pays[i]) != "null" {
			wantP = string(pays[i])
		}
		if got.payloads[id] != wantP {
			t.Fatalf("%q: payload %d is %s, want %s", in, i, got.payloads[id], wantP)
		}
	}
	ids, _ := c.IDs(nil)
	slices.Sort(ids)
	if !reflect.DeepEqual(ids, seqIDs(len(vecs))) {
		t.Fatalf("%q: ids %v", in, ids)
	}
}

func seqIDs(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i)
	}
	return out
}

// TestBulkBuildThreadsMemory: a bulk build's buffers follow the body, not
// X-LSMVec-Threads. FuzzBulkBuild found a one-vector build with threads
// 1024 allocating 8 GiB ((threads+3) chunk buffers of 8 MiB each), which
// stalled the process; the store now bounds them (store/bulk.go).
func TestBulkBuildThreadsMemory(t *testing.T) {
	bf := newBulkFixture(t)
	body := binary.LittleEndian.AppendUint32(nil, math.Float32bits(1))
	body = binary.LittleEndian.AppendUint32(body, math.Float32bits(2))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	bf.exec(t, "1", "2", "1024", 0, body)
	runtime.ReadMemStats(&after)
	if st := bf.ctx.Response.StatusCode(); st != 200 {
		t.Fatalf("bulk build: %d %s", st, bf.ctx.Response.Body())
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
		t.Fatalf("a one-vector bulk build with 1024 threads allocated %d MiB", d>>20)
	}
}
