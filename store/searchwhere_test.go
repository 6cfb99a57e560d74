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
