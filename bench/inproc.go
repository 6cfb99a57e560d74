package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/hnsw"
	"github.com/lsmvec/lsmvec/pq"
)

// inProcess is an hnsw.Index built in this process.
type inProcess struct{ x *hnsw.Index }

func (e *inProcess) searcher() searchFunc {
	res := make([]hnsw.Result, 0, 256)
	x := e.x
	return func(_ int, q []float32, k, ef int, ids []uint64) ([]uint64, error) {
		res = x.Search(q, k, ef, res[:0])
		for _, r := range res {
			ids = append(ids, r.ID)
		}
		return ids, nil
	}
}

func (e *inProcess) close() error {
	e.x.Close()
	e.x = nil
	return nil
}

// newStorage trains the quantizer of quant on set's base vectors and
// returns the storage to build the index on (nil for f32: the index's
// default Float32Storage). The quantized storages keep a float32 copy for
// the rerank, as the store's indexes do.
func newStorage(set *dataset.Set, quant string, pqm int, seed uint64) (hnsw.Storage, error) {
	switch quant {
	case QuantF32:
		return nil, nil
	case QuantI8:
		sq, err := pq.TrainScalar(set.Base, set.Dim, pq.ScalarOptions{Seed: seed})
		if err != nil {
			return nil, fmt.Errorf("cannot train the int8 quantizer: %w", err)
		}
		return pq.NewInt8Storage(sq, pq.StorageOptions{}), nil
	case QuantPQ8:
		cb, err := pq.Train(set.Base, set.Dim, pqm, 8, pq.TrainOptions{Seed: seed})
		if err != nil {
			return nil, fmt.Errorf("cannot train the pq8 codebook: %w", err)
		}
		return pq.NewPQStorage(cb, pq.StorageOptions{}), nil
	}
	return nil, fmt.Errorf("cannot build storage %q: %w", quant, ErrNotAvailable)
}

// buildInProcess trains quant's quantizer and inserts set's base vectors
// into a new index on cfg.BuildThreads goroutines.
func buildInProcess(ctx context.Context, cfg *Config, set *dataset.Set, quant string, pqm int) (engine, Build, error) {
	var b Build
	metric, err := hnsw.ParseMetric(set.Metric)
	if err != nil {
		return nil, b, err
	}
	freeMemory()
	before, memErr := ReadMemStatus()
	t0 := time.Now()
	st, err := newStorage(set, quant, pqm, cfg.Seed)
	if err != nil {
		return nil, b, err
	}
	if st != nil {
		b.TrainSeconds = time.Since(t0).Seconds()
	}
	n := set.N()
	x, err := hnsw.New(hnsw.Options{
		Dim: set.Dim, Metric: metric, M: cfg.M, M0: cfg.M0, EfConstruction: cfg.EfConstruction,
		Storage: st, Capacity: n, RepairInterval: -1,
	})
	if err != nil {
		return nil, b, fmt.Errorf("cannot create index: %w", err)
	}
	bar := newProgress(cfg.Progress, fmt.Sprintf("lsmvec %s inproc build", quant), n)
	start := time.Now()
	err = parallelFor(ctx, n, cfg.BuildThreads, func(i int) error {
		if err := x.Add(uint64(i), set.BaseVec(i)); err != nil {
			return fmt.Errorf("cannot add vector %d: %w", i, err)
		}
		bar.Add(1)
		return nil
	})
	bar.Done()
	if err != nil {
		x.Close()
		return nil, b, err
	}
	b.BuildSeconds = time.Since(start).Seconds()
	b.LoadRate = float64(n) / b.BuildSeconds
	b.MemoryBytes = x.Stats().MemoryBytes
	b.BytesPerVector = float64(b.MemoryBytes) / float64(n)
	if after, err := ReadMemStatus(); err == nil && memErr == nil {
		b.RSS, b.HWM, b.RSSDelta = after.RSS, after.HWM, after.RSS-before.RSS
	}
	return &inProcess{x: x}, b, nil
}

// parallelFor calls fn(i) for every i in [0, n) on threads goroutines and
// returns the first error; it stops early on an error or when ctx ends.
func parallelFor(ctx context.Context, n, threads int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		next.Store(int64(n))
	}
	for range max(threads, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if i%1024 == 0 && ctx.Err() != nil {
					fail(ctx.Err())
					return
				}
				if err := fn(i); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
