package pq

import (
	"cmp"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/hnsw"
	"github.com/lsmvec/lsmvec/internal/cputime"
	"github.com/lsmvec/lsmvec/kernels"
)

// The fashion-mnist tests measure the quantizers on real data (the figures
// in docs/benchmarks.md, "Quantization"). They are skipped with -short and
// when the shared data sets are absent.

const fashionQueries = 200 // queries per brute-force measurement

func loadFashion(t *testing.T) *dataset.Set {
	t.Helper()
	if testing.Short() {
		t.Skip("slow: fashion-mnist quantization measurements (skipped with -short)")
	}
	return dataset.LoadOrSkip(t, dataset.FashionMNIST)
}

type scored struct {
	d  float32
	id int32
}

// byDistance sorts ascending by distance, ties to the lower id.
func byDistance(a, b scored) int {
	if c := cmp.Compare(a.d, b.d); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// rankApprox returns every id ranked by its approximate distance, reusing buf.
func rankApprox(dists []float32, buf []scored) []scored {
	buf = buf[:0]
	for i, d := range dists {
		buf = append(buf, scored{d, int32(i)})
	}
	slices.SortFunc(buf, byDistance)
	return buf
}

// rerankRecall reranks the first r of the approximate ranking with exact L2
// and returns the recall@10 of the result against the ground truth.
func rerankRecall(s *dataset.Set, qi int, ranked []scored, r int, buf []scored) float64 {
	q := s.Query(qi)
	cand := append(buf[:0], ranked[:r]...)
	for i := range cand {
		cand[i].d = kernels.L2Sq(q, s.BaseVec(int(cand[i].id)))
	}
	slices.SortFunc(cand, byDistance)
	var got [10]uint64
	for i := range got {
		got[i] = uint64(cand[i].id)
	}
	return dataset.Recall(got[:], s.GroundTruth[qi], 10)
}

// TestFashionScalar measures int8 quantization on fashion-mnist by brute
// force: the accuracy of the quantized distances, and recall@10 when the
// quantized top r (r = 10, 20, 40) is reranked with exact distances. Global
// and per-dimension ranges are compared.
func TestFashionScalar(t *testing.T) {
	s := loadFashion(t)
	n, dim := s.N(), s.Dim
	nq := min(fashionQueries, s.NQ())
	for _, per := range []bool{false, true} {
		sq, err := TrainScalar(s.Base, dim, ScalarOptions{PerDimension: per})
		if err != nil {
			t.Fatal(err)
		}
		codes := make([]int8, n*dim)
		aux := make([]float32, n)
		for i := 0; i < n; i++ {
			c := codes[i*dim : (i+1)*dim]
			_ = sq.Encode(s.BaseVec(i), c)
			aux[i] = sq.Aux(c, L2)
		}
		p, _ := sq.NewQuery(L2)
		ids := make([]uint32, n)
		for i := range ids {
			ids[i] = uint32(i)
		}
		approx := make([]float32, n)
		ranked := make([]scored, 0, n)
		buf := make([]scored, 0, 64)
		rs := []int{10, 20, 40}
		recall := make([]float64, len(rs))
		var relErr, maxRel float64
		var scan time.Duration
		for qi := 0; qi < nq; qi++ {
			q := s.Query(qi)
			start := time.Now()
			_ = p.Reset(q)
			p.DistanceGather(codes, aux, ids, approx)
			scan += time.Since(start)
			for _, id := range s.GroundTruth[qi][:10] {
				exact := float64(kernels.L2Sq(q, s.BaseVec(int(id))))
				e := math.Abs(float64(approx[id])-exact) / exact
				relErr += e
				maxRel = max(maxRel, e)
			}
			ranked = rankApprox(approx, ranked)
			for j, r := range rs {
				recall[j] += rerankRecall(s, qi, ranked, r, buf)
			}
		}
		for j := range recall {
			recall[j] /= float64(nq)
		}
		t.Logf("int8 per-dimension=%v: rel. error of L2 to the true top 10: mean %.2e, max %.2e; scan %.1f ms/query (%d vectors, %s kernels)",
			per, relErr/float64(nq*10), maxRel, float64(scan.Microseconds())/1000/float64(nq), n, kernels.Impl())
		for j, r := range rs {
			t.Logf("int8 per-dimension=%v: recall@10 reranking the int8 top %d: %.4f", per, r, recall[j])
		}
		// The exact search has recall 1 (up to ties); int8 with a 2x rerank
		// must be within 0.005 of it.
		if recall[1] < 0.995 {
			t.Errorf("per-dimension=%v: recall@10 with a 2x rerank %.4f < 0.995", per, recall[1])
		}
	}
}

// TestFashionPQ8 trains a 16×256 pq8 codebook on the 60 000 fashion-mnist
// vectors (timed: the k-means training figure), then measures recall@10 of
// brute-force ADC search with exact rerank of the top r.
func TestFashionPQ8(t *testing.T) {
	s := loadFashion(t)
	n, dim := s.N(), s.Dim
	const m = 16
	runtime.GC()
	cpu0, start := cputime.Process(), time.Now()
	cb, err := Train(s.Base, dim, m, 8, TrainOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	wall, cpu := time.Since(start), cputime.Process()-cpu0
	t.Logf("k-means: %d subspaces × %d centroids on %d vectors of dim %d: %.1f s wall, %.1f s CPU, GOMAXPROCS %d, kernels %s",
		m, cb.Rows(0), n, dim, wall.Seconds(), cpu.Seconds(), runtime.GOMAXPROCS(0), kernels.Impl())

	codes := make([]uint8, n*m)
	for i := 0; i < n; i++ {
		_ = cb.Encode8(s.BaseVec(i), codes[i*m:(i+1)*m])
	}
	t.Logf("pq8 M=%d: %d bytes per vector (float32: %d, ratio 1/%d)", m, cb.CodeSize(), 4*dim, 4*dim/cb.CodeSize())
	table := make([]float32, cb.TableSize())
	approx := make([]float32, n)
	ranked := make([]scored, 0, n)
	buf := make([]scored, 0, 256)
	nq := min(fashionQueries, s.NQ())
	rs := []int{10, 50, 100, 200}
	recall := make([]float64, len(rs))
	var scan time.Duration
	for qi := 0; qi < nq; qi++ {
		start := time.Now()
		_ = cb.Table(s.Query(qi), L2, table)
		kernels.ADC8(table, codes, approx)
		scan += time.Since(start)
		ranked = rankApprox(approx, ranked)
		for j, r := range rs {
			recall[j] += rerankRecall(s, qi, ranked, r, buf)
		}
	}
	t.Logf("pq8 M=%d: table + ADC scan %.2f ms/query", m, float64(scan.Microseconds())/1000/float64(nq))
	for j, r := range rs {
		recall[j] /= float64(nq)
		t.Logf("pq8 M=%d: recall@10 reranking the ADC top %d: %.4f", m, r, recall[j])
	}
	if recall[2] < 0.95 {
		t.Errorf("recall@10 reranking the top 100: %.4f < 0.95", recall[2])
	}
}

// TestFashionHNSW builds HNSW indexes over fashion-mnist (M=16,
// ef_construction=200) with float32, int8 and pq8 storage and reports
// single-thread recall@10 and QPS per ef_search. The machine is shared and
// its load drifts, so the variants are timed side by side: every query runs
// on each index in turn (rotating which goes first), and each index's time
// is the sum over its own searches. It takes several minutes, so it runs
// only with LSMVEC_PQ_HNSW=1; LSMVEC_PQ_HNSW_CACHE=DIR keeps the built
// indexes there as snapshots for the next run.
func TestFashionHNSW(t *testing.T) {
	if os.Getenv("LSMVEC_PQ_HNSW") == "" {
		t.Skip("set LSMVEC_PQ_HNSW=1 to build the fashion-mnist HNSW comparison (minutes)")
	}
	s := loadFashion(t)
	n, dim := s.N(), s.Dim
	sq, err := TrainScalar(s.Base, dim, ScalarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := Train(s.Base, dim, 16, 8, TrainOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	type variant struct {
		name string
		st   func() hnsw.Storage
		x    *hnsw.Index
	}
	src := viewSource{sliceSource{s.Base, dim}}
	variants := []*variant{
		{name: "f32", st: func() hnsw.Storage { return nil }},
		{name: "i8", st: func() hnsw.Storage { return NewInt8Storage(sq, StorageOptions{}) }},
		{name: "pq8x16", st: func() hnsw.Storage { return NewPQStorage(cb, StorageOptions{}) }},
	}
	if os.Getenv("LSMVEC_PQ_HNSW_SOURCE") != "" {
		variants = append(variants,
			&variant{name: "i8-codes+source", st: func() hnsw.Storage {
				return NewInt8Storage(sq, StorageOptions{CodesOnly: true, Exact: src})
			}},
			&variant{name: "pq8x16-codes+source", st: func() hnsw.Storage {
				return NewPQStorage(cb, StorageOptions{CodesOnly: true, Exact: src})
			}})
	}
	cache := os.Getenv("LSMVEC_PQ_HNSW_CACHE")
	for _, v := range variants {
		st := v.st()
		start := time.Now()
		path := filepath.Join(cache, "fashion-"+strings.ReplaceAll(v.name, "+", "-")+".hnsw")
		if f, err := os.Open(path); cache != "" && err == nil {
			v.x, err = hnsw.Read(f, st)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
		} else {
			v.x = buildFashion(t, s, st)
			if cache != "" {
				f, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := v.x.WriteTo(f); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
		}
		defer v.x.Close()
		vecBytes := int64(n) * int64(dim) * 4
		if st != nil {
			vecBytes = st.MemoryBytes()
		}
		t.Logf("%-20s build or load %.1f s (%d threads); index memory %.1f MB, vector storage %.1f MB (%.0f bytes/vector)",
			v.name, time.Since(start).Seconds(), runtime.GOMAXPROCS(0), float64(v.x.Stats().MemoryBytes)/1e6, float64(vecBytes)/1e6, float64(vecBytes)/float64(n))
	}
	// Single-thread QPS by the searching thread's CPU time: blocks of
	// queries run on each index in turn on one locked OS thread, three
	// times, and each index is charged the least thread CPU time of each of
	// its blocks (wall time on this shared machine mostly measures the other
	// jobs, and the minimum drops the blocks that shared a core's caches
	// with them).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	nq := min(2000, s.NQ())
	const reps, block = 3, 50
	res := make([]hnsw.Result, 0, 256)
	got := make([]uint64, 0, 10)
	t.Logf("%-20s %5s %8s %10s %10s", "storage", "ef", "recall", "QPS(cpu)", "QPS(wall)")
	for _, ef := range []int{10, 12, 14, 16, 20, 24, 32, 48, 64, 96, 128} {
		cpu := make([]time.Duration, len(variants))
		wall := make([]time.Duration, len(variants))
		recall := make([]float64, len(variants))
		for b0 := 0; b0 < nq; b0 += block {
			for j := range variants {
				vi := (j + b0/block) % len(variants)
				x := variants[vi].x
				bestCPU, bestWall := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
				for rep := 0; rep < reps; rep++ {
					c0, w0 := cputime.Thread(), time.Now()
					for qi := b0; qi < min(b0+block, nq); qi++ {
						res = x.Search(s.Query(qi), 10, ef, res[:0])
						if rep == 0 {
							got = got[:0]
							for _, r := range res {
								got = append(got, r.ID)
							}
							recall[vi] += dataset.Recall(got, s.GroundTruth[qi], 10)
						}
					}
					bestCPU = min(bestCPU, cputime.Thread()-c0)
					bestWall = min(bestWall, time.Since(w0))
				}
				cpu[vi] += bestCPU
				wall[vi] += bestWall
			}
		}
		for vi, v := range variants {
			t.Logf("%-20s %5d %8.4f %10.0f %10.0f", v.name, ef, recall[vi]/float64(nq),
				float64(nq)/cpu[vi].Seconds(), float64(nq)/wall[vi].Seconds())
		}
	}
}

// buildFashion inserts the fashion-mnist base into a new index on all cores.
func buildFashion(t *testing.T, s *dataset.Set, st hnsw.Storage) *hnsw.Index {
	n := s.N()
	x, err := hnsw.New(hnsw.Options{Dim: s.Dim, M: 16, EfConstruction: 200, Storage: st, RepairInterval: -1, Capacity: n})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := x.Add(uint64(i), s.BaseVec(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return x
}
