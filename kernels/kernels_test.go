package kernels

import (
	"math"
	"testing"
)

// TestFloatPairs checks L2Sq, Dot and DotF32Int8 of every implementation the
// CPU runs against the generic code, for every length to 300 and the common
// embedding sizes, at unaligned offsets, over several value shapes.
func TestFloatPairs(t *testing.T) {
	r := newRand(t)
	impls := testImpls(t)
	const pad = 16
	bufA := make([]float32, 4096+pad)
	bufB := make([]float32, 4096+pad)
	codes := make([]int8, 4096+pad)
	for _, n := range testLengths() {
		for _, off := range testOffsets() {
			shape := (n + off) % numShapes
			a := bufA[off : off+n]
			b := bufB[(off*7)%pad : (off*7)%pad+n]
			c := codes[(off*5)%pad : (off*5)%pad+n]
			fillF32(r, a, shape%shapeNear, nil)
			fillF32(r, b, shape, a)
			fillInt8(r, c, (n+off)%4)
			wantL2, wantDot, wantQC := l2SqGeneric(a, b), dotGeneric(a, b), dotF32Int8Generic(a, c)
			absL, absD, absQ := absL2(a, b), absDot(a, b), absDotF32Int8(a, c)
			for _, im := range impls {
				if got := l2SqOn(im.set, a, b); !agrees(got, wantL2, n, absL) {
					t.Fatalf("%s l2Sq n=%d off=%d shape=%d: got %g, generic %g (Σ|t| %g)", im.name, n, off, shape, got, wantL2, absL)
				}
				if got := dotOn(im.set, a, b); !agrees(got, wantDot, n, absD) {
					t.Fatalf("%s dot n=%d off=%d shape=%d: got %g, generic %g (Σ|t| %g)", im.name, n, off, shape, got, wantDot, absD)
				}
				if got := dotF32Int8On(im.set, a, c); !agrees(got, wantQC, n, absQ) {
					t.Fatalf("%s dotF32Int8 n=%d off=%d shape=%d: got %g, generic %g (Σ|t| %g)", im.name, n, off, shape, got, wantQC, absQ)
				}
			}
		}
	}
}

// TestInt8Pairs checks the int8 kernels: equal to the generic code exactly,
// including the extremes (-128·-128, (127-(-128))²) and lengths whose sums
// overflow int32 (both wrap the same way).
func TestInt8Pairs(t *testing.T) {
	r := newRand(t)
	impls := testImpls(t)
	const pad = 16
	lengths := append(testLengths(), 33025, 33026, 140000)
	bufA := make([]int8, 140000+pad)
	bufB := make([]int8, 140000+pad)
	for _, n := range lengths {
		offs := testOffsets()
		if n > 4096 {
			offs = offs[:2]
		}
		for _, off := range offs {
			for shapeA := 0; shapeA < 4; shapeA++ {
				a := bufA[off : off+n]
				b := bufB[(off*3)%pad : (off*3)%pad+n]
				fillInt8(r, a, shapeA)
				fillInt8(r, b, (shapeA+off)%4)
				wantL2, wantDot := l2SqInt8Generic(a, b), dotInt8Generic(a, b)
				for _, im := range impls {
					if got := l2SqInt8On(im.set, a, b); got != wantL2 {
						t.Fatalf("%s l2SqInt8 n=%d off=%d shape=%d: got %d, generic %d", im.name, n, off, shapeA, got, wantL2)
					}
					if got := dotInt8On(im.set, a, b); got != wantDot {
						t.Fatalf("%s dotInt8 n=%d off=%d shape=%d: got %d, generic %d", im.name, n, off, shapeA, got, wantDot)
					}
				}
			}
		}
	}
}

// TestNaN: a NaN in either operand gives NaN in every implementation (the
// callers reject NaN input; this pins that nothing hides one).
func TestNaN(t *testing.T) {
	for _, n := range []int{1, 7, 16, 33, 100, 768} {
		for _, at := range []int{0, n / 2, n - 1} {
			a := make([]float32, n)
			b := make([]float32, n)
			for i := range a {
				a[i], b[i] = float32(i), 1
			}
			a[at] = float32(math.NaN())
			for _, im := range testImpls(t) {
				if got := l2SqOn(im.set, a, b); !math.IsNaN(float64(got)) {
					t.Errorf("%s l2Sq n=%d NaN at %d: got %g", im.name, n, at, got)
				}
				if got := dotOn(im.set, b, a); !math.IsNaN(float64(got)) {
					t.Errorf("%s dot n=%d NaN at %d: got %g", im.name, n, at, got)
				}
			}
		}
	}
}

// batchDims are the vector lengths of the batch, gather and ADC tests: the
// edges of every tier's loops.
var batchDims = []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 300, 768}

// TestBatchGather checks the batch and gather forms against the generic
// single kernels, with duplicate and repeated ids and unaligned arenas.
func TestBatchGather(t *testing.T) {
	r := newRand(t)
	impls := testImpls(t)
	for _, d := range batchDims {
		for _, count := range []int{0, 1, 2, 5, 64} {
			const nvec = 97
			off := (d + count) % 16
			q := make([]float32, d)
			data := make([]float32, nvec*d+off)[off:]
			qi := make([]int8, d)
			codes := make([]int8, nvec*d+off)[off:]
			fillF32(r, q, shapeUniform, nil)
			fillF32(r, data, (d+count)%shapeNear, nil)
			fillInt8(r, qi, 0)
			fillInt8(r, codes, count%2)
			ids := make([]uint32, count)
			for i := range ids {
				ids[i] = uint32(r.IntN(nvec))
			}
			if count > 2 {
				ids[1] = ids[0]
				ids[count-1] = nvec - 1
			}
			out := make([]float32, count)
			outI := make([]int32, count)
			vec := func(i int) []float32 { return data[i*d : (i+1)*d] }
			code := func(i int) []int8 { return codes[i*d : (i+1)*d] }
			for _, im := range impls {
				check := func(kind string, i int, got, want float32, abs float64) {
					t.Helper()
					if !agrees(got, want, d, abs) {
						t.Fatalf("%s %s d=%d count=%d: out[%d] = %g, generic %g", im.name, kind, d, count, i, got, want)
					}
				}
				batchData := data[:count*d]
				if count > nvec {
					t.Fatal("BUG: count > nvec")
				}
				l2SqBatchOn(im.set, q, batchData, out)
				for i := range out {
					check("l2SqBatch", i, out[i], l2SqGeneric(q, vec(i)), absL2(q, vec(i)))
				}
				dotBatchOn(im.set, q, batchData, out)
				for i := range out {
					check("dotBatch", i, out[i], dotGeneric(q, vec(i)), absDot(q, vec(i)))
				}
				l2SqGatherOn(im.set, q, data, ids, out)
				for i, id := range ids {
					check("l2SqGather", i, out[i], l2SqGeneric(q, vec(int(id))), absL2(q, vec(int(id))))
				}
				dotGatherOn(im.set, q, data, ids, out)
				for i, id := range ids {
					check("dotGather", i, out[i], dotGeneric(q, vec(int(id))), absDot(q, vec(int(id))))
				}
				dotF32Int8GatherOn(im.set, q, codes, ids, out)
				for i, id := range ids {
					check("dotF32Int8Gather", i, out[i], dotF32Int8Generic(q, code(int(id))), absDotF32Int8(q, code(int(id))))
				}
				l2SqInt8GatherOn(im.set, qi, codes, ids, outI)
				for i, id := range ids {
					if want := l2SqInt8Generic(qi, code(int(id))); outI[i] != want {
						t.Fatalf("%s l2SqInt8Gather d=%d count=%d: out[%d] = %d, generic %d", im.name, d, count, i, outI[i], want)
					}
				}
				dotInt8GatherOn(im.set, qi, codes, ids, outI)
				for i, id := range ids {
					if want := dotInt8Generic(qi, code(int(id))); outI[i] != want {
						t.Fatalf("%s dotInt8Gather d=%d count=%d: out[%d] = %d, generic %d", im.name, d, count, i, outI[i], want)
					}
				}
			}
		}
	}
}

// TestBadArguments: short operands and out-of-arena ids panic in every
// implementation, before any assembly reads past a slice; a gather writes
// the results before the bad id.
func TestBadArguments(t *testing.T) {
	impls := append([]testImpl{{"generic", nil}}, testImpls(t)...)
	const d = 40
	q := make([]float32, d)
	qi := make([]int8, d)
	arena := make([]float32, 3*d)
	codes := make([]int8, 3*d)
	for i := range arena {
		arena[i] = float32(i)
		codes[i] = int8(i)
	}
	for _, im := range impls {
		s := im.set
		mustPanic(t, im.name+" l2Sq short b", func() { l2SqOn(s, q, q[:d-1:d-1]) })
		mustPanic(t, im.name+" dot short b", func() { dotOn(s, q, q[:d-1:d-1]) })
		mustPanic(t, im.name+" l2SqInt8 short b", func() { l2SqInt8On(s, qi, qi[:d-1:d-1]) })
		mustPanic(t, im.name+" dotInt8 short b", func() { dotInt8On(s, qi, qi[:d-1:d-1]) })
		mustPanic(t, im.name+" dotF32Int8 short c", func() { dotF32Int8On(s, q, qi[:d-1:d-1]) })
		mustPanic(t, im.name+" l2SqBatch short data", func() { l2SqBatchOn(s, q, arena[:3*d-1:3*d-1], make([]float32, 3)) })
		mustPanic(t, im.name+" dotBatch short data", func() { dotBatchOn(s, q, arena[:3*d-1:3*d-1], make([]float32, 3)) })
		mustPanic(t, im.name+" adc8 short codes", func() { adc8On(s, make([]float32, 2*256), make([]uint8, 5), make([]float32, 3)) })
		mustPanic(t, im.name+" adc16 short codes", func() { adc16On(s, make([]float32, 2*65536), make([]uint16, 5), make([]float32, 3)) })
		mustPanic(t, im.name+" gather short out", func() { l2SqGatherOn(s, q, arena, []uint32{0, 1}, make([]float32, 1)) })

		out := []float32{-1, -1, -1}
		mustPanic(t, im.name+" l2SqGather id out of arena", func() { l2SqGatherOn(s, q, arena, []uint32{2, 0, 3}, out) })
		if out[0] != l2SqGeneric(q, arena[2*d:]) || out[1] != l2SqGeneric(q, arena[:d]) || out[2] != -1 {
			t.Errorf("%s l2SqGather before the bad id: out = %v", im.name, out)
		}
		mustPanic(t, im.name+" dotGather id out of arena", func() { dotGatherOn(s, q, arena, []uint32{1 << 31}, out) })
		mustPanic(t, im.name+" dotF32Int8Gather id out of arena", func() { dotF32Int8GatherOn(s, q, codes, []uint32{0, 3}, out) })
		outI := make([]int32, 2)
		mustPanic(t, im.name+" l2SqInt8Gather id out of arena", func() { l2SqInt8GatherOn(s, qi, codes, []uint32{0, 3}, outI) })
		mustPanic(t, im.name+" dotInt8Gather id out of arena", func() { dotInt8GatherOn(s, qi, codes, []uint32{0xffffffff}, outI) })
	}
}

// TestADC checks ADC8 and ADC16 against the generic sums for several M.
func TestADC(t *testing.T) {
	r := newRand(t)
	impls := testImpls(t)
	absADC := func(table []float32, bits int, codes func(j int) int, m int) float64 {
		var s float64
		for j := 0; j < m; j++ {
			s += math.Abs(float64(table[j<<bits+codes(j)]))
		}
		return s
	}
	for _, m := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 32, 48, 64, 96} {
		for _, count := range []int{0, 1, 3, 64} {
			table := make([]float32, m*256+m%3) // a table longer than m rows is allowed
			fillF32(r, table, shapeScales, nil)
			codes := make([]uint8, count*m)
			for i := range codes {
				codes[i] = uint8(r.Uint32())
			}
			want := make([]float32, count)
			adc8Generic(table, codes, want)
			for _, im := range impls {
				got := make([]float32, count)
				adc8On(im.set, table, codes, got)
				for i := range got {
					abs := absADC(table, 8, func(j int) int { return int(codes[i*m+j]) }, m)
					if !agrees(got[i], want[i], m, abs) {
						t.Fatalf("%s adc8 m=%d count=%d: out[%d] = %g, generic %g", im.name, m, count, i, got[i], want[i])
					}
				}
			}
		}
	}
	for _, m := range []int{1, 2, 3, 4, 5, 8, 9} {
		const count = 17
		table := make([]float32, m*65536)
		fillF32(r, table, shapeUniform, nil)
		codes := make([]uint16, count*m)
		for i := range codes {
			codes[i] = uint16(r.Uint32())
		}
		codes[0] = 0xffff
		want := make([]float32, count)
		adc16Generic(table, codes, want)
		for _, im := range impls {
			got := make([]float32, count)
			adc16On(im.set, table, codes, got)
			for i := range got {
				abs := absADC(table, 16, func(j int) int { return int(codes[i*m+j]) }, m)
				if !agrees(got[i], want[i], m, abs) {
					t.Fatalf("%s adc16 m=%d: out[%d] = %g, generic %g", im.name, m, i, got[i], want[i])
				}
			}
		}
	}
}

// TestAllocs pins the exported kernels at zero allocations per call, in
// every implementation the CPU runs.
func TestAllocs(t *testing.T) {
	const d, n = 100, 8
	q := make([]float32, d)
	data := make([]float32, n*d)
	qi := make([]int8, d)
	codes := make([]int8, n*d)
	ids := []uint32{3, 1, 4, 1, 5}
	out := make([]float32, n)
	outI := make([]int32, n)
	table := make([]float32, 8*256)
	table16 := make([]float32, 2*65536)
	pq := make([]uint8, n*8)
	pq16 := make([]uint16, n*2)
	levels := []level{levelGeneric}
	for _, im := range testImpls(t) {
		levels = append(levels, asmLevel(im.name))
	}
	for _, lv := range levels {
		setLevelForTest(t, lv)
		allocs := testing.AllocsPerRun(100, func() {
			_ = L2Sq(q, data)
			_ = Dot(q, data)
			_ = Norm(q)
			_ = CosineDistance(q, data)
			_ = CosineDistanceNorms(q, data, 1, 1)
			CosineDistanceBatch(q, data, out)
			CosineDistanceGather(q, data, ids, out)
			L2SqBatch(q, data, out)
			DotBatch(q, data, out)
			L2SqGather(q, data, ids, out)
			DotGather(q, data, ids, out)
			_ = L2SqInt8(qi, codes)
			_ = DotInt8(qi, codes)
			L2SqInt8Gather(qi, codes, ids, outI)
			DotInt8Gather(qi, codes, ids, outI)
			_ = DotF32Int8(q, codes)
			DotF32Int8Gather(q, codes, ids, out)
			ADC8(table, pq, out)
			ADC16(table16, pq16, out)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per run, want 0", lv, allocs)
		}
	}
}

func asmLevel(name string) level {
	for lv := levelGeneric; lv < numLevels; lv++ {
		if lv.String() == name {
			return lv
		}
	}
	panic("BUG: unknown level " + name)
}
