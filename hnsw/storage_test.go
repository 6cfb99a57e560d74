package hnsw

import (
	"bytes"
	"io"
	"math"
	"testing"
)

// coarseStorage is a lossy Storage for tests, shaped like a quantizer:
// the graph walks on vectors rounded to a coarse grid, and Reranker gives
// exact distances from the full copy.
type coarseStorage struct {
	exact, coarse *Float32Storage
	dim           int
}

func newCoarseStorage() *coarseStorage {
	return &coarseStorage{exact: NewFloat32Storage(), coarse: NewFloat32Storage()}
}

func (c *coarseStorage) Init(dim int, m Metric) error {
	c.dim = dim
	if err := c.exact.Init(dim, m); err != nil {
		return err
	}
	return c.coarse.Init(dim, m)
}

func (c *coarseStorage) Grow(n int) { c.exact.Grow(n); c.coarse.Grow(n) }

func (c *coarseStorage) Set(slot uint32, vec []float32) {
	c.exact.Set(slot, vec)
	r := make([]float32, len(vec))
	for i, v := range vec {
		r[i] = float32(math.Round(float64(v)*2) / 2)
	}
	c.coarse.Set(slot, r)
}

func (c *coarseStorage) Vector(slot uint32, dst []float32) []float32 {
	return c.exact.Vector(slot, dst)
}
func (c *coarseStorage) Distance(a, b uint32) float32 { return c.coarse.Distance(a, b) }
func (c *coarseStorage) MemoryBytes() int64           { return c.exact.MemoryBytes() + c.coarse.MemoryBytes() }

func (c *coarseStorage) NewQuerier() Querier {
	return &coarseQuerier{exact: c.exact.NewQuerier(), coarse: c.coarse.NewQuerier()}
}

func (c *coarseStorage) Save(w io.Writer, n int) error {
	if err := c.exact.Save(w, n); err != nil {
		return err
	}
	return c.coarse.Save(w, n)
}

func (c *coarseStorage) Load(r io.Reader, n int) error {
	if err := c.exact.Load(r, n); err != nil {
		return err
	}
	return c.coarse.Load(r, n)
}

type coarseQuerier struct{ exact, coarse Querier }

func (q *coarseQuerier) SetQuery(v []float32)                       { q.exact.SetQuery(v); q.coarse.SetQuery(v) }
func (q *coarseQuerier) SetSlot(s uint32)                           { q.exact.SetSlot(s); q.coarse.SetSlot(s) }
func (q *coarseQuerier) Distances(ids []uint32, out []float32)      { q.coarse.Distances(ids, out) }
func (q *coarseQuerier) ExactDistances(ids []uint32, out []float32) { q.exact.Distances(ids, out) }

func TestPluggableStorage(t *testing.T) {
	rng := newRNG(t)
	const dim, k = 16, 10
	n := size(3000, 1000)
	st := newCoarseStorage()
	x := mustNew(t, Options{Dim: dim, Storage: st})
	live := fill(t, x, randVecs(rng, n, dim), 0)
	queries := randVecs(rng, 30, dim)
	var sum float64
	for _, q := range queries {
		got := x.Search(q, k, 100, nil)
		for i, r := range got {
			// Reported distances are exact (reranked), and in order.
			if want := metricDist(L2, q, live[r.ID]); math.Abs(float64(want-r.Distance)) > 1e-3*float64(want)+1e-4 {
				t.Fatalf("distance of %d = %v, want exact %v", r.ID, r.Distance, want)
			}
			if i > 0 && r.Distance < got[i-1].Distance {
				t.Fatalf("not ascending after rerank: %v", got)
			}
		}
		sum += recallOf(got, bruteForce(L2, live, q, k, nil))
	}
	r := sum / float64(len(queries))
	t.Logf("recall@%d on coarse storage with rerank: %.4f", k, r)
	if r < 0.9 {
		t.Fatalf("recall %.4f", r)
	}
	// SlotID maps the slots a Storage sees back to ids.
	for id := uint64(0); id < 20; id++ {
		slot, _ := x.ids.get(id)
		if got, ok := x.SlotID(slot); !ok || got != id {
			t.Fatalf("SlotID(%d) = %d, %v; want %d", slot, got, ok, id)
		}
	}
	if _, ok := x.SlotID(1 << 30); ok {
		t.Fatal("SlotID of an unallocated slot")
	}
	// A rerank depth of k still returns exact, ordered distances.
	y0 := mustNew(t, Options{Dim: dim, Storage: newCoarseStorage(), Rerank: k})
	fill(t, y0, func() [][]float32 {
		out := make([][]float32, 0, len(live))
		for id := uint64(0); id < uint64(len(live)); id++ {
			out = append(out, live[id])
		}
		return out
	}(), 0)
	var sum2 float64
	for _, q := range queries {
		got := y0.Search(q, k, 100, nil)
		for i, r := range got {
			if want := metricDist(L2, q, live[r.ID]); math.Abs(float64(want-r.Distance)) > 1e-3*float64(want)+1e-4 || i > 0 && r.Distance < got[i-1].Distance {
				t.Fatalf("rerank depth k: result %d = %+v, exact distance %v", i, r, want)
			}
		}
		sum2 += recallOf(got, bruteForce(L2, live, q, k, nil))
	}
	t.Logf("recall@%d with rerank depth %d: %.4f", k, k, sum2/float64(len(queries)))
	// Snapshots go through the Storage.
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	st2 := newCoarseStorage()
	y, err := Read(&buf, st2)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	a, b := x.Search(queries[0], k, 100, nil), y.Search(queries[0], k, 100, nil)
	if len(a) != len(b) || len(a) == 0 || a[0] != b[0] {
		t.Fatalf("loaded index differs: %v vs %v", a, b)
	}
}
