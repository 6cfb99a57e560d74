package store

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/lsmvec/lsmvec/store/filter"
)

// TestSearchWhere: filtered searches see every acknowledged payload write
// (put with payload, set, patch, delete, bulk load) and, after a restart,
// the payload index rebuilt from Pebble.
func TestSearchWhere(t *testing.T) {
	rng := seededRand(t)
	dir := t.TempDir()
	db := openT(t, testOptions(t, dir))
	const n, dim = 300, 8
	c, _ := db.CreateCollection(CollectionConfig{Name: "default", Dim: dim, Family: FamilyV1, Index: &IndexConfig{M: 8, EfConstruction: 32}})
	base := make([]float32, 0, n*dim)
	pl := make([]string, n)
	for i := 0; i < n; i++ {
		base = append(base, randVec(rng, dim)...)
		pl[i] = "null"
		if i%3 == 0 {
			pl[i] = fmt.Sprintf(`{"color":"red","i":%d}`, i)
		}
	}
	body := append(floatsLE(base), ("[" + strings.Join(pl, ",") + "]")...)
	_, err := c.BulkLoad(bytes.NewReader(body), n, 2)
	must(t, "bulk", err)
	red, err := filter.Compile([]byte(`{"color":"red"}`))
	must(t, "compile", err)
	search := func(c *Collection) []uint64 {
		t.Helper()
		res, err := c.SearchWhere(base[:dim], n, n, red, nil)
		must(t, "search", err)
		out := make([]uint64, len(res))
		for i, r := range res {
			out[i] = r.ID
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	want := map[uint64]bool{}
	for i := 0; i < n; i += 3 {
		want[uint64(i)] = true
	}
	check := func(c *Collection, what string) {
		t.Helper()
		got := search(c)
		if len(got) != len(want) {
			t.Fatalf("%s: %d results, want %d", what, len(got), len(want))
		}
		for _, id := range got {
			if !want[id] {
				t.Fatalf("%s: id %d is not red", what, id)
			}
		}
	}
	check(c, "after bulk load")
	must(t, "put red", c.PutWithPayload(1, base[dim:2*dim], []byte(`{"color":"red"}`)))
	want[1] = true
	_, err = c.PatchPayload(3, []byte(`{"color":"blue"}`))
	must(t, "patch", err)
	delete(want, 3)
	must(t, "set", c.SetPayload(4, []byte(`{"color":"red"}`)))
	want[4] = true
	must(t, "delete", c.Delete(6))
	delete(want, 6)
	must(t, "update", c.Update(nil, []uint64{9}))
	delete(want, 9)
	must(t, "put drops payload", c.PutWithPayload(12, base[12*dim:13*dim], nil))
	delete(want, 12)
	check(c, "after writes")
	all, _ := c.SearchWhere(base[:dim], 5, 0, nil, nil)
	if len(all) != 5 {
		t.Fatalf("nil filter: %v", all)
	}
	if st, _ := c.Stats(); st.PayloadIndexBytes <= 0 {
		t.Fatalf("payload index bytes %d", st.PayloadIndexBytes)
	}
	closeT(t, db)
	db = openT(t, testOptions(t, dir))
	defer closeT(t, db)
	c, _ = db.Collection("default")
	check(c, "after restart")
}

// TestUpdateBatchPayloads: a batch writes, keeps and removes payloads
// atomically with its vectors, the filter index follows, and a bad payload
// anywhere in the batch changes nothing.
func TestUpdateBatchPayloads(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, testOptions(t, dir))
	c, err := db.CreateCollection(CollectionConfig{Name: "default", Dim: 2, Family: FamilyV1, Index: &IndexConfig{M: 8, EfConstruction: 32}})
	must(t, "create", err)
	must(t, "put", c.PutWithPayload(1, []float32{1, 1}, []byte(`{"color":"blue"}`)))
	must(t, "put", c.PutWithPayload(2, []float32{2, 2}, []byte(`{"color":"red"}`)))
	bad := []Entry{
		{ID: 3, Vector: []float32{3, 3}, SetPayload: true, Payload: []byte(`{"color":"red"}`)},
		{ID: 4, Vector: []float32{4, 4}, SetPayload: true, Payload: []byte(`[1]`)},
	}
	mustErr(t, "non-object payload", c.Update(bad, nil), ErrInvalid)
	if ok, _ := c.Contains(3); ok {
		t.Fatal("failed batch stored id 3")
	}
	must(t, "batch", c.Update([]Entry{
		{ID: 1, Vector: []float32{1, 1}, SetPayload: true, Payload: []byte(`{"color":"red"}`)}, // replaced
		{ID: 2, Vector: []float32{2, 2}}, // payload kept
		{ID: 3, Vector: []float32{3, 3}, SetPayload: true, Payload: []byte(`{"color":"red"}`)},
		{ID: 4, Vector: []float32{4, 4}, SetPayload: true}, // no payload
	}, nil))
	red, err := filter.Compile([]byte(`{"color":"red"}`))
	must(t, "compile", err)
	check := func(c *Collection, when string) {
		t.Helper()
		res, err := c.SearchWhere([]float32{0, 0}, 10, 10, red, nil)
		must(t, "search", err)
		ids := make([]uint64, len(res))
		for i, r := range res {
			ids[i] = r.ID
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		if fmt.Sprint(ids) != "[1 2 3]" {
			t.Fatalf("%s: red ids = %v, want [1 2 3]", when, ids)
		}
		p, err := c.Payload(4, nil)
		must(t, "payload", err)
		if string(p) != "{}" {
			t.Fatalf("%s: payload of 4 = %s, want {}", when, p)
		}
	}
	check(c, "before restart")
	closeT(t, db)
	db = openT(t, testOptions(t, dir))
	defer closeT(t, db)
	c, err = db.Collection("default")
	must(t, "collection", err)
	check(c, "after restart")
}
