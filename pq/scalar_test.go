package pq

import (
	"errors"
	"math"
	"testing"
)

func TestScalarQuantileClipping(t *testing.T) {
	rng := newRand(t)
	const n, dim = 5000, 4
	data := make([]float32, n*dim)
	for i := range data {
		data[i] = float32(rng.Float64()) // uniform [0, 1)
	}
	// Outliers: 0.05% of the values, far out on both sides.
	for i := 0; i < 10; i++ {
		data[rng.IntN(len(data))] = 1000
		data[rng.IntN(len(data))] = -1000
	}
	sq, err := TrainScalar(data, dim, ScalarOptions{Quantile: 0.999})
	if err != nil {
		t.Fatal(err)
	}
	lo := sq.Offset[0] - 127*sq.Scale[0]
	hi := sq.Offset[0] + 127*sq.Scale[0]
	if !sq.Global || lo < -0.01 || lo > 0.01 || hi < 0.99 || hi > 1.01 {
		t.Fatalf("clipped range [%v, %v] (global %v), want about [0.001, 0.999]", lo, hi, sq.Global)
	}
	code := make([]int8, dim)
	dec := make([]float32, dim)
	if err := sq.Encode([]float32{1000, -1000, 0.5, 5}, code); err != nil {
		t.Fatal(err)
	}
	if code[0] != 127 || code[1] != -127 || code[3] != 127 {
		t.Fatalf("outliers encode to %v, want ±127", code)
	}
	_ = sq.Decode(code, dec)
	if dec[0] != hi || dec[1] != lo || math.Abs(float64(dec[2])-0.5) > float64(sq.Scale[0]) {
		t.Fatalf("decoded %v, want [%v %v 0.5 %v]", dec, hi, lo, hi)
	}
	// Quantile 1 keeps the exact extremes.
	full, err := TrainScalar(data, dim, ScalarOptions{Quantile: 1})
	if err != nil {
		t.Fatal(err)
	}
	if l, h := full.Offset[0]-127*full.Scale[0], full.Offset[0]+127*full.Scale[0]; math.Abs(float64(l)+1000) > 0.01 || math.Abs(float64(h)-1000) > 0.01 {
		t.Fatalf("quantile 1 range [%v, %v], want [-1000, 1000]", l, h)
	}
}

func TestScalarPerDimension(t *testing.T) {
	rng := newRand(t)
	const n, dim = 2000, 3
	data := make([]float32, n*dim)
	for i := 0; i < n; i++ {
		data[i*dim] = float32(rng.Float64())            // [0, 1)
		data[i*dim+1] = 100 + 10*float32(rng.Float64()) // [100, 110)
		data[i*dim+2] = 7                               // constant
	}
	sq, err := TrainScalar(data, dim, ScalarOptions{PerDimension: true, Quantile: 1})
	if err != nil {
		t.Fatal(err)
	}
	if sq.Global {
		t.Fatal("per-dimension quantizer reports Global")
	}
	if s := sq.Scale[1] / sq.Scale[0]; s < 9 || s > 11 {
		t.Fatalf("scale ratio %v, want about 10", s)
	}
	if sq.Scale[2] != 0 || sq.Offset[2] != 7 {
		t.Fatalf("constant dimension: scale %v offset %v", sq.Scale[2], sq.Offset[2])
	}
	// Round trip: within half a step of every in-range value.
	code := make([]int8, dim)
	dec := make([]float32, dim)
	for i := 0; i < n; i++ {
		x := data[i*dim : (i+1)*dim]
		if err := sq.Encode(x, code); err != nil {
			t.Fatal(err)
		}
		_ = sq.Decode(code, dec)
		for j := range x {
			if err := math.Abs(float64(x[j] - dec[j])); err > float64(sq.Scale[j])*0.5001+1e-6 {
				t.Fatalf("vector %d dim %d: %v decodes to %v (step %v)", i, j, x[j], dec[j], sq.Scale[j])
			}
		}
	}
}

// TestScalarQueryDistance checks prepared-query distances against the exact
// distance to the decoded vector, for each metric and both range kinds.
func TestScalarQueryDistance(t *testing.T) {
	rng := newRand(t)
	const n, dim = 300, 37
	data := randVecs(rng, n, dim)
	for _, per := range []bool{false, true} {
		sq, err := TrainScalar(data, dim, ScalarOptions{PerDimension: per})
		if err != nil {
			t.Fatal(err)
		}
		codes := make([]int8, n*dim)
		for i := 0; i < n; i++ {
			if err := sq.Encode(data[i*dim:(i+1)*dim], codes[i*dim:]); err != nil {
				t.Fatal(err)
			}
		}
		for _, metric := range []Metric{L2, InnerProduct, Cosine} {
			aux := make([]float32, n)
			for i := range aux {
				aux[i] = sq.Aux(codes[i*dim:(i+1)*dim], metric)
			}
			q, err := sq.NewQuery(metric)
			if err != nil {
				t.Fatal(err)
			}
			qv := randVecs(rng, 1, dim)
			if err := q.Reset(qv); err != nil {
				t.Fatal(err)
			}
			ids := make([]uint32, n)
			for i := range ids {
				ids[i] = uint32(n - 1 - i)
			}
			gathered := make([]float32, n)
			q.DistanceGather(codes, aux, ids, gathered)
			dec := make([]float32, dim)
			for i := 0; i < n; i++ {
				code := codes[i*dim : (i+1)*dim]
				_ = sq.Decode(code, dec)
				var l2, dot, nq, nx float64
				for j := range dec {
					d := float64(qv[j]) - float64(dec[j])
					l2 += d * d
					dot += float64(qv[j]) * float64(dec[j])
					nq += float64(qv[j]) * float64(qv[j])
					nx += float64(dec[j]) * float64(dec[j])
				}
				want := l2
				switch metric {
				case InnerProduct:
					want = 1 - dot
				case Cosine:
					want = 1 - dot/math.Sqrt(nq*nx)
				}
				got := q.Distance(code, aux[i])
				if tol := 1e-4 * (1 + math.Abs(want)); math.Abs(float64(got)-want) > tol {
					t.Fatalf("per=%v %v vector %d: distance %v, exact on decoded %v", per, metric, i, got, want)
				}
				if g := gathered[n-1-i]; g != got {
					t.Fatalf("per=%v %v vector %d: DistanceGather %v, Distance %v", per, metric, i, g, got)
				}
			}
		}
	}
}

func TestScalarErrors(t *testing.T) {
	if _, err := NewScalarQuantizer([]float32{1}, []float32{1, 2}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("length mismatch: %v", err)
	}
	if _, err := NewScalarQuantizer([]float32{-1}, []float32{0}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative scale: %v", err)
	}
	if _, err := NewScalarQuantizer([]float32{float32(math.NaN())}, []float32{0}); !errors.Is(err, ErrNotFinite) {
		t.Errorf("NaN scale: %v", err)
	}
	if _, err := TrainScalar(make([]float32, 10), 3, ScalarOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ragged: %v", err)
	}
	if _, err := TrainScalar(make([]float32, 10), 2, ScalarOptions{Quantile: 0.2}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("quantile 0.2: %v", err)
	}
	if _, err := TrainScalar([]float32{1, float32(math.Inf(-1))}, 2, ScalarOptions{}); !errors.Is(err, ErrNotFinite) {
		t.Errorf("infinite value: %v", err)
	}
	sq, err := NewScalarQuantizer([]float32{1, 1}, []float32{0, 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := sq.Encode([]float32{1}, make([]int8, 2)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("short vector: %v", err)
	}
	q, _ := sq.NewQuery(L2)
	if err := q.Reset([]float32{1, 2, 3}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("long query: %v", err)
	}
	if _, err := sq.NewQuery(Metric(9)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("unknown metric: %v", err)
	}
	// NaN never panics and encodes to a valid code.
	code := make([]int8, 2)
	if err := sq.Encode([]float32{float32(math.NaN()), 0}, code); err != nil || code[0] != -127 {
		t.Errorf("NaN encodes to %v (%v)", code, err)
	}
}

func TestScalarAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items on purpose)")
	}
	rng := newRand(t)
	const dim = 64
	data := randVecs(rng, 100, dim)
	sq, err := TrainScalar(data, dim, ScalarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	code := make([]int8, dim)
	q, _ := sq.NewQuery(L2)
	ids := []uint32{3, 1, 4, 1, 5}
	codes := make([]int8, 100*dim)
	aux := make([]float32, 100)
	out := make([]float32, len(ids))
	for name, f := range map[string]func(){
		"Encode":         func() { _ = sq.Encode(data[:dim], code) },
		"Reset":          func() { _ = q.Reset(data[:dim]) },
		"Distance":       func() { _ = q.Distance(code, 1) },
		"DistanceGather": func() { q.DistanceGather(codes, aux, ids, out) },
	} {
		if a := testing.AllocsPerRun(50, f); a != 0 {
			t.Errorf("%s allocates %v times", name, a)
		}
	}
}
