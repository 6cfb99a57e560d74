package bench

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lsmvec/lsmvec/bench/dataset"
)

// randomVectors returns n seeded random vectors of dim values.
func randomVectors(t testing.TB, seed uint64, n, dim int) []float32 {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func TestGroundTruthCached(t *testing.T) {
	const seed, n, nq, dim = 11, 500, 20, 8
	t.Logf("seed %d", seed)
	base := randomVectors(t, seed, n, dim)
	queries := randomVectors(t, seed+1, nq, dim)
	dir := t.TempDir()
	basePath := filepath.Join(dir, "base.fvecs")
	c := GTCache{Dirs: []string{dir}}
	want := dataset.GroundTruth(base, queries, dim, 10, "l2")

	gt, path, cached, err := c.GroundTruthCached(basePath, base, queries, dim, 10, "l2")
	if err != nil || cached || path == "" {
		t.Fatalf("first call: path %q cached %v err %v; want a computed, written file", path, cached, err)
	}
	if filepath.Dir(path) != dir {
		t.Errorf("cache written to %s, want folder %s", path, dir)
	}
	if !equalRows(gt, want) {
		t.Fatalf("first call: ground truth differs from dataset.GroundTruth")
	}
	rows, err := dataset.ReadIvecsFile(path)
	if err != nil || len(rows) != nq || len(rows[0]) != 100 {
		t.Fatalf("cache file: %d rows of %d, err %v; want %d rows of 100", len(rows), len(rows[0]), err, nq)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".gt-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	gt2, path2, cached, err := c.GroundTruthCached(basePath, base, queries, dim, 10, "l2")
	if err != nil || !cached || path2 != path || !equalRows(gt2, want) {
		t.Fatalf("second call: path %q cached %v err %v equal %v; want the cache", path2, cached, err, equalRows(gt2, want))
	}
	// k beyond the cached 100 is computed anew; k below it is served.
	if _, _, cached, _ := c.GroundTruthCached(basePath, base, queries, dim, 5, "l2"); !cached {
		t.Errorf("k=5 did not use the k=100 cache")
	}

	// Other queries, another metric: another file.
	q2 := slices.Clone(queries)
	q2[0] += 1
	if _, p, cached, _ := c.GroundTruthCached(basePath, base, q2, dim, 10, "l2"); cached || p == path {
		t.Errorf("changed queries reused cache %s", p)
	}
	if _, p, cached, _ := c.GroundTruthCached(basePath, base, queries, dim, 10, "ip"); cached || p == path {
		t.Errorf("metric ip reused the l2 cache %s", p)
	}

	// A corrupt cache file is ignored and rewritten.
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	gt3, _, cached, err := c.GroundTruthCached(basePath, base, queries, dim, 10, "l2")
	if err != nil || cached || !equalRows(gt3, want) {
		t.Fatalf("corrupt cache: cached %v err %v; want recomputed", cached, err)
	}
	if _, _, cached, _ := c.GroundTruthCached(basePath, base, queries, dim, 10, "l2"); !cached {
		t.Errorf("cache not rewritten after corruption")
	}
}

func TestGroundTruthCachedFallback(t *testing.T) {
	const seed, n, nq, dim = 12, 200, 5, 4
	t.Logf("seed %d", seed)
	base := randomVectors(t, seed, n, dim)
	queries := randomVectors(t, seed+1, nq, dim)
	tmp := t.TempDir()
	// A "folder" that is a regular file cannot take the cache, even for
	// root (read-only shared folders are the real case).
	blocked := filepath.Join(tmp, "blocked")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fallback := filepath.Join(tmp, "cache", "lsmvec")
	c := GTCache{Dirs: []string{blocked, fallback}}
	_, path, cached, err := c.GroundTruthCached(filepath.Join(blocked, "b.fvecs"), base, queries, dim, 3, "l2")
	if err != nil || cached || filepath.Dir(path) != fallback {
		t.Fatalf("path %q cached %v err %v; want a file in %s", path, cached, err, fallback)
	}
	if _, p, cached, _ := c.GroundTruthCached(filepath.Join(blocked, "b.fvecs"), base, queries, dim, 3, "l2"); !cached || p != path {
		t.Errorf("fallback cache not read back: %q %v", p, cached)
	}
	// No folder at all takes it: the result still comes, with the error.
	c = GTCache{Dirs: []string{blocked}}
	gt, path, _, err := c.GroundTruthCached(filepath.Join(blocked, "b.fvecs"), base, queries, dim, 3, "l2")
	if err == nil || gt == nil || path != "" {
		t.Errorf("unwritable: gt %v path %q err %v; want the result, no path and an error", gt != nil, path, err)
	}
}

func TestUserCacheDirXDG(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/tmp/xdg-test")
	d, err := UserCacheDir()
	if err != nil || d != "/tmp/xdg-test/lsmvec" {
		t.Errorf("UserCacheDir = %q, %v; want /tmp/xdg-test/lsmvec", d, err)
	}
}

func TestGroundTruthCachedInvalid(t *testing.T) {
	c := GTCache{Dirs: []string{t.TempDir()}}
	for _, tc := range []struct {
		name    string
		base, q []float32
		dim, k  int
		metric  string
	}{
		{"no base", nil, []float32{1}, 1, 1, "l2"},
		{"ragged", []float32{1, 2, 3}, []float32{1, 2}, 2, 1, "l2"},
		{"zero dim", []float32{1}, []float32{1}, 0, 1, "l2"},
		{"bad metric", []float32{1}, []float32{1}, 1, 1, "hamming"},
		{"k zero", []float32{1}, []float32{1}, 1, 0, "l2"},
	} {
		if _, _, _, err := c.GroundTruthCached("b", tc.base, tc.q, tc.dim, tc.k, tc.metric); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func equalRows(a, b [][]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
