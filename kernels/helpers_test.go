package kernels

import (
	"flag"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("kernels.seed", 0, "seed of the random test data; 0 picks one from the clock")

// newRand returns the test's random source and logs its seed, so that a
// failure can be replayed with -kernels.seed.
func newRand(t testing.TB) *rand.Rand {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -kernels.seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0x6b65726e656c73))
}

// testImpl is one implementation under test: an assembly kernel set the CPU
// supports.
type testImpl struct {
	name string
	set  *kernelSet
}

// testImpls lists the assembly implementations this CPU runs; the others are
// logged and left out, so the tests adapt to the machine (AVX2-only CI,
// arm64 under qemu, purego builds with none).
func testImpls(t testing.TB) []testImpl {
	var out []testImpl
	for i := range asmImpls {
		im := &asmImpls[i]
		if im.missing != "" {
			t.Logf("%s not tested: the CPU lacks %s", im.level, im.missing)
			continue
		}
		out = append(out, testImpl{im.level.String(), &im.set})
	}
	if len(out) == 0 {
		t.Log("no assembly implementation runs here: only the generic code is tested")
	}
	return out
}

// setLevelForTest makes the exported kernels run lv until the test ends. It
// is the test hook over the dispatch state; tests that use it must not run
// in parallel.
func setLevelForTest(t testing.TB, lv level) {
	old, oldLevel, oldReason := active, activeLevel, activeReason
	t.Cleanup(func() { active, activeLevel, activeReason = old, oldLevel, oldReason })
	active, activeLevel, activeReason = setOf(lv), lv, "set by a test"
}

// disableForTest switches an implementation off as a CPU without its
// features would (the test hook that lets an AVX-512 machine run the AVX2
// dispatch) and re-runs the start-up choice, until the test ends.
func disableForTest(t testing.TB, lv level) {
	for i := range asmImpls {
		if asmImpls[i].level == lv {
			old := asmImpls[i].missing
			asmImpls[i].missing = "disabled by a test"
			t.Cleanup(func() { asmImpls[i].missing = old })
		}
	}
	old, oldLevel, oldReason := active, activeLevel, activeReason
	t.Cleanup(func() { active, activeLevel, activeReason = old, oldLevel, oldReason })
	activeLevel, activeReason = choose(asmImpls, "")
	active = setOf(activeLevel)
}

// Test lengths: every length to 300 (all tails and loop entries of every
// tier), then the common embedding sizes.
func testLengths() []int {
	var ns []int
	for n := 0; n <= 300; n++ {
		ns = append(ns, n)
	}
	return append(ns, 768, 1536, 4096)
}

// testOffsets are the element offsets of the sub-slices the kernels get, so
// that loads are unaligned in every way.
func testOffsets() []int {
	if testing.Short() {
		return []int{0, 1, 7, 13}
	}
	return []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
}

// Value shapes of the random float32 vectors.
const (
	shapeUniform = iota // uniform in [-1, 1)
	shapeLarge          // magnitudes to 1e15: sums stay finite up to 4096 terms
	shapeZero           // all zeros
	shapeScales         // random exponents from 2^-30 to 2^40, random signs
	shapeNear           // (fill only) close to the other operand: cancellation
	numShapes
)

// fillF32 fills v with values of the given shape; near is the other operand
// for shapeNear.
func fillF32(r *rand.Rand, v []float32, shape int, near []float32) {
	for i := range v {
		switch shape {
		case shapeUniform:
			v[i] = r.Float32()*2 - 1
		case shapeLarge:
			v[i] = float32((r.Float64()*2 - 1) * 1e15)
		case shapeZero:
			v[i] = 0
		case shapeScales:
			x := float32(math.Ldexp(1+r.Float64(), r.IntN(71)-30))
			if r.IntN(2) == 0 {
				x = -x
			}
			v[i] = x
		case shapeNear:
			v[i] = near[i] * (1 + (r.Float32()*2-1)*1e-3)
		}
	}
}

// fillInt8 fills v with int8 values: shape 0 uniform over all 256 values,
// 1 only the extremes -128 and 127, 2 all -128, 3 all 127.
func fillInt8(r *rand.Rand, v []int8, shape int) {
	for i := range v {
		switch shape {
		case 0:
			v[i] = int8(r.Uint32())
		case 1:
			v[i] = [2]int8{-128, 127}[r.IntN(2)]
		case 2:
			v[i] = -128
		case 3:
			v[i] = 127
		}
	}
}

// agrees reports whether got matches want, two float32 sums of n terms whose
// magnitudes add up to abs (computed exactly enough in float64), within
// twice the classic bound γ(n+2)·Σ|terms| on the rounding error of a
// recursive sum (one product and one difference rounding per term), plus a
// denormal allowance. Both results have that error at most, whatever the
// summation order.
func agrees(got, want float32, n int, abs float64) bool {
	if math.IsNaN(float64(want)) || math.IsNaN(float64(got)) {
		return math.IsNaN(float64(want)) && math.IsNaN(float64(got))
	}
	const u = 0x1p-24
	k := float64(n + 2)
	tol := 2*k*u/(1-k*u)*abs + k*0x1p-149
	return math.Abs(float64(got)-float64(want)) <= tol
}

func absL2(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i] - b[i])
		s += d * d
	}
	return s
}

func absDot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) * float64(b[i]))
	}
	return s
}

func absDotF32Int8(q []float32, c []int8) float64 {
	var s float64
	for i := range q {
		s += math.Abs(float64(q[i]) * float64(c[i]))
	}
	return s
}

// mustPanic fails the test unless f panics.
func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	f()
}
