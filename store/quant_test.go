package store

import (
	"fmt"
	"testing"

	"github.com/lsmvec/lsmvec/pq"
)

// TestQuantizedIndexes: i8, pq8 and pq16 indexes build over stored
// vectors, find every vector as its own nearest neighbour, survive a
// restart (checkpoint with the quantized storage) and keep their PQ and
// matrices from being deleted.
func TestQuantizedIndexes(t *testing.T) {
	rng := seededRand(t)
	dir := t.TempDir()
	db := openT(t, testOptions(t, dir))
	const dim, m = 16, 4
	n := 400
	if testing.Short() {
		n = 200
	}
	data := make([]float32, 0, n*dim)
	for i := 0; i < n; i++ {
		data = append(data, randVec(rng, dim)...)
	}
	cb, err := pq.Train(data, dim, m, 8, pq.TrainOptions{})
	must(t, "train", err)
	var names []string
	for j, cent := range cb.Centroids {
		name := fmt.Sprintf("sub_%d.bin", j)
		_, err := db.PutMatrix(name, dim/m, cent)
		must(t, "matrix", err)
		names = append(names, name)
	}
	_, err = db.CreatePQ(PQConfig{Name: "pq", Dim: dim, Codebooks: names})
	must(t, "pq", err)
	cfgs := map[string]IndexConfig{
		"i8":   {Quantization: QuantI8, Metric: "euclidean", M: 8, EfConstruction: 64},
		"pq8":  {Quantization: QuantPQ8, PQName: "pq", Metric: "l2sq", M: 8, EfConstruction: 64},
		"pq16": {Quantization: QuantPQ16, PQName: "pq", Metric: "inner-product", M: 8, EfConstruction: 64},
	}
	for name, cfg := range cfgs {
		c, err := db.CreateCollection(CollectionConfig{Name: name, Dim: dim, MaxSize: int64(n)})
		must(t, "create", err)
		for i := 0; i < n/2; i++ {
			must(t, "put", c.Put(uint64(i), data[i*dim:(i+1)*dim]))
		}
		must(t, "index "+name, c.CreateIndex(cfg))
		for i := n / 2; i < n; i++ {
			must(t, "put", c.Put(uint64(i), data[i*dim:(i+1)*dim]))
		}
	}
	mustErr(t, "delete used PQ", db.DeletePQ("pq"), ErrInUse)
	mustErr(t, "delete used matrix", db.DeleteMatrix(names[0]), ErrInUse)
	check := func(db *DB) {
		t.Helper()
		for name, cfg := range cfgs {
			c, err := db.Collection(name)
			must(t, "collection", err)
			miss := 0
			for i := 0; i < n; i++ {
				res, err := c.Search(data[i*dim:(i+1)*dim], 1, n, nil, nil)
				must(t, "search", err)
				if cfg.Metric == "inner-product" {
					continue // the nearest by inner product need not be the vector itself
				}
				if len(res) != 1 || res[0].ID != uint64(i) || res[0].Distance > 1e-4 {
					miss++
				}
			}
			if miss > 0 {
				t.Fatalf("%s: %d of %d vectors not found as their own nearest", name, miss, n)
			}
		}
	}
	check(db)
	closeT(t, db)
	db = openT(t, testOptions(t, dir))
	defer closeT(t, db)
	check(db)
	c, _ := db.Collection("pq8")
	must(t, "drop index", c.DropIndex())
	c, _ = db.Collection("pq16")
	mustErr(t, "delete PQ still used", db.DeletePQ("pq"), ErrInUse)
	must(t, "drop collection", db.DropCollection("pq16"))
	must(t, "delete PQ", db.DeletePQ("pq"))
}
