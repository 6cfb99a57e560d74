package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

// Metrics use github.com/prometheus/client_golang: it is already in the
// module graph (Pebble depends on it), it exposes standard Prometheus
// histograms with `le` buckets that any Prometheus aggregates (the lighter
// VictoriaMetrics/metrics package only has its own vmrange histograms), and
// counters and observers resolved once per route update with atomics and no
// allocation. Each Server has its own Registry: no global state.

// metricsSet holds one Server's collectors. It is safe for concurrent use.
type metricsSet struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetricsSet(db *store.DB) *metricsSet {
	m := &metricsSet{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lsmvec_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lsmvec_http_request_duration_seconds",
			Help:    "HTTP request latency by route, from routing to the response being ready.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route"}),
	}
	m.reg.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		storeCollector{db})
	return m
}

// storeCollector reads the store's figures at scrape time: per-collection
// sizes and Pebble's metrics. It is an unchecked collector (Describe sends
// nothing) because the collection labels change at run time.
type storeCollector struct{ db *store.DB }

var (
	descCollVectors    = prometheus.NewDesc("lsmvec_collection_vectors", "Live vectors per collection.", []string{"collection"}, nil)
	descCollTombstones = prometheus.NewDesc("lsmvec_collection_tombstones", "Deleted nodes still linked in the collection's graph.", []string{"collection"}, nil)
	descCollMemory     = prometheus.NewDesc("lsmvec_collection_index_memory_bytes", "Estimated memory of the collection's index.", []string{"collection"}, nil)
	descCollPending    = prometheus.NewDesc("lsmvec_collection_writes_since_checkpoint", "Writes a restart would replay.", []string{"collection"}, nil)
)

type engineFigure struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	get  func(*store.EngineStats) float64
}

func engineDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("lsmvec_pebble_"+name, help, nil, nil)
}

var engineFigures = []engineFigure{
	{engineDesc("bloom_hits_total", "Point lookups a bloom filter answered absent."), prometheus.CounterValue, func(e *store.EngineStats) float64 { return float64(e.BloomHits) }},
	{engineDesc("bloom_misses_total", "Point lookups a bloom filter let through."), prometheus.CounterValue, func(e *store.EngineStats) float64 { return float64(e.BloomMisses) }},
	{engineDesc("compactions_total", "Completed compactions."), prometheus.CounterValue, func(e *store.EngineStats) float64 { return float64(e.Compactions) }},
	{engineDesc("compaction_bytes_total", "Bytes written by compactions."), prometheus.CounterValue, func(e *store.EngineStats) float64 { return float64(e.CompactionBytes) }},
	{engineDesc("flushes_total", "Memtable flushes."), prometheus.CounterValue, func(e *store.EngineStats) float64 { return float64(e.Flushes) }},
	{engineDesc("disk_usage_bytes", "Pebble's on-disk size (tables, WAL, manifest)."), prometheus.GaugeValue, func(e *store.EngineStats) float64 { return float64(e.DiskUsageBytes) }},
	{engineDesc("checkpoint_bytes", "Size of the index checkpoint files."), prometheus.GaugeValue, func(e *store.EngineStats) float64 { return float64(e.CheckpointBytes) }},
	{engineDesc("tables", "Live sstables."), prometheus.GaugeValue, func(e *store.EngineStats) float64 { return float64(e.Tables) }},
	{engineDesc("memtable_bytes", "Memtable size."), prometheus.GaugeValue, func(e *store.EngineStats) float64 { return float64(e.MemTableBytes) }},
	{engineDesc("block_cache_bytes", "Block cache size."), prometheus.GaugeValue, func(e *store.EngineStats) float64 { return float64(e.BlockCacheBytes) }},
	{engineDesc("block_cache_hits_total", "Block cache hits."), prometheus.CounterValue, func(e *store.EngineStats) float64 { return float64(e.BlockCacheHits) }},
	{engineDesc("block_cache_misses_total", "Block cache misses."), prometheus.CounterValue, func(e *store.EngineStats) float64 { return float64(e.BlockCacheMiss) }},
	{engineDesc("wal_bytes", "Write-ahead log size."), prometheus.GaugeValue, func(e *store.EngineStats) float64 { return float64(e.WALBytes) }},
	{engineDesc("read_amplification", "Pebble's read amplification."), prometheus.GaugeValue, func(e *store.EngineStats) float64 { return float64(e.ReadAmp) }},
}

func (storeCollector) Describe(chan<- *prometheus.Desc) {}

func (sc storeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ci := range sc.db.Collections() {
		c, err := sc.db.Collection(ci.Name)
		if err != nil {
			continue
		}
		st, err := c.Stats()
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descCollVectors, prometheus.GaugeValue, float64(st.Live), ci.Name)
		ch <- prometheus.MustNewConstMetric(descCollTombstones, prometheus.GaugeValue, float64(st.Tombstones), ci.Name)
		ch <- prometheus.MustNewConstMetric(descCollMemory, prometheus.GaugeValue, float64(st.MemoryBytes), ci.Name)
		ch <- prometheus.MustNewConstMetric(descCollPending, prometheus.GaugeValue, float64(st.WritesSinceCheckpoint), ci.Name)
	}
	es := sc.db.EngineStats()
	for _, f := range engineFigures {
		ch <- prometheus.MustNewConstMetric(f.desc, f.typ, f.get(&es))
	}
}

// commonStatuses are pre-resolved per route so the hot path looks up a
// counter by index instead of building label strings.
var commonStatuses = [...]int{200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503}

// routeMetrics are one route's pre-resolved collectors.
type routeMetrics struct {
	name     string
	requests *prometheus.CounterVec
	byStatus [len(commonStatuses)]prometheus.Counter
	duration prometheus.Observer
}

func (m *metricsSet) route(name string) *routeMetrics {
	rm := &routeMetrics{name: name, requests: m.requests, duration: m.duration.WithLabelValues(name)}
	for i, st := range commonStatuses {
		rm.byStatus[i] = m.requests.WithLabelValues(name, strconv.Itoa(st))
	}
	return rm
}

// observe counts one request with its status and latency in seconds.
func (rm *routeMetrics) observe(status int, seconds float64) {
	rm.duration.Observe(seconds)
	for i, st := range commonStatuses {
		if st == status {
			rm.byStatus[i].Inc()
			return
		}
	}
	rm.requests.WithLabelValues(rm.name, strconv.Itoa(status)).Inc()
}

// serveMetrics writes every collector in the Prometheus text format.
func (s *Server) serveMetrics(ctx *fasthttp.RequestCtx) {
	mfs, err := s.metrics.reg.Gather()
	if err != nil && len(mfs) == 0 {
		s.writeError(ctx, err)
		return
	}
	ctx.SetContentType(string(expfmt.FmtText))
	enc := expfmt.NewEncoder(ctx, expfmt.FmtText)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			s.writeError(ctx, err)
			return
		}
	}
}
