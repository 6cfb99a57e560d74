package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
)

// searchFunc searches for the K nearest neighbours of q, query number qi of
// the data set, with ef_search ef and appends their ids, nearest first, to
// ids (an engine may use qi to reuse a pre-encoded request). One searchFunc serves one
// goroutine at a time and may keep scratch space between calls.
type searchFunc func(qi int, q []float32, k, ef int, ids []uint64) ([]uint64, error)

// engine is a built index being measured.
type engine interface {
	// searcher returns a new searchFunc for one goroutine.
	searcher() searchFunc
	// close releases the index.
	close() error
}

// Run measures every (mode, quantization) pair of cfg on one data set, and
// hnswlib-ref beside them when it is available (see Config.HNSWLib): build,
// then an ef_search sweep of recall@K, single- and N-thread QPS and
// single-thread latency. A pair that cannot run (ErrNotAvailable, a server
// error) is recorded in Report.Notes and the others go on; Run fails only
// on bad configuration, unreadable data, cancellation, or when no pair ran.
// It uses all of the machine: run one at a time.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{
		Machine: ThisMachine(),
		Command: cfg.Command,
		Started: start.UTC().Truncate(time.Second),
		Targets: cfg.Targets,
	}
	set, info, err := loadData(&cfg)
	if err != nil {
		return nil, err
	}
	rep.Data = info
	pqm, err := cfg.pqM(set.Dim)
	if err != nil {
		return nil, err
	}
	rep.Params = Params{M: cfg.M, M0: cfg.M0, EfConstruction: cfg.EfConstruction, PQM: pqm,
		BuildThreads: cfg.BuildThreads, Threads: cfg.Threads, MinTimeSeconds: cfg.MinTime.Seconds()}
	logf(cfg.Log, "data set %s: %d × %d, %d queries, %s, k=%d, ground truth %s",
		info.Name, info.N, info.Dim, info.NQ, info.Metric, info.K, info.GroundTruth)

	note := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		rep.Notes = append(rep.Notes, s)
		logf(cfg.Log, "NOTE: %s", s)
	}

	if bin, ok, why := cfg.hnswlibPath(set); ok {
		logf(cfg.Log, "hnswlib-ref (%s): building and sweeping", bin)
		run, err := RunHNSWLib(ctx, bin, set.Name, cfg.M, cfg.EfConstruction, cfg.BuildThreads, set.NQ())
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			note("hnswlib-ref: %v", err)
		} else {
			if cfg.M0 != 2*cfg.M {
				note("hnswlib uses 2·M = %d links on level 0, lsmvec m0 = %d", 2*cfg.M, cfg.M0)
			}
			run.finish(cfg.Targets)
			rep.Runs = append(rep.Runs, run)
			logf(cfg.Log, "hnswlib-ref: build %.1fs", run.Build.BuildSeconds)
		}
	} else if why != "" {
		note("hnswlib-ref: %s", why)
	}

	var local Server
	defer func() {
		if local != nil {
			if err := local.Close(); err != nil {
				logf(cfg.Log, "cannot stop the in-process server: %v", err)
			}
		}
	}()
	for _, mode := range cfg.Modes {
		for _, quant := range cfg.Quants {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			name := fmt.Sprintf("lsmvec %s %s", quant, mode)
			run := RunResult{Name: name, Engine: EngineLSMVec, Mode: mode, Quant: quant}
			var eng engine
			var err error
			switch mode {
			case ModeInProcess:
				eng, run.Build, err = buildInProcess(ctx, &cfg, set, quant, pqm)
			case ModeHTTP:
				url := cfg.URL
				if url == "" {
					if local == nil {
						if cfg.LocalServer == nil {
							note("%s: %v: no server URL and no in-process server in this build", name, ErrNotAvailable)
							continue
						}
						local, err = cfg.LocalServer(cfg.BuildThreads)
						if err != nil {
							note("%s: %v", name, err)
							continue
						}
					}
					url = local.URL()
				}
				eng, run.Build, err = buildHTTP(ctx, &cfg, url, local, set, quant, pqm)
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				note("%s: %v", name, err)
				continue
			}
			logf(cfg.Log, "%s: train %.1fs, load %.1fs, build %.1fs (%.0f vectors/s), %.0f bytes/vector",
				name, run.Build.TrainSeconds, run.Build.LoadSeconds, run.Build.BuildSeconds, run.Build.LoadRate, run.Build.BytesPerVector)
			run.Points, err = sweep(ctx, &cfg, set, eng, name)
			if cerr := eng.close(); cerr != nil && err == nil {
				err = cerr
			}
			eng = nil
			freeMemory()
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				note("%s: %v", name, err)
				continue
			}
			run.finish(cfg.Targets)
			rep.Runs = append(rep.Runs, run)
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	if !hasLSMVec(rep) {
		return rep, fmt.Errorf("cannot benchmark %s: no lsmvec configuration ran: %w", set.Name, errors.Join(noteErrs(rep.Notes)...))
	}
	return rep, nil
}

func hasLSMVec(r *Report) bool {
	for _, run := range r.Runs {
		if run.Engine == EngineLSMVec {
			return true
		}
	}
	return false
}

func noteErrs(notes []string) []error {
	errs := make([]error, len(notes))
	for i, n := range notes {
		errs[i] = errors.New(n)
	}
	return errs
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, time.Now().Format("15:04:05 ")+format+"\n", args...)
	}
}

// freeMemory returns freed memory to the OS, so that the next build's RSS
// figures start from the data set alone.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// maxLatencies caps the latency samples kept per measurement.
const maxLatencies = 1 << 20

// warmQueries run untimed before each ef's measurement.
const warmQueries = 50

// sweep measures eng at every ef of cfg.Efs: recall@K over the queries,
// single-thread QPS and latency percentiles, and cfg.Threads-thread QPS.
// Each timed measurement repeats the query set until cfg.MinTime has
// passed.
func sweep(ctx context.Context, cfg *Config, set *dataset.Set, eng engine, name string) ([]Point, error) {
	nq, k := set.NQ(), cfg.K
	if nq == 0 {
		return nil, fmt.Errorf("cannot sweep: %w: no queries", ErrInvalidConfig)
	}
	pts := make([]Point, 0, len(cfg.Efs))
	bar := newProgress(cfg.Progress, name+" sweep", len(cfg.Efs))
	defer bar.Done()
	search := eng.searcher()
	got := make([]uint64, 0, k)
	lat := make([]float64, 0, min(maxLatencies, 4*nq))
	for _, ef := range cfg.Efs {
		var err error
		for i := range min(nq, warmQueries) {
			if got, err = search(i, set.Query(i), k, ef, got[:0]); err != nil {
				return nil, err
			}
		}
		var recall float64
		lat = lat[:0]
		count := 0
		start := time.Now()
		for pass := 0; ; pass++ {
			for i := range nq {
				t0 := time.Now()
				got, err = search(i, set.Query(i), k, ef, got[:0])
				d := time.Since(t0)
				if err != nil {
					return nil, err
				}
				if len(lat) < maxLatencies {
					lat = append(lat, float64(d.Nanoseconds())/1e3)
				}
				if pass == 0 {
					recall += dataset.Recall(got, set.GroundTruth[i], k)
				}
			}
			count += nq
			if time.Since(start) >= cfg.MinTime {
				break
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		p := Point{
			Ef:     ef,
			Recall: recall / float64(nq),
			QPS:    float64(count) / time.Since(start).Seconds(),
		}
		p.P50 = Percentile(lat, 50)
		p.P99 = Percentile(lat, 99)
		if cfg.Threads > 1 {
			if p.QPSThreads, err = parallelQPS(ctx, cfg, set, eng, ef); err != nil {
				return nil, err
			}
		}
		pts = append(pts, p)
		bar.Add(1)
		logf(cfg.Log, "%s ef=%d recall@%d=%.4f qps=%.0f qps(%d threads)=%.0f p50=%.0fµs p99=%.0fµs",
			name, ef, k, p.Recall, p.QPS, cfg.Threads, p.QPSThreads, p.P50, p.P99)
	}
	return pts, nil
}

// parallelQPS runs the query set on cfg.Threads goroutines, each with its
// own searcher, until cfg.MinTime has passed, and returns queries per
// second.
func parallelQPS(ctx context.Context, cfg *Config, set *dataset.Set, eng engine, ef int) (float64, error) {
	nq, k := set.NQ(), cfg.K
	searchers := make([]searchFunc, cfg.Threads)
	for i := range searchers {
		searchers[i] = eng.searcher()
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	count := 0
	start := time.Now()
	for {
		var next atomic.Int64
		for _, s := range searchers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got := make([]uint64, 0, k)
				for {
					i := int(next.Add(1) - 1)
					if i >= nq {
						return
					}
					var err error
					if got, err = s(i, set.Query(i), k, ef, got[:0]); err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						next.Store(int64(nq))
						return
					}
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return 0, firstErr
		}
		count += nq
		if time.Since(start) >= cfg.MinTime {
			break
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
	return float64(count) / time.Since(start).Seconds(), nil
}
