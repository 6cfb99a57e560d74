package soak

import (
	"math/bits"
	"time"
)

// kind is one operation of the mix.
type kind int

const (
	kindSearch kind = iota // POST /v1/search (a quarter of them filtered)
	kindInsert             // POST /v1/vectors with metadata: replaces vector and payload
	kindUpsert             // PUT /v1/vectors/:id: replaces the vector, keeps the payload
	kindBatch              // POST /v1/vectors/batch of a few ids with metadata
	kindDelete             // DELETE /v1/vectors/:id
	kindPatch              // PATCH /v1/vectors/:id/payload (RFC 7396)
	numKinds
)

var kindNames = [numKinds]string{"search", "insert", "upsert", "batch", "delete", "patch"}

func (k kind) String() string { return kindNames[k] }

// histBuckets covers 0 to 2^64 ns: 32 exact buckets below 32 ns, then 16
// linear sub-buckets per power of two (at most 6.25% wide).
const histBuckets = 32 + 59*16

// hist is a latency histogram. It is not safe for concurrent use: each
// client goroutine keeps its own and the harness merges them.
type hist struct {
	n      [histBuckets]uint64
	count  uint64
	max    time.Duration
	sumSec float64
}

func bucketOf(ns uint64) int {
	if ns < 32 {
		return int(ns)
	}
	e := bits.Len64(ns) // 6..64
	sub := (ns >> uint(e-5)) & 15
	return 32 + (e-6)*16 + int(sub)
}

// bucketUpper returns the largest value that falls in bucket i.
func bucketUpper(i int) uint64 {
	if i < 32 {
		return uint64(i)
	}
	e := (i-32)/16 + 6
	sub := uint64((i - 32) % 16)
	lo := (16 + sub) << uint(e-5)
	return lo + (1 << uint(e-5)) - 1
}

func (h *hist) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.n[bucketOf(uint64(d))]++
	h.count++
	h.sumSec += d.Seconds()
	if d > h.max {
		h.max = d
	}
}

func (h *hist) merge(o *hist) {
	for i := range h.n {
		h.n[i] += o.n[i]
	}
	h.count += o.count
	h.sumSec += o.sumSec
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns an upper bound of the q-quantile (0 < q ≤ 1) that is at
// most 6.25% above it, capped at the largest value seen; 0 when empty.
func (h *hist) quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := uint64(q * float64(h.count))
	if float64(rank) < q*float64(h.count) {
		rank++
	}
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i, c := range h.n {
		cum += c
		if cum >= rank {
			d := time.Duration(bucketUpper(i))
			if d > h.max {
				d = h.max
			}
			return d
		}
	}
	return h.max
}

// kindStats counts one kind's operations.
type kindStats struct {
	lat       hist   // answered requests (any status)
	ok        uint64 // the expected 2xx (or 404 where the ledger expects absent)
	status5xx uint64
	// bad counts answers the ledger contradicts or that are malformed:
	// unexpected statuses below 500, wrong search results, patch results
	// that differ from the ledger's.
	bad       uint64
	transport uint64 // requests without an answer
}

func (k *kindStats) merge(o *kindStats) {
	k.lat.merge(&o.lat)
	k.ok += o.ok
	k.status5xx += o.status5xx
	k.bad += o.bad
	k.transport += o.transport
}

// RSSSample is one reading of the server's VmRSS, with the server's own
// memory figures read at the same time (zero when they could not be read)
// to tell where a growth comes from.
type RSSSample struct {
	// T is the time since the phase started, in seconds.
	T float64 `json:"t_s"`
	// MiB is VmRSS in MiB.
	MiB float64 `json:"mib"`
	// HeapMiB is the Go heap in use (go_memstats_heap_inuse_bytes of
	// /metrics).
	HeapMiB float64 `json:"heap_mib,omitempty"`
	// IndexMiB is /v1/stats memory_bytes: graph and payload index.
	IndexMiB float64 `json:"index_mib,omitempty"`
	// CacheMiB and MemtableMiB are Pebble's block cache and memtables.
	CacheMiB    float64 `json:"cache_mib,omitempty"`
	MemtableMiB float64 `json:"memtable_mib,omitempty"`
	// Vectors and Tombstones are the /v1 collection's live and deleted
	// graph nodes.
	Vectors    int64 `json:"vectors,omitempty"`
	Tombstones int64 `json:"tombstones,omitempty"`
}

// RSSTrend summarizes the memory samples of the soak phase after warm-up.
//
// The server's RSS is not stationary even when nothing leaks: Pebble
// allocates its memtables (64 MiB each with the store's defaults, growing
// from smaller ones at start) and its block cache outside the Go heap, and
// a memtable's pages become resident as writes fill it, so under a steady
// write load RSS climbs by up to a memtable's size and drops at the next
// rotation, a sawtooth with a period of minutes. A least-squares slope of
// RSS over a few minutes measures the sawtooth's phase, not a leak. So the
// verdict is:
//
//   - the Go heap in use (where the graph, the payload index, buffers and
//     goroutines live) must not trend: its least-squares slope over the
//     second half at most MaxHeapSlope MiB/min and its last/first ratio at
//     most MaxHeapRatio;
//   - RSS must stay under a ceiling that the bounded parts explain: twice
//     the largest Go heap (GOGC=100 lets the heap reach twice the live
//     data before a collection), twice the largest Pebble memtable figure
//     (the mutable memtable plus one being flushed or kept for reuse),
//     the largest block cache, plus RSSSlack for the binary, stacks and
//     the runtime.
//
// RSS's own slope and ratio are reported, not judged.
type RSSTrend struct {
	// Samples is the number of readings in the whole phase.
	Samples int `json:"samples"`
	// MaxMiB is the largest RSS reading after warm-up.
	MaxMiB float64 `json:"max_mib"`
	// WarmupS is the warm-up the trend ignores, in seconds.
	WarmupS float64 `json:"warmup_s"`
	// SecondHalfS is the length of the phase's second half that the slopes
	// are fitted over, in seconds.
	SecondHalfS float64 `json:"second_half_s"`
	// RSS and Heap are the trends of VmRSS and of the Go heap in use.
	RSS  Trend `json:"rss"`
	Heap Trend `json:"heap"`
	// CeilingMiB is the RSS ceiling the bounded parts explain (see above).
	CeilingMiB float64 `json:"ceiling_mib"`
	// Judged is false when the run is too short to judge (or the server's
	// memory figures could not be read); then Stable says nothing.
	Judged bool `json:"judged"`
	// Stable reports the heap trend and the RSS ceiling within bounds.
	Stable bool `json:"stable"`
}

// Trend is one series' growth after warm-up.
type Trend struct {
	// FirstMiB is the mean of the first few readings after warm-up;
	// LastMiB the mean of the last few; Ratio is LastMiB/FirstMiB.
	FirstMiB float64 `json:"first_mib"`
	LastMiB  float64 `json:"last_mib"`
	Ratio    float64 `json:"ratio"`
	// SlopeMiBPerMin is the least-squares slope over the second half of
	// the phase, in MiB per minute.
	SlopeMiBPerMin float64 `json:"slope_mib_per_min"`
}

// rssWindow is how many readings FirstMiB and LastMiB average.
const rssWindow = 5

// trendBounds are the limits trendOf judges against.
type trendBounds struct {
	warmup, span, minSpan  float64 // seconds
	maxHeapSlope, maxRatio float64
	slackMiB               float64
}

// trendOf computes the memory trend of samples taken over a phase of
// span seconds.
func trendOf(samples []RSSSample, b trendBounds) RSSTrend {
	t := RSSTrend{Samples: len(samples), WarmupS: b.warmup}
	var after, half []RSSSample
	var heapMax, memMax, cacheMax float64
	heapOK := true
	for _, s := range samples {
		heapMax, memMax, cacheMax = max(heapMax, s.HeapMiB), max(memMax, s.MemtableMiB), max(cacheMax, s.CacheMiB)
		if s.T >= b.warmup {
			after = append(after, s)
			t.MaxMiB = max(t.MaxMiB, s.MiB)
			heapOK = heapOK && s.HeapMiB > 0
		}
		if s.T >= b.span/2 {
			half = append(half, s)
		}
	}
	rss := func(s RSSSample) float64 { return s.MiB }
	heap := func(s RSSSample) float64 { return s.HeapMiB }
	t.RSS = trendSeries(after, half, rss)
	t.Heap = trendSeries(after, half, heap)
	if len(half) >= 2 {
		t.SecondHalfS = half[len(half)-1].T - half[0].T
	}
	t.CeilingMiB = 2*heapMax + 2*memMax + cacheMax + b.slackMiB
	t.Judged = heapOK && len(half) >= 10 && len(after) >= 2*rssWindow && t.SecondHalfS >= b.minSpan
	t.Stable = t.Judged && t.Heap.SlopeMiBPerMin <= b.maxHeapSlope && t.Heap.Ratio <= b.maxRatio && t.MaxMiB <= t.CeilingMiB
	return t
}

func trendSeries(after, half []RSSSample, f func(RSSSample) float64) Trend {
	var t Trend
	if len(after) > 0 {
		w := min(rssWindow, len(after))
		t.FirstMiB = mean(after[:w], f)
		t.LastMiB = mean(after[len(after)-w:], f)
		if t.FirstMiB > 0 {
			t.Ratio = t.LastMiB / t.FirstMiB
		}
	}
	if len(half) >= 2 {
		t.SlopeMiBPerMin = slope(half, f) * 60
	}
	return t
}

func mean(s []RSSSample, f func(RSSSample) float64) float64 {
	var sum float64
	for _, x := range s {
		sum += f(x)
	}
	return sum / float64(len(s))
}

// slope returns the least-squares slope of f over T (per second).
func slope(s []RSSSample, f func(RSSSample) float64) float64 {
	n := float64(len(s))
	var st, sm float64
	for _, x := range s {
		st += x.T
		sm += f(x)
	}
	mt, mm := st/n, sm/n
	var num, den float64
	for _, x := range s {
		num += (x.T - mt) * (f(x) - mm)
		den += (x.T - mt) * (x.T - mt)
	}
	if den == 0 {
		return 0
	}
	return num / den
}
