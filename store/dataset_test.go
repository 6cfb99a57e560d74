package store

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
)

// floatReader streams a []float32 as little-endian bytes without copying it
// whole.
type floatReader struct {
	v   []float32
	off int // bytes read
}

func (r *floatReader) Read(p []byte) (int, error) {
	total := 4 * len(r.v)
	if r.off >= total {
		return 0, io.EOF
	}
	n := 0
	for n+4 <= len(p) && r.off < total {
		if r.off%4 != 0 {
			break
		}
		binary.LittleEndian.PutUint32(p[n:], math.Float32bits(r.v[r.off/4]))
		n += 4
		r.off += 4
	}
	if n == 0 { // p shorter than 4 bytes or unaligned: byte by byte
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(r.v[r.off/4]))
		n = copy(p, b[r.off%4:])
		r.off += n
	}
	return n, nil
}

// TestFashionMNISTBulkAndRestart bulk loads fashion-mnist-784 (60k × 784,
// M=16, ef_construction=200, 2 threads), restarts the database and checks
// that the first search after the restart comes in under 5% of the build
// time with results identical to those before. Gated behind LSMVEC_BENCH=1
// (about a minute on 2 cores). Run it next to hnswlib's build:
//
//	/work/shared/tools/hnswlib-ref fashion-mnist-784 && LSMVEC_BENCH=1 go test -run FashionMNIST -v ./store
func TestFashionMNISTBulkAndRestart(t *testing.T) {
	if os.Getenv("LSMVEC_BENCH") != "1" {
		t.Skip("skipping: set LSMVEC_BENCH=1 to run the fashion-mnist-784 bulk load and restart test")
	}
	ds := dataset.LoadOrSkip(t, dataset.FashionMNIST)
	dir := t.TempDir()
	if d := os.Getenv("LSMVEC_BENCH_DIR"); d != "" {
		dir = d // keep the database for a look afterwards
	}
	opts := testOptions(t, dir)
	opts.CacheSize, opts.MemTableSize = 64<<20, 64<<20
	db := openT(t, opts)
	c, err := db.CreateCollection(CollectionConfig{Name: "default", Dim: ds.Dim, Family: FamilyV1,
		Index: &IndexConfig{Metric: "l2", M: 16, M0: 32, EfConstruction: 200}})
	must(t, "create", err)
	n := ds.N()
	res, err := c.BulkLoad(&floatReader{v: ds.Base}, n, 2)
	must(t, "bulk load", err)
	build := res.Elapsed
	t.Logf("bulk load: %d vectors in %v (%.0f vectors/s, %d threads)", n, build.Round(time.Millisecond), float64(n)/build.Seconds(), res.Threads)

	const nq, k, ef = 200, 10, 64
	before := make([][]Result, nq)
	var got [][]uint64
	for i := 0; i < nq; i++ {
		before[i], err = c.Search(ds.Queries[i*ds.Dim:(i+1)*ds.Dim], k, ef, nil, nil)
		must(t, "search", err)
		ids := make([]uint64, len(before[i]))
		for j, r := range before[i] {
			ids[j] = r.ID
		}
		got = append(got, ids)
	}
	recall := dataset.MeanRecall(got, ds.GroundTruth[:nq], k)
	t.Logf("recall@%d at ef=%d over %d queries: %.4f", k, ef, nq, recall)
	closeStart := time.Now()
	closeT(t, db)
	t.Logf("close (final checkpoint): %v; disk: %s", time.Since(closeStart).Round(time.Millisecond), dirSize(dir))

	start := time.Now()
	db = openT(t, opts)
	defer closeT(t, db)
	c, err = db.Collection("default")
	must(t, "collection", err)
	first, err := c.Search(ds.Queries[:ds.Dim], k, ef, nil, nil)
	must(t, "first search", err)
	restart := time.Since(start)
	t.Logf("restart: open + first search in %v = %.2f%% of the build time", restart.Round(time.Millisecond), 100*restart.Seconds()/build.Seconds())
	if restart > build/20 {
		t.Errorf("restart took %v, more than 5%% of the %v build", restart, build)
	}
	if fmt.Sprint(first) != fmt.Sprint(before[0]) {
		t.Fatalf("query 0 before restart %v, after %v", before[0], first)
	}
	for i := 1; i < nq; i++ {
		after, _ := c.Search(ds.Queries[i*ds.Dim:(i+1)*ds.Dim], k, ef, nil, nil)
		if fmt.Sprint(after) != fmt.Sprint(before[i]) {
			t.Fatalf("query %d before restart %v, after %v", i, before[i], after)
		}
	}
	if st, _ := c.Stats(); st.Live != int64(n) || st.WritesSinceCheckpoint != 0 {
		t.Fatalf("stats after restart %+v", st)
	}
}

func dirSize(dir string) string {
	var total int64
	_ = walk(dir, func(size int64) { total += size })
	return fmt.Sprintf("%.1f MiB", float64(total)/(1<<20))
}

func walk(dir string, fn func(int64)) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			_ = walk(dir+"/"+e.Name(), fn)
			continue
		}
		if info, err := e.Info(); err == nil {
			fn(info.Size())
		}
	}
	return nil
}
