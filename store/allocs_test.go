package store

import (
	"testing"
)

// raceEnabled is set by race_test.go under the race detector, which makes
// sync.Pool drop items at random.
var raceEnabled bool

// TestHotPathAllocs pins the allocations of the hot paths: a search into
// a reused result slice, a vector read into a reused buffer, an existence
// check and a durable Put.
func TestHotPathAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("coverage and race instrumentation allocate")
	}
	rng := seededRand(t)
	db := openT(t, testOptions(t, t.TempDir()))
	defer closeT(t, db)
	const dim = 32
	c, _ := db.CreateCollection(CollectionConfig{Name: "default", Dim: dim, Family: FamilyV1,
		Index: &IndexConfig{Metric: "euclidean", M: 8, EfConstruction: 32}})
	for i := 0; i < 500; i++ {
		must(t, "put", c.Put(uint64(i), randVec(rng, dim)))
	}
	q := randVec(rng, dim)
	res := make([]Result, 0, 10)
	vec := make([]float32, 0, dim)
	for _, tc := range []struct {
		name string
		max  float64
		fn   func()
	}{
		{"Search", 0, func() { res, _ = c.Search(q, 10, 64, nil, res[:0]) }},
		// Pebble's Get allocates one range-deletion iterator when the
		// memtable holds range tombstones (CreateCollection writes one).
		{"Vector", 1, func() { vec, _ = c.Vector(7, vec[:0]) }},
		{"Contains", 0, func() { _, _ = c.Contains(7) }},
		// A durable replace (one synced commit): the store allocates
		// nothing; the one allocation is the index's (hnsw.Index.Add).
		{"Put", 1, func() { _ = c.Put(9, q) }},
	} {
		tc.fn()
		if got := testing.AllocsPerRun(200, tc.fn); got > tc.max {
			t.Errorf("%s: %v allocations per call, want ≤ %v", tc.name, got, tc.max)
		}
	}
}
