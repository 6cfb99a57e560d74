package kernels

import (
	"encoding/binary"
	"math"
	"testing"
)

// The fuzz targets run every implementation the CPU has against the generic
// code, one per kernel family. Their inputs are raw bytes: the first byte
// picks an offset into the data (unaligned slices), the rest is decoded into
// the operands. make fuzz runs each for FUZZTIME.

// floatsFrom decodes little-endian float32s, replacing NaN and infinities
// (which the callers reject) by finite values, and bounding magnitudes so
// that sums of up to 2^16 terms stay finite.
func floatsFrom(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		x := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		if x != x || math.IsInf(float64(x), 0) || math.Abs(float64(x)) > 1e15 {
			x = float32(math.Mod(float64(i), 7)) - 3
		}
		v[i] = x
	}
	return v
}

func int8sFrom(b []byte) []int8 {
	v := make([]int8, len(b))
	for i := range b {
		v[i] = int8(b[i])
	}
	return v
}

func addFloatSeeds(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 191})
	seed := make([]byte, 1+8*67)
	for i := range seed {
		seed[i] = byte(i * 37)
	}
	f.Add(seed)
}

func FuzzL2Sq(f *testing.F) {
	addFloatSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		v := floatsFrom(data[1:])
		off := int(data[0]) % 16
		if off > len(v) {
			off = len(v)
		}
		v = v[off:]
		n := len(v) / 2
		a, b := v[:n], v[n:2*n]
		want := l2SqGeneric(a, b)
		for _, im := range testImpls(t) {
			if got := l2SqOn(im.set, a, b); !agrees(got, want, n, absL2(a, b)) {
				t.Fatalf("%s l2Sq n=%d: %g, generic %g", im.name, n, got, want)
			}
		}
	})
}

func FuzzDot(f *testing.F) {
	addFloatSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		v := floatsFrom(data[1:])
		off := int(data[0]) % 16
		if off > len(v) {
			off = len(v)
		}
		v = v[off:]
		n := len(v) / 2
		a, b := v[:n], v[n:2*n]
		want := dotGeneric(a, b)
		for _, im := range testImpls(t) {
			if got := dotOn(im.set, a, b); !agrees(got, want, n, absDot(a, b)) {
				t.Fatalf("%s dot n=%d: %g, generic %g", im.name, n, got, want)
			}
		}
	})
}

func FuzzInt8(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x80, 0x7f, 0x80, 0x80, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		v := int8sFrom(data)
		n := len(v) / 2
		a, b := v[:n], v[n:2*n]
		wantL2, wantDot := l2SqInt8Generic(a, b), dotInt8Generic(a, b)
		for _, im := range testImpls(t) {
			if got := l2SqInt8On(im.set, a, b); got != wantL2 {
				t.Fatalf("%s l2SqInt8 n=%d: %d, generic %d", im.name, n, got, wantL2)
			}
			if got := dotInt8On(im.set, a, b); got != wantDot {
				t.Fatalf("%s dotInt8 n=%d: %d, generic %d", im.name, n, got, wantDot)
			}
		}
	})
}

func FuzzDotF32Int8(f *testing.F) {
	addFloatSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		n := len(data) / 5
		q := floatsFrom(data[:4*n])
		c := int8sFrom(data[4*n : 5*n])
		want := dotF32Int8Generic(q, c)
		for _, im := range testImpls(t) {
			if got := dotF32Int8On(im.set, q, c); !agrees(got, want, n, absDotF32Int8(q, c)) {
				t.Fatalf("%s dotF32Int8 n=%d: %g, generic %g", im.name, n, got, want)
			}
		}
	})
}

// FuzzGather covers the batch and gather forms: data[0] is d, data[1] the
// number of ids, then the ids (one byte each, some outside the arena), then
// the floats of q and the arena.
func FuzzGather(f *testing.F) {
	f.Add([]byte{3, 2, 0, 1, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24})
	f.Add(make([]byte, 200))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		d, nids := int(data[0])%40, int(data[1])%70
		data = data[2:]
		if nids > len(data) {
			nids = len(data)
		}
		ids := make([]uint32, nids)
		for i := range ids {
			ids[i] = uint32(data[i])
		}
		v := floatsFrom(data[nids:])
		if len(v) < d {
			return
		}
		q, arena := v[:d], v[d:]
		codes := make([]int8, len(arena))
		for i, x := range arena {
			codes[i] = int8(int(x) % 128)
		}
		valid := len(ids) // ids before the first one outside the arena
		nvec := 0
		if d > 0 { // with d = 0 every id names an empty vector
			nvec = len(arena) / d
			valid = 0
			for valid < len(ids) && int(ids[valid]) < nvec {
				valid++
			}
		}
		for _, im := range testImpls(t) {
			out := make([]float32, len(ids))
			vec := func(id uint32) []float32 { return arena[int(id)*d : int(id+1)*d] }
			code := func(id uint32) []int8 { return codes[int(id)*d : int(id+1)*d] }
			gather := func(name string, run func(), want func(id uint32) float32, abs func(id uint32) float64) {
				for i := range out {
					out[i] = -1
				}
				panicked := func() (p bool) {
					defer func() { p = recover() != nil }()
					run()
					return false
				}()
				if panicked != (valid < len(ids)) {
					t.Fatalf("%s %s d=%d ids=%v arena=%d vectors: panicked=%v", im.name, name, d, ids, nvec, panicked)
				}
				for i, id := range ids[:valid] {
					if !agrees(out[i], want(id), d, abs(id)) {
						t.Fatalf("%s %s d=%d: out[%d] = %g, generic %g", im.name, name, d, i, out[i], want(id))
					}
				}
			}
			gather("l2SqGather", func() { l2SqGatherOn(im.set, q, arena, ids, out) },
				func(id uint32) float32 { return l2SqGeneric(q, vec(id)) },
				func(id uint32) float64 { return absL2(q, vec(id)) })
			gather("dotGather", func() { dotGatherOn(im.set, q, arena, ids, out) },
				func(id uint32) float32 { return dotGeneric(q, vec(id)) },
				func(id uint32) float64 { return absDot(q, vec(id)) })
			gather("dotF32Int8Gather", func() { dotF32Int8GatherOn(im.set, q, codes, ids, out) },
				func(id uint32) float32 { return dotF32Int8Generic(q, code(id)) },
				func(id uint32) float64 { return absDotF32Int8(q, code(id)) })

			nb := nvec
			if nb > len(out) {
				nb = len(out)
			}
			if d == 0 {
				continue
			}
			l2SqBatchOn(im.set, q, arena, out[:nb])
			for i := 0; i < nb; i++ {
				x := arena[i*d : (i+1)*d]
				if want := l2SqGeneric(q, x); !agrees(out[i], want, d, absL2(q, x)) {
					t.Fatalf("%s l2SqBatch d=%d: out[%d] = %g, generic %g", im.name, d, i, out[i], want)
				}
			}
			dotBatchOn(im.set, q, arena, out[:nb])
			for i := 0; i < nb; i++ {
				x := arena[i*d : (i+1)*d]
				if want := dotGeneric(q, x); !agrees(out[i], want, d, absDot(q, x)) {
					t.Fatalf("%s dotBatch d=%d: out[%d] = %g, generic %g", im.name, d, i, out[i], want)
				}
			}
		}
	})
}

func FuzzADC(f *testing.F) {
	f.Add(uint8(3), []byte{1, 2, 3, 4, 5, 6, 255, 0, 9})
	f.Fuzz(func(t *testing.T, m8 uint8, codes8 []byte) {
		m := int(m8%20) + 1
		table := make([]float32, m*256)
		for i := range table {
			table[i] = float32(i%251) - 125.5
		}
		n := len(codes8) / m
		want, got := make([]float32, n), make([]float32, n)
		adc8Generic(table, codes8, want)
		for _, im := range testImpls(t) {
			adc8On(im.set, table, codes8, got)
			for i := range got {
				var abs float64
				for j := 0; j < m; j++ {
					abs += math.Abs(float64(table[j<<8+int(codes8[i*m+j])]))
				}
				if !agrees(got[i], want[i], m, abs) {
					t.Fatalf("%s adc8 m=%d: out[%d] = %g, generic %g", im.name, m, i, got[i], want[i])
				}
			}
		}
		m16 := m%4 + 1
		table16 := make([]float32, m16*65536)
		for i := range table16 {
			table16[i] = float32(i%1009) - 504.25
		}
		codes16 := make([]uint16, len(codes8)/2)
		for i := range codes16 {
			codes16[i] = binary.LittleEndian.Uint16(codes8[2*i:])
		}
		n16 := len(codes16) / m16
		want16, got16 := make([]float32, n16), make([]float32, n16)
		adc16Generic(table16, codes16, want16)
		for _, im := range testImpls(t) {
			adc16On(im.set, table16, codes16, got16)
			for i := range got16 {
				var abs float64
				for j := 0; j < m16; j++ {
					abs += math.Abs(float64(table16[j<<16+int(codes16[i*m16+j])]))
				}
				if !agrees(got16[i], want16[i], m16, abs) {
					t.Fatalf("%s adc16 m=%d: out[%d] = %g, generic %g", im.name, m16, i, got16[i], want16[i])
				}
			}
		}
	})
}
