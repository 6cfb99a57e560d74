package store

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/lsmvec/lsmvec/hnsw"
	"github.com/lsmvec/lsmvec/kernels"
	"github.com/lsmvec/lsmvec/pq"
)

// quantFixture makes collections "i8", "i8cos" (cosine) and "pq8" with
// quantized indexes over n random vectors (half stored before the index,
// half after) and returns the vectors by id.
func quantFixture(t *testing.T, db *DB, rng *rand.Rand, n, dim int) map[string][][]float32 {
	t.Helper()
	data := make([]float32, 0, n*dim)
	for i := 0; i < n; i++ {
		data = append(data, randVec(rng, dim)...)
	}
	const m = 4
	cb, err := pq.Train(data, dim, m, 8, pq.TrainOptions{Seed: 1, Centroids: 32, Iterations: 5})
	must(t, "train", err)
	var names []string
	for j, cent := range cb.Centroids {
		name := fmt.Sprintf("exact_sub_%d", j)
		_, err := db.PutMatrix(name, dim/m, cent)
		must(t, "matrix", err)
		names = append(names, name)
	}
	_, err = db.CreatePQ(PQConfig{Name: "exactpq", Dim: dim, Codebooks: names})
	must(t, "pq", err)
	cfgs := map[string]IndexConfig{
		"i8":    {Quantization: QuantI8, Metric: "l2sq", M: 8, EfConstruction: 48},
		"i8cos": {Quantization: QuantI8, Metric: "cosine", M: 8, EfConstruction: 48},
		"pq8":   {Quantization: QuantPQ8, PQName: "exactpq", Metric: "l2sq", M: 8, EfConstruction: 48},
	}
	vecs := map[string][][]float32{}
	for name, cfg := range cfgs {
		c, err := db.CreateCollection(CollectionConfig{Name: name, Dim: dim, MaxSize: int64(4 * n)})
		must(t, "create", err)
		vs := make([][]float32, n)
		for i := range vs {
			vs[i] = data[i*dim : (i+1)*dim]
			if i == n/2 {
				must(t, "index "+name, c.CreateIndex(cfg))
			}
			must(t, "put", c.Put(uint64(i), vs[i]))
		}
		vecs[name] = vs
	}
	return vecs
}

// checkExact searches every collection of vecs and checks each result's
// distance against the exact one computed from vecs (so the rerank read
// the right float32 vector), and that GET vector returns the exact floats.
func checkExact(t *testing.T, db *DB, vecs map[string][][]float32, rng *rand.Rand, queries int) {
	t.Helper()
	for name, vs := range vecs {
		c, err := db.Collection(name)
		must(t, "collection", err)
		info, _ := c.Info()
		dim := c.Dim()
		var res []Result
		for qi := 0; qi < queries; qi++ {
			q := randVec(rng, dim)
			res, err = c.Search(q, 5, 32, nil, res[:0])
			must(t, "search", err)
			if len(res) != 5 {
				t.Fatalf("%s: %d results", name, len(res))
			}
			qn := append([]float32(nil), q...)
			if info.Index.Metric == "cosine" {
				hnsw.Normalize(qn)
			}
			for _, r := range res {
				v := vs[r.ID]
				var want float32
				if info.Index.Metric == "cosine" {
					vn := append([]float32(nil), v...)
					hnsw.Normalize(vn)
					want = 1 - kernels.Dot(qn, vn)
				} else {
					want = kernels.L2Sq(q, v)
				}
				if math.Abs(float64(r.Distance-want)) > 1e-4*(1+math.Abs(float64(want))) {
					t.Fatalf("%s: query %d id %d: distance %v, exact %v", name, qi, r.ID, r.Distance, want)
				}
			}
		}
		got, err := c.Vector(3, nil)
		must(t, "vector", err)
		for i := range got {
			if got[i] != vs[3][i] {
				t.Fatalf("%s: GET vector 3 differs at %d: %v, want %v", name, i, got[i], vs[3][i])
			}
		}
		// Codes only in RAM: the storage holds less than a float32 arena
		// of its (at least 1024) slots would.
		c.mu.RLock()
		st := c.mu.index.Options().Storage
		c.mu.RUnlock()
		if sb, f32 := st.MemoryBytes(), int64(max(len(vs), 1024)*dim*4); sb >= f32 {
			t.Fatalf("%s: storage holds %d bytes, a float32 arena %d: the float32 copy is in RAM", name, sb, f32)
		}
	}
}

// TestExactFile: quantized indexes rerank from the vector file with exact
// distances; a clean close is trusted at open, a crash (no final
// checkpoint) or a damaged file is rebuilt from Pebble; drops remove the
// file.
func TestExactFile(t *testing.T) {
	for _, fsName := range []string{"disk", "mem"} {
		t.Run(fsName, func(t *testing.T) {
			rng := seededRand(t)
			dir := t.TempDir()
			opts := testOptions(t, dir)
			opts.FS = vfs.Default
			if fsName == "mem" {
				opts.FS = vfs.NewMem() // no file descriptor: reads use ReadAt
			}
			const dim = 16
			n := 300
			if testing.Short() {
				n = 150
			}
			db := openT(t, opts)
			vecs := quantFixture(t, db, rng, n, dim)
			checkExact(t, db, vecs, rng, 20)
			closeT(t, db)

			db = openT(t, opts)
			if got := db.exactRebuilds.Load(); got != 0 {
				t.Fatalf("clean reopen rebuilt %d vector files", got)
			}
			// The rerank depth is not in the snapshot: Open sets it again.
			for name := range vecs {
				c, _ := db.Collection(name)
				c.mu.RLock()
				got, want := c.mu.index.Options().Rerank, rerankDepth(c.mu.meta.Index.Quantization)
				c.mu.RUnlock()
				if got != want {
					t.Fatalf("%s reopened from its checkpoint reranks %d, want %d", name, got, want)
				}
			}
			checkExact(t, db, vecs, rng, 20)
			// More writes, then a crash: no final checkpoint, so the files
			// are dirty and Open rebuilds them (and replays the log).
			for name, vs := range vecs {
				c, _ := db.Collection(name)
				for i := 0; i < 40; i++ {
					id := rng.Intn(len(vs))
					vs[id] = randVec(rng, dim)
					must(t, "put", c.Put(uint64(id), vs[id]))
				}
			}
			db.testSkipCloseCheckpoint = true
			closeT(t, db)
			db = openT(t, opts)
			if got := db.exactRebuilds.Load(); got != int64(len(vecs)) {
				t.Fatalf("reopen after a crash rebuilt %d vector files, want %d", got, len(vecs))
			}
			checkExact(t, db, vecs, rng, 20)
			closeT(t, db)

			// A clean file cut short is not trusted.
			c8path := ""
			db = openT(t, opts)
			c, _ := db.Collection("i8")
			c.mu.RLock()
			c8path = c.mu.quant.exact.path
			c.mu.RUnlock()
			closeT(t, db)
			f, err := opts.FS.OpenReadWrite(c8path)
			must(t, "open vector file", err)
			st, _ := f.Stat()
			must(t, "close", f.Close())
			if fsName == "disk" {
				must(t, "truncate", os.Truncate(c8path, min(st.Size(), exactHeaderLen+10*4*dim)))
				db = openT(t, opts)
				if got := db.exactRebuilds.Load(); got != 1 {
					t.Fatalf("reopen with a truncated file rebuilt %d vector files, want 1", got)
				}
				checkExact(t, db, vecs, rng, 20)
				closeT(t, db)
			}

			db = openT(t, opts)
			defer closeT(t, db)
			c, _ = db.Collection("pq8")
			must(t, "drop index", c.DropIndex())
			must(t, "drop collection", db.DropCollection("i8"))
			names, err := opts.FS.List(db.exactDir)
			must(t, "list", err)
			if len(names) != 1 {
				t.Fatalf("vector files after dropping two indexes: %v, want only i8cos's", names)
			}
		})
	}
}

// TestExactFileFallback: after a failed write the vector file's reads go
// to Pebble: results stay exact, and the next Open rebuilds the file.
func TestExactFileFallback(t *testing.T) {
	rng := seededRand(t)
	opts := testOptions(t, t.TempDir())
	db := openT(t, opts)
	const dim = 16
	vecs := quantFixture(t, db, rng, 120, dim)
	for name := range vecs {
		c, _ := db.Collection(name)
		c.mu.RLock()
		c.mu.quant.exact.failed.Store(true)
		c.mu.RUnlock()
	}
	checkExact(t, db, vecs, rng, 10)
	// Writes go on (Pebble holds them); reranks still read Pebble.
	for name, vs := range vecs {
		c, _ := db.Collection(name)
		for i := 0; i < 10; i++ {
			vs[i] = randVec(rng, dim)
			must(t, "put", c.Put(uint64(i), vs[i]))
		}
	}
	checkExact(t, db, vecs, rng, 10)
	closeT(t, db)
	db = openT(t, opts)
	defer closeT(t, db)
	if got := db.exactRebuilds.Load(); got != int64(len(vecs)) {
		t.Fatalf("reopen after failed writes rebuilt %d vector files, want %d", got, len(vecs))
	}
	checkExact(t, db, vecs, rng, 10)
}

// TestExactFileSegments: slots map to segments that tile the slot range.
func TestExactFileSegments(t *testing.T) {
	next := uint32(0)
	for i := 0; i < exactMaxSegs; i++ {
		seg, first := segOf(next)
		if seg != i || first != next {
			t.Fatalf("slot %d: segment %d first %d, want %d, %d", next, seg, first, i, next)
		}
		last := next + uint32(segSlots(i)) - 1
		if seg, first := segOf(last); seg != i || first != next {
			t.Fatalf("slot %d: segment %d first %d, want %d, %d", last, seg, first, i, next)
		}
		next = last + 1
	}
	if next != 1<<31 {
		t.Fatalf("segments end at %d, want 2^31", next)
	}
}

// TestQuantizedSearchAllocs: a search on a quantized index (rerank from
// the mapped vector file) allocates nothing.
func TestQuantizedSearchAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("coverage and race instrumentation allocate")
	}
	rng := seededRand(t)
	db := openT(t, testOptions(t, t.TempDir()))
	defer closeT(t, db)
	vecs := quantFixture(t, db, rng, 200, 16)
	q := randVec(rng, 16)
	res := make([]Result, 0, 10)
	for name := range vecs {
		c, _ := db.Collection(name)
		fn := func() { res, _ = c.Search(q, 10, 40, nil, res[:0]) }
		fn()
		if got := testing.AllocsPerRun(200, fn); got != 0 {
			t.Errorf("%s: %v allocations per search", name, got)
		}
	}
}

// TestExactFileConcurrent runs writers and searchers on quantized indexes
// at once (meaningful under -race): every search result carries an exact
// distance to some version of its vector.
func TestExactFileConcurrent(t *testing.T) {
	rng := seededRand(t)
	db := openT(t, testOptions(t, t.TempDir()))
	defer closeT(t, db)
	const dim = 16
	n := 200
	if raceEnabled {
		n = 120
	}
	vecs := quantFixture(t, db, rng, n, dim)
	done := make(chan error, 8)
	for name := range vecs {
		c, _ := db.Collection(name)
		seed := rng.Int63()
		go func() {
			r := rand.New(rand.NewSource(seed))
			for i := 0; i < 100; i++ {
				if err := c.Put(uint64(r.Intn(2*n)), randVec(r, dim)); err != nil {
					done <- err
					return
				}
				if i%10 == 0 {
					_ = c.Delete(uint64(r.Intn(2 * n)))
				}
			}
			done <- nil
		}()
		go func() {
			r := rand.New(rand.NewSource(seed + 1))
			var res []Result
			var err error
			for i := 0; i < 200; i++ {
				q := randVec(r, dim)
				if res, err = c.Search(q, 5, 32, nil, res[:0]); err != nil {
					done <- err
					return
				}
				for _, x := range res {
					if math.IsNaN(float64(x.Distance)) || x.Distance < 0 {
						done <- fmt.Errorf("%s: distance %v", name, x.Distance)
						return
					}
				}
			}
			done <- nil
		}()
	}
	for i := 0; i < 2*len(vecs); i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
