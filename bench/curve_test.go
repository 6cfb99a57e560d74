package bench

import (
	"math"
	"testing"
)

func TestQPSAtRecall(t *testing.T) {
	curve := []Point{
		{Ef: 10, Recall: 0.80, QPS: 10000},
		{Ef: 20, Recall: 0.90, QPS: 8000},
		{Ef: 40, Recall: 0.96, QPS: 5000},
		{Ef: 80, Recall: 0.98, QPS: 3000},
	}
	for _, tc := range []struct {
		name   string
		pts    []Point
		target float64
		want   Interp
	}{
		{"exact point", curve, 0.90, Interp{Recall: 0.90, QPS: 8000, OK: true}},
		{"between", curve, 0.93, Interp{Recall: 0.93, QPS: 6500, OK: true}},
		{"last segment", curve, 0.97, Interp{Recall: 0.97, QPS: 4000, OK: true}},
		{"top point", curve, 0.98, Interp{Recall: 0.98, QPS: 3000, OK: true}},
		{"unreached", curve, 0.99, Interp{Recall: 0.99}},
		{"below first", curve, 0.50, Interp{Recall: 0.50, QPS: 10000, OK: true, LowerBound: true}},
		{"empty", nil, 0.9, Interp{Recall: 0.9}},
		{"unsorted input", []Point{curve[3], curve[1], curve[0], curve[2]}, 0.93, Interp{Recall: 0.93, QPS: 6500, OK: true}},
		// A noisy curve whose recall dips: the first segment that reaches
		// the target counts.
		{"non-monotone", []Point{
			{Ef: 10, Recall: 0.85, QPS: 9000},
			{Ef: 20, Recall: 0.95, QPS: 7000},
			{Ef: 30, Recall: 0.93, QPS: 6000},
			{Ef: 40, Recall: 0.97, QPS: 5000},
		}, 0.90, Interp{Recall: 0.90, QPS: 8000, OK: true}},
		{"zero qps ignored", []Point{
			{Ef: 10, Recall: 0.85, QPS: 9000},
			{Ef: 20, Recall: 0.95, QPS: 0},
			{Ef: 30, Recall: 0.95, QPS: 7000},
		}, 0.90, Interp{Recall: 0.90, QPS: 8000, OK: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := QPSAtRecall(tc.pts, tc.target)
			if got.OK != tc.want.OK || got.LowerBound != tc.want.LowerBound || math.Abs(got.QPS-tc.want.QPS) > 1e-6 || got.Recall != tc.want.Recall {
				t.Errorf("QPSAtRecall(%v) = %+v, want %+v", tc.target, got, tc.want)
			}
		})
	}
}

func TestQPSThreadsAtRecall(t *testing.T) {
	pts := []Point{{Ef: 10, Recall: 0.8, QPS: 100, QPSThreads: 1000}, {Ef: 20, Recall: 1, QPS: 50, QPSThreads: 500}}
	got := QPSThreadsAtRecall(pts, 0.9)
	if !got.OK || math.Abs(got.QPS-750) > 1e-9 {
		t.Errorf("QPSThreadsAtRecall = %+v, want 750", got)
	}
	if got := QPSThreadsAtRecall([]Point{{Ef: 10, Recall: 1, QPS: 5}}, 0.9); got.OK {
		t.Errorf("no N-thread figures: got %+v, want not OK", got)
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct{ p, want float64 }{{50, 5}, {99, 10}, {10, 1}, {0, 1}, {100, 10}} {
		if got := Percentile(xs, tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil) = %v", got)
	}
}
