package store

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPut measures durable single-vector inserts (each acknowledged
// after its synced Pebble commit) with 1 and 8 concurrent writers, on a
// collection without an index (the durable write path alone) and with one
// (write path plus graph insert). Compare writers=8 to writers=1: the
// group commit shares one fsync among concurrent commits.
//
//	go test -run '^$' -bench BenchmarkPut -benchtime 3000x ./store
func BenchmarkPut(b *testing.B) {
	for _, index := range []bool{false, true} {
		for _, writers := range []int{1, 8} {
			name := fmt.Sprintf("index=%v/writers=%d", map[bool]string{false: "none", true: "hnsw"}[index], writers)
			b.Run(name, func(b *testing.B) { benchPut(b, index, writers) })
		}
	}
}

func benchPut(b *testing.B, index bool, writers int) {
	const dim = 32
	opts := testOptions(b, b.TempDir())
	opts.CheckpointInterval = -1
	opts.CheckpointWrites = 1 << 30
	db := openT(b, opts)
	defer closeT(b, db)
	cfg := CollectionConfig{Name: "bench", Dim: dim, Family: FamilyV1}
	if index {
		cfg.Index = &IndexConfig{M: 16, EfConstruction: 100}
	}
	c, err := db.CreateCollection(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	vecs := make([][]float32, 4096)
	for i := range vecs {
		vecs[i] = randVec(rng, dim)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(dim * 4)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if err := c.Put(uint64(i), vecs[i%int64(len(vecs))]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}

// BenchmarkGroupCommit measures the speedup of 8 concurrent durable writers
// over 1, side by side: it alternates phases of one writer and of eight on
// the same database (index=none: the durable write path alone) and reports
// the ratio of their write rates as "speedup". b.N is the number of phase
// pairs.
//
//	go test -run '^$' -bench BenchmarkGroupCommit -benchtime 10x ./store
func BenchmarkGroupCommit(b *testing.B) {
	const dim, perPhase = 32, 300
	opts := testOptions(b, b.TempDir())
	opts.CheckpointInterval = -1
	db := openT(b, opts)
	defer closeT(b, db)
	c, err := db.CreateCollection(CollectionConfig{Name: "bench", Dim: dim, Family: FamilyV1})
	if err != nil {
		b.Fatal(err)
	}
	vec := randVec(rand.New(rand.NewSource(1)), dim)
	var id atomic.Uint64
	phase := func(writers int) time.Duration {
		var wg sync.WaitGroup
		var left atomic.Int64
		left.Store(perPhase * int64(writers))
		start := time.Now()
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					if err := c.Put(id.Add(1), vec); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	var t1, t8 time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t1 += phase(1)
		t8 += phase(8)
	}
	r1 := float64(b.N*perPhase) / t1.Seconds()
	r8 := float64(b.N*perPhase*8) / t8.Seconds()
	b.ReportMetric(r1, "writes/s(1)")
	b.ReportMetric(r8, "writes/s(8)")
	b.ReportMetric(r8/r1, "speedup")
}
