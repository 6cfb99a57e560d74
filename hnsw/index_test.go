package hnsw

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/kernels"
)

// randVecs returns n random vectors of dim values, clustered so the graph
// has structure (pure uniform noise in high dimension is a degenerate case).
func randVecs(rng *rand.Rand, n, dim int) [][]float32 {
	centers := make([][]float32, 16)
	for i := range centers {
		centers[i] = make([]float32, dim)
		for j := range centers[i] {
			centers[i][j] = float32(rng.NormFloat64() * 4)
		}
	}
	out := make([][]float32, n)
	for i := range out {
		c := centers[rng.Intn(len(centers))]
		v := make([]float32, dim)
		for j := range v {
			v[j] = c[j] + float32(rng.NormFloat64())
		}
		out[i] = v
	}
	return out
}

// size picks a test size: smaller with -short (the race and purego runs).
func size(full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

// newRNG returns a generator seeded from the clock, or from
// LSMVEC_TEST_SEED to replay a logged seed.
func newRNG(t testing.TB) *rand.Rand {
	seed := time.Now().UnixNano()
	if s, err := strconv.ParseInt(os.Getenv("LSMVEC_TEST_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d", seed)
	return rand.New(rand.NewSource(seed))
}

func metricDist(m Metric, a, b []float32) float32 {
	switch m {
	case L2:
		return kernels.L2Sq(a, b)
	case InnerProduct:
		return 1 - kernels.Dot(a, b)
	}
	return kernels.CosineDistance(a, b)
}

// bruteForce returns the ids (indexes into vecs, skipping those allow
// rejects) of the k nearest to q.
func bruteForce(m Metric, vecs map[uint64][]float32, q []float32, k int, allow func(uint64) bool) []uint64 {
	type pair struct {
		d  float32
		id uint64
	}
	var all []pair
	for id, v := range vecs {
		if allow != nil && !allow(id) {
			continue
		}
		all = append(all, pair{metricDist(m, q, v), id})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].d != all[j].d {
			return all[i].d < all[j].d
		}
		return all[i].id < all[j].id
	})
	out := make([]uint64, 0, k)
	for i := 0; i < k && i < len(all); i++ {
		out = append(out, all[i].id)
	}
	return out
}

func recallOf(got []Result, want []uint64) float64 {
	if len(want) == 0 {
		return 1
	}
	hit := 0
	for _, w := range want {
		for _, g := range got {
			if g.ID == w {
				hit++
				break
			}
		}
	}
	return float64(hit) / float64(len(want))
}

func mustNew(t testing.TB, o Options) *Index {
	t.Helper()
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Close)
	return x
}

func TestOptions(t *testing.T) {
	var o Options
	o.Dim = 8
	o.EnsureDefaults()
	if o.M != 16 || o.M0 != 32 || o.EfConstruction != 200 || o.EfSearch != 64 || o.Seed != 42 {
		t.Fatalf("defaults: %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Options{
		{Dim: 0}, {Dim: 65537}, {Dim: 4, M: 1}, {Dim: 4, M: 129}, {Dim: 4, M: 16, M0: 8},
		{Dim: 4, M0: 513}, {Dim: 4, EfConstruction: 4}, {Dim: 4, Metric: 7},
	} {
		bad.EnsureDefaults()
		if err := bad.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: got %v, want ErrInvalidOptions", bad, err)
		}
		if _, err := New(bad); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("New(%+v): got %v", bad, err)
		}
	}
	for s, want := range map[string]Metric{"l2": L2, "euclidean": L2, "ip": InnerProduct, "inner-product": InnerProduct, "cosine": Cosine, "COSINE": Cosine} {
		m, err := ParseMetric(s)
		if err != nil || m != want {
			t.Errorf("ParseMetric(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseMetric("manhattan"); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("ParseMetric(manhattan): %v", err)
	}
	for _, m := range []Metric{L2, InnerProduct, Cosine} {
		if p, err := ParseMetric(m.String()); err != nil || p != m {
			t.Errorf("round trip %v: %v %v", m, p, err)
		}
	}
}

func TestEmptyAndBadInput(t *testing.T) {
	x := mustNew(t, Options{Dim: 4})
	if r := x.Search([]float32{1, 2, 3, 4}, 10, 0, nil); len(r) != 0 {
		t.Fatalf("empty index returned %v", r)
	}
	if err := x.Add(1, []float32{1, 2, 3}); !errors.Is(err, ErrDimension) {
		t.Fatalf("short vector: %v", err)
	}
	if err := x.Add(1, []float32{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    []float32
		k    int
		want int
	}{
		{[]float32{1, 2, 3}, 1, 0},
		{nil, 1, 0},
		{[]float32{1, 2, 3, 4}, 0, 0},
		{[]float32{1, 2, 3, 4}, -3, 0},
		{[]float32{1, 2, 3, 4}, 5, 1},
	} {
		if r := x.Search(tc.q, tc.k, -1, nil); len(r) != tc.want {
			t.Errorf("Search(%v, k=%d) = %v, want %d results", tc.q, tc.k, r, tc.want)
		}
	}
	if x.Delete(2) {
		t.Fatal("deleted an absent id")
	}
	if !x.Delete(1) || x.Contains(1) || x.Len() != 0 {
		t.Fatal("delete of the only id failed")
	}
	if r := x.Search([]float32{1, 2, 3, 4}, 5, 0, nil); len(r) != 0 {
		t.Fatalf("deleted id returned: %v", r)
	}
	// The graph must recover from losing its only node.
	if err := x.Repair(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := x.Add(3, []float32{4, 3, 2, 1}); err != nil {
		t.Fatal(err)
	}
	if r := x.Search([]float32{1, 2, 3, 4}, 5, 0, nil); len(r) != 1 || r[0].ID != 3 {
		t.Fatalf("after repair and re-add: %v", r)
	}
}

func TestRecallSynthetic(t *testing.T) {
	rng := newRNG(t)
	const dim, k = 24, 10
	n := size(3000, 800)
	for _, m := range []Metric{L2, InnerProduct, Cosine} {
		t.Run(m.String(), func(t *testing.T) {
			x := mustNew(t, Options{Dim: dim, Metric: m, M: 16, EfConstruction: 100})
			vecs := map[uint64][]float32{}
			for i, v := range randVecs(rng, n, dim) {
				id := uint64(i)*7919 + 1<<40 // sparse external ids
				if m == InnerProduct {
					Normalize(v) // IP is only a proximity for normalised data
				}
				vecs[id] = v
				if err := x.Add(id, v); err != nil {
					t.Fatal(err)
				}
			}
			if x.Len() != n {
				t.Fatalf("Len %d", x.Len())
			}
			var sum float64
			queries := randVecs(rng, size(100, 30), dim)
			for _, q := range queries {
				if m == InnerProduct {
					Normalize(q)
				}
				got := x.Search(q, k, 200, nil)
				if len(got) != k {
					t.Fatalf("got %d results", len(got))
				}
				for i := 1; i < len(got); i++ {
					if got[i].Distance < got[i-1].Distance {
						t.Fatalf("not ascending: %v", got)
					}
				}
				// Reported distances are the metric's.
				if d := metricDist(m, q, vecs[got[0].ID]); math.Abs(float64(d-got[0].Distance)) > 1e-3*math.Max(1, math.Abs(float64(d))) {
					t.Fatalf("distance %v, want %v", got[0].Distance, d)
				}
				sum += recallOf(got, bruteForce(m, vecs, q, k, nil))
			}
			r := sum / float64(len(queries))
			t.Logf("%s recall@%d = %.4f", m, k, r)
			// Quality is pinned on real data (dataset_test.go); this checks
			// the metric plumbing, on random clusters whose hardness varies
			// with the seed.
			if r < 0.9 {
				t.Fatalf("recall %.4f < 0.9", r)
			}
		})
	}
}

// TestSetRerank: the rerank depth is a search setting, settable on a live
// index and not carried by a snapshot.
func TestSetRerank(t *testing.T) {
	x, err := New(Options{Dim: 4, Rerank: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got := x.Options().Rerank; got != 7 {
		t.Fatalf("Options().Rerank = %d, want 7", got)
	}
	if err := x.SetRerank(-1); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("SetRerank(-1) = %v, want ErrInvalidOptions", err)
	}
	if err := x.SetRerank(30); err != nil || x.Options().Rerank != 30 {
		t.Fatalf("SetRerank(30) = %v, Options().Rerank = %d", err, x.Options().Rerank)
	}
	if err := x.Add(1, []float32{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	y, err := Read(&buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	if got := y.Options().Rerank; got != 0 {
		t.Fatalf("a snapshot's Rerank = %d, want 0 (not carried)", got)
	}
}

// TestReconnect: a live node whose every in-edge is cut, as a parallel
// build can leave one, is found again after Reconnect, and a graph with
// nothing stranded gets no link.
func TestReconnect(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	const n, dim = 400, 8
	x, err := New(Options{Dim: dim, M: 6, EfConstruction: 40, RepairInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = rng.Float32()
		}
		if err := x.Add(uint64(i), vecs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if k := x.Reconnect(); k != 0 {
		t.Logf("%d links added to a sequentially built graph", k)
	}
	// Strand a node that is not the entry point: remove it from every
	// level-0 list (and from the upper levels).
	ep := x.g.loadEntry().slot()
	id := uint64(17)
	victim, _ := x.ids.get(id)
	if victim == ep {
		id = 18
		victim, _ = x.ids.get(id)
	}
	for v := uint32(0); v < n; v++ {
		for l := 0; l <= x.g.level(v); l++ {
			list := x.g.links(v, l)
			c := int(list[0])
			out := 1
			for j := 1; j <= c; j++ {
				if list[j] != victim {
					list[out] = list[j]
					out++
				}
			}
			list[0] = uint32(out - 1)
		}
	}
	if res := x.Search(vecs[id], 1, n, nil); len(res) == 1 && res[0].ID == id {
		t.Fatalf("node %d still found with no edge into it", id)
	}
	if k := x.Reconnect(); k < 1 {
		t.Fatalf("Reconnect added %d links for a stranded node", k)
	}
	if res := x.Search(vecs[id], 1, n, nil); len(res) != 1 || res[0].ID != id {
		t.Fatalf("after Reconnect, self-search of %d: %v", id, res)
	}
}
