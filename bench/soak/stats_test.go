package soak

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	prev := -1
	for _, ns := range []uint64{0, 1, 31, 32, 33, 63, 64, 100, 1000, 1 << 20, 1<<20 + 1, 1 << 40, 1<<64 - 1} {
		b := bucketOf(ns)
		if b < prev || b >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d (of %d)", ns, b, prev, histBuckets)
		}
		prev = b
		if up := bucketUpper(b); up < ns || float64(up-ns) > float64(ns)/16+1 {
			t.Errorf("bucketUpper(bucketOf(%d)) = %d: not an upper bound within 6.25%%", ns, up)
		}
		if b > 0 && bucketUpper(b-1) >= ns {
			t.Errorf("bucket below %d's holds it too (upper %d)", ns, bucketUpper(b-1))
		}
	}
}

func TestHistQuantile(t *testing.T) {
	const seed = 42
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var h, h1, h2 hist
	xs := make([]time.Duration, 10000)
	for i := range xs {
		xs[i] = time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
		h.add(xs[i])
		if i%2 == 0 {
			h1.add(xs[i])
		} else {
			h2.add(xs[i])
		}
	}
	h1.merge(&h2)
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 1} {
		exact := xs[int(q*float64(len(xs)))-1]
		for _, hh := range []*hist{&h, &h1} {
			got := hh.quantile(q)
			if got < exact || float64(got) > float64(exact)*1.0625+1 {
				t.Errorf("quantile(%g) = %v, exact %v", q, got, exact)
			}
		}
	}
	if h.max != xs[len(xs)-1] || h1.max != h.max || h1.count != h.count {
		t.Errorf("max %v / %v, count %d / %d; want %v, %d", h.max, h1.max, h.count, h1.count, xs[len(xs)-1], len(xs))
	}
	var empty hist
	if empty.quantile(0.99) != 0 {
		t.Error("an empty histogram has a quantile")
	}
}

func TestTrend(t *testing.T) {
	const seed = 7
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	// series samples every 2 s: heap(t) plus GC noise, and an RSS that
	// follows a memtable sawtooth (64 MiB filled in 200 s, then rotated)
	// on top of rss(t).
	series := func(span float64, heap, rss func(t float64) float64) []RSSSample {
		var s []RSSSample
		for x := 0.0; x <= span; x += 2 {
			h := heap(x) * (1 + 0.3*rng.Float64())
			mem := 64 * (x - 200*float64(int(x/200))) / 200
			s = append(s, RSSSample{T: x, MiB: rss(x) + 2*h + mem, HeapMiB: h, MemtableMiB: 64})
		}
		return s
	}
	bounds := trendBounds{warmup: 200, span: 600, minSpan: 120, maxHeapSlope: 1, maxRatio: 1.5, slackMiB: 64}
	flat := func(float64) float64 { return 15 }
	// Nothing leaks: the heap is flat, RSS a sawtooth whose last/first
	// ratio (here near 2) says nothing about leaks.
	tr := trendOf(series(600, flat, flat), bounds)
	if !tr.Judged || !tr.Stable || tr.RSS.Ratio < 1.5 {
		t.Errorf("sawtooth, flat heap: %+v; want judged, stable, RSS ratio near 2", tr)
	}
	// The heap leaks 3 MiB/min.
	tr = trendOf(series(600, func(x float64) float64 { return 15 + 3*x/60 }, flat), bounds)
	if !tr.Judged || tr.Stable || tr.Heap.SlopeMiBPerMin < 2.5 || tr.Heap.SlopeMiBPerMin > 5 {
		t.Errorf("heap leak: %+v; want judged, not stable, heap slope near 3.9", tr)
	}
	// Memory outside the heap and Pebble leaks 30 MiB/min: RSS passes the
	// ceiling.
	tr = trendOf(series(600, flat, func(x float64) float64 { return 15 + 30*x/60 }), bounds)
	if !tr.Judged || tr.Stable || tr.MaxMiB <= tr.CeilingMiB {
		t.Errorf("RSS leak: %+v; want judged, not stable, over the ceiling", tr)
	}
	// Too short to judge.
	short := bounds
	short.warmup, short.span = 10, 30
	if tr := trendOf(series(30, flat, flat), short); tr.Judged || tr.Stable {
		t.Errorf("short series: %+v; want not judged", tr)
	}
	// No heap figures: not judged.
	noHeap := series(600, flat, flat)
	noHeap[len(noHeap)-1].HeapMiB = 0
	if tr := trendOf(noHeap, bounds); tr.Judged {
		t.Errorf("missing heap figures: %+v; want not judged", tr)
	}
}

func TestConfig(t *testing.T) {
	var c Config
	if err := c.EnsureDefaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.Duration != time.Minute || c.Clients != DefaultClients || c.Warmup != 20*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []Config{
		{Clients: -1},
		{Clients: 10, IDs: 5},
		{Dim: 5000},
		{Duration: time.Second, Warmup: time.Minute},
		{Crashes: -1},
		{MaxHeapRatio: 0.5},
		{StartupKillFraction: 2},
	} {
		if err := bad.EnsureDefaults().Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
