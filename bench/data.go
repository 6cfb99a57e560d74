package bench

import (
	"fmt"
	"time"

	"github.com/lsmvec/lsmvec/bench/dataset"
)

// loadData loads the data set cfg names, with ground truth for at least
// cfg.K neighbours, limited to cfg.NQ queries.
func loadData(cfg *Config) (*dataset.Set, DataInfo, error) {
	var set *dataset.Set
	info := DataInfo{K: cfg.K, Metric: cfg.Metric}
	if cfg.Dataset != "" {
		s, err := dataset.Load(cfg.Dataset)
		if err != nil {
			return nil, info, err
		}
		set = s
		info.GroundTruth = "file (shared data set)"
		if len(s.GroundTruth) > 0 && len(s.GroundTruth[0]) < cfg.K {
			return nil, info, fmt.Errorf("cannot use data set %s: %w: ground truth holds %d neighbours, k = %d",
				s.Name, ErrInvalidConfig, len(s.GroundTruth[0]), cfg.K)
		}
	} else {
		s, gtInfo, secs, err := loadFiles(cfg)
		if err != nil {
			return nil, info, err
		}
		set, info.GroundTruth, info.GTSeconds = s, gtInfo, secs
	}
	set = set.FirstQueries(cfg.NQ)
	info.Name, info.N, info.NQ, info.Dim = set.Name, set.N(), set.NQ(), set.Dim
	return set, info, nil
}

// loadFiles reads cfg.Base and cfg.Queries, and the ground truth from
// cfg.GT or the cache.
func loadFiles(cfg *Config) (*dataset.Set, string, float64, error) {
	base, _, bdim, err := dataset.ReadFile(cfg.Base)
	if err != nil {
		return nil, "", 0, fmt.Errorf("cannot read base vectors: %w", err)
	}
	queries, _, qdim, err := dataset.ReadFile(cfg.Queries)
	if err != nil {
		return nil, "", 0, fmt.Errorf("cannot read queries: %w", err)
	}
	if bdim != qdim {
		return nil, "", 0, fmt.Errorf("cannot use %s and %s: %w: base dimension %d, query dimension %d",
			cfg.Base, cfg.Queries, dataset.ErrMalformed, bdim, qdim)
	}
	if len(base) == 0 || len(queries) == 0 {
		return nil, "", 0, fmt.Errorf("cannot use %s and %s: %w: no vectors", cfg.Base, cfg.Queries, dataset.ErrMalformed)
	}
	set := &dataset.Set{Name: baseName(cfg.Base), Dim: bdim, Base: base, Queries: queries, Metric: cfg.Metric}
	var gtInfo string
	var secs float64
	if cfg.GT != "" {
		gt, err := dataset.ReadIDsFile(cfg.GT)
		if err != nil {
			return nil, "", 0, fmt.Errorf("cannot read ground truth: %w", err)
		}
		if len(gt) != set.NQ() {
			return nil, "", 0, fmt.Errorf("cannot use ground truth %s: %w: %d rows for %d queries",
				cfg.GT, dataset.ErrMalformed, len(gt), set.NQ())
		}
		for i, row := range gt {
			if len(row) < min(cfg.K, set.N()) {
				return nil, "", 0, fmt.Errorf("cannot use ground truth %s: %w: row %d holds %d neighbours, k = %d",
					cfg.GT, ErrInvalidConfig, i, len(row), cfg.K)
			}
		}
		set.GroundTruth = gt
		gtInfo = "file " + cfg.GT
	} else {
		bar := newProgress(cfg.Progress, "ground truth", 1)
		start := time.Now()
		gt, path, cached, err := cfg.GTCache.GroundTruthCached(cfg.Base, base, queries, bdim, cfg.K, cfg.Metric)
		bar.Done()
		secs = time.Since(start).Seconds()
		switch {
		case gt == nil:
			return nil, "", 0, err
		case err != nil:
			logf(cfg.Log, "ground truth computed but not cached: %v", err)
			gtInfo = "computed (not cached)"
		case cached:
			gtInfo = "cache " + path
		default:
			gtInfo = "computed, cached at " + path
		}
		set.GroundTruth = gt
	}
	if err := set.Validate(); err != nil {
		return nil, "", 0, err
	}
	return set, gtInfo, secs, nil
}

// baseName returns a file name without its folder and its extensions.
func baseName(path string) string {
	name := path
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			name = name[i+1:]
			break
		}
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '.' && i > 0 {
			return name[:i]
		}
	}
	return name
}
