package kernels

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func TestChoose(t *testing.T) {
	both := []asmImpl{{level: levelAVX2}, {level: levelAVX512}}
	avx2Only := []asmImpl{{level: levelAVX2}, {level: levelAVX512, missing: "AVX512F, AVX512BW"}}
	neither := []asmImpl{{level: levelAVX2, missing: "AVX2"}, {level: levelAVX512, missing: "AVX512F"}}
	for _, tc := range []struct {
		impls []asmImpl
		env   string
		want  level
		why   string // a substring of the reason
	}{
		{both, "", levelAVX512, "best"},
		{avx2Only, "", levelAVX2, "best"},
		{neither, "", levelGeneric, "supports no assembly"},
		{nil, "", levelGeneric, "no assembly implementation in this build"},
		{both, "generic", levelGeneric, "forced by LSMVEC_KERNELS=generic"},
		{both, " AVX2 ", levelAVX2, "forced by LSMVEC_KERNELS=avx2"},
		{both, "avx512", levelAVX512, "forced"},
		{avx2Only, "avx512", levelAVX2, "LSMVEC_KERNELS=avx512 refused: the CPU lacks AVX512F, AVX512BW; using avx2"},
		{neither, "avx2", levelGeneric, "refused: the CPU lacks AVX2; using generic"},
		{both, "neon", levelAVX512, "LSMVEC_KERNELS=neon refused: this build has only generic, avx2, avx512; using avx512"},
		{nil, "avx2", levelGeneric, "refused: this build has only generic; using generic"},
		{both, "fast", levelAVX512, "refused"},
	} {
		got, why := choose(tc.impls, tc.env)
		if got != tc.want || !strings.Contains(why, tc.why) {
			t.Errorf("choose(%v, %q) = %s, %q; want %s, reason containing %q", tc.impls, tc.env, got, why, tc.want, tc.why)
		}
	}
}

func TestImpl(t *testing.T) {
	t.Logf("Impl() = %s: %s", Impl(), ImplReason())
	want, _ := choose(asmImpls, os.Getenv("LSMVEC_KERNELS"))
	if Impl() != want.String() || ImplReason() == "" {
		t.Errorf("Impl() = %q (%q), want %q", Impl(), ImplReason(), want)
	}
	if (Impl() == "generic") != (active == nil) {
		t.Errorf("Impl() = %q but active set %p", Impl(), active)
	}
}

// TestDisableFeature switches each implementation off in turn, as a CPU
// without it would, and checks the dispatch falls back to the next one and
// that the exported kernels still agree with the generic code.
func TestDisableFeature(t *testing.T) {
	impls := testImpls(t)
	for i := len(impls) - 1; i >= 0; i-- {
		disableForTest(t, asmLevel(impls[i].name))
		want := "generic"
		if i > 0 {
			want = impls[i-1].name
		}
		if Impl() != want {
			t.Fatalf("with %s off: Impl() = %s, want %s", impls[i].name, Impl(), want)
		}
		a, b := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}, make([]float32, 17)
		if got := L2Sq(a, b); got != 1785 {
			t.Errorf("with %s off: L2Sq = %g, want 1785", impls[i].name, got)
		}
	}
}

// TestExported runs the exported API under every implementation the CPU has
// (forced through the test hook) around the minAsmLen threshold.
func TestExported(t *testing.T) {
	r := newRand(t)
	levels := []level{levelGeneric}
	for _, im := range testImpls(t) {
		levels = append(levels, asmLevel(im.name))
	}
	for _, lv := range levels {
		setLevelForTest(t, lv)
		if Impl() != lv.String() {
			t.Fatalf("Impl() = %s after forcing %s", Impl(), lv)
		}
		for _, n := range []int{minAsmLen - 1, minAsmLen, 100} {
			a, ai := make([]float32, n), make([]int8, n)
			short, shortI := make([]float32, n-1), make([]int8, n-1)
			mustPanic(t, lv.String()+" L2Sq short b", func() { L2Sq(a, short) })
			mustPanic(t, lv.String()+" Dot short b", func() { Dot(a, short) })
			mustPanic(t, lv.String()+" L2SqInt8 short b", func() { L2SqInt8(ai, shortI) })
			mustPanic(t, lv.String()+" DotInt8 short b", func() { DotInt8(ai, shortI) })
			mustPanic(t, lv.String()+" DotF32Int8 short c", func() { DotF32Int8(a, shortI) })
		}
		for _, n := range []int{0, 1, minAsmLen - 1, minAsmLen, minAsmLen + 1, 100, 768} {
			a, b := make([]float32, n), make([]float32, n)
			ai, bi := make([]int8, n), make([]int8, n)
			fillF32(r, a, shapeUniform, nil)
			fillF32(r, b, shapeUniform, nil)
			fillInt8(r, ai, 0)
			fillInt8(r, bi, 0)
			if got, want := L2Sq(a, b), l2SqGeneric(a, b); !agrees(got, want, n, absL2(a, b)) {
				t.Errorf("%s L2Sq n=%d: %g, generic %g", lv, n, got, want)
			}
			if got, want := Dot(a, b), dotGeneric(a, b); !agrees(got, want, n, absDot(a, b)) {
				t.Errorf("%s Dot n=%d: %g, generic %g", lv, n, got, want)
			}
			if got, want := DotF32Int8(a, bi), dotF32Int8Generic(a, bi); !agrees(got, want, n, absDotF32Int8(a, bi)) {
				t.Errorf("%s DotF32Int8 n=%d: %g, generic %g", lv, n, got, want)
			}
			if got, want := L2SqInt8(ai, bi), l2SqInt8Generic(ai, bi); got != want {
				t.Errorf("%s L2SqInt8 n=%d: %d, generic %d", lv, n, got, want)
			}
			if got, want := DotInt8(ai, bi), dotInt8Generic(ai, bi); got != want {
				t.Errorf("%s DotInt8 n=%d: %d, generic %d", lv, n, got, want)
			}
			if n > 0 {
				na := float64(Norm(a))
				cos := 1 - float64(dotGeneric(a, b))/(na*float64(Norm(b)))
				if got := float64(CosineDistance(a, b)); got-cos > 1e-4 || cos-got > 1e-4 {
					t.Errorf("%s CosineDistance n=%d: %g, want %g", lv, n, got, cos)
				}
				if got := float64(CosineDistanceNorms(a, b, Norm(a), Norm(b))); got-cos > 1e-4 || cos-got > 1e-4 {
					t.Errorf("%s CosineDistanceNorms n=%d: %g, want %g", lv, n, got, cos)
				}
			}
			if n > 0 {
				data := append(append(append([]float32{}, b...), a...), make([]float32, n)...)
				out := make([]float32, 3)
				for _, run := range []struct {
					name string
					f    func()
				}{
					{"CosineDistanceBatch", func() { CosineDistanceBatch(a, data, out) }},
					{"CosineDistanceGather", func() { CosineDistanceGather(a, data, []uint32{0, 1, 2}, out) }},
				} {
					run.f()
					for i, want := range []float32{CosineDistance(a, b), CosineDistance(a, a), 1} {
						if d := float64(out[i] - want); d > 1e-4 || d < -1e-4 {
							t.Errorf("%s %s n=%d: out[%d] = %g, CosineDistance %g", lv, run.name, n, i, out[i], want)
						}
					}
				}
			}
			if got := CosineDistance(a, make([]float32, n)); got != 1 {
				t.Errorf("%s CosineDistance to zero n=%d: %g, want 1", lv, n, got)
			}
		}
	}
}

// TestEnv starts the test binary with LSMVEC_KERNELS set and checks the
// start-up choice it reports.
func TestEnv(t *testing.T) {
	if os.Getenv("LSMVEC_KERNELS_CHILD") != "" {
		os.Stdout.WriteString("IMPL " + Impl() + "|" + ImplReason() + "\n")
		return
	}
	if testing.Short() {
		t.Skip("starts subprocesses; skipped with -short")
	}
	best, _ := choose(asmImpls, "")
	cases := map[string]string{"": best.String(), "generic": "generic", "bogus": best.String()}
	for _, im := range asmImpls {
		if im.missing == "" {
			cases[im.level.String()] = im.level.String()
		} else {
			cases[im.level.String()] = best.String()
		}
	}
	for env, want := range cases {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEnv$", "-test.count=1")
		cmd.Env = append(os.Environ(), "LSMVEC_KERNELS_CHILD=1", "LSMVEC_KERNELS="+env)
		outb, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("LSMVEC_KERNELS=%s: %v\n%s", env, err, outb)
		}
		out := string(outb)
		i := strings.Index(out, "IMPL ")
		if i < 0 {
			t.Fatalf("LSMVEC_KERNELS=%s: no IMPL line in\n%s", env, out)
		}
		line, _, _ := strings.Cut(out[i+len("IMPL "):], "\n")
		got, why, _ := strings.Cut(line, "|")
		t.Logf("LSMVEC_KERNELS=%q: %s (%s)", env, got, why)
		if got != want {
			t.Errorf("LSMVEC_KERNELS=%q: Impl %s, want %s (%s)", env, got, want, why)
		}
		if env == "bogus" && !strings.Contains(why, "refused") {
			t.Errorf("LSMVEC_KERNELS=bogus: reason %q does not say refused", why)
		}
	}
}

// TestConcurrent calls the kernels from several goroutines over shared
// read-only inputs (run with -race: the kernels share no mutable state).
func TestConcurrent(t *testing.T) {
	const d = 128
	q := make([]float32, d)
	arena := make([]float32, 64*d)
	for i := range arena {
		arena[i] = float32(i % 17)
	}
	ids := []uint32{0, 5, 63, 7}
	want := make([]float32, len(ids))
	l2SqGatherGeneric(q, arena, ids, want)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float32, len(ids))
			for k := 0; k < 200; k++ {
				L2SqGather(q, arena, ids, out)
				for i := range out {
					if !agrees(out[i], want[i], d, float64(want[i])) {
						errs <- "mismatch"
						return
					}
				}
				_ = Dot(q, arena[:d])
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
