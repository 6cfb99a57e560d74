package kernels

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// The benchmarks run every implementation the CPU has through the ...On
// wrappers (the exported functions add only the minAsmLen test), named
// dim=D/impl=I for benchstat. Besides the wall time (ns/op) they report the
// CPU time of the benchmarking thread (cpu-ns/op, Linux), which leaves out
// the time the thread waited for a core: on a busy shared machine that is
// the steadier figure. docs/benchmarks.md has the figures and the command
// that made them (kernels/benchtable.sh).

var benchDims = []int{96, 128, 384, 768, 1536}

// benchImpls is generic plus every assembly implementation the CPU runs.
func benchImpls(b *testing.B) []testImpl {
	return append([]testImpl{{"generic", nil}}, testImpls(b)...)
}

var sinkF float32
var sinkI int32

func benchRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// cpuStart pins the goroutine to its thread and returns the thread's CPU
// time; cpuStop reports the CPU time per op (divided by per, named unit) and
// unpins.
func cpuStart() int64 {
	runtime.LockOSThread()
	return threadCPU()
}

func cpuStop(b *testing.B, c0 int64, per int, unit string) {
	if c1 := threadCPU(); c0 >= 0 && c1 >= 0 {
		b.ReportMetric(float64(c1-c0)/float64(b.N*per), unit)
	}
	runtime.UnlockOSThread()
}

func BenchmarkL2Sq(b *testing.B) {
	benchPairF32(b, func(s *kernelSet, x, y []float32) float32 { return l2SqOn(s, x, y) })
}

func BenchmarkDot(b *testing.B) {
	benchPairF32(b, func(s *kernelSet, x, y []float32) float32 { return dotOn(s, x, y) })
}

func benchPairF32(b *testing.B, f func(s *kernelSet, x, y []float32) float32) {
	r := benchRand()
	for _, d := range benchDims {
		x, y := make([]float32, d), make([]float32, d)
		fillF32(r, x, shapeUniform, nil)
		fillF32(r, y, shapeUniform, nil)
		for _, im := range benchImpls(b) {
			b.Run(fmt.Sprintf("dim=%d/impl=%s", d, im.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(8 * d))
				c0 := cpuStart()
				for b.Loop() {
					sinkF += f(im.set, x, y)
				}
				cpuStop(b, c0, 1, "cpu-ns/op")
			})
		}
	}
}

func BenchmarkL2SqInt8(b *testing.B) {
	benchPairInt8(b, func(s *kernelSet, x, y []int8) int32 { return l2SqInt8On(s, x, y) })
}

func BenchmarkDotInt8(b *testing.B) {
	benchPairInt8(b, func(s *kernelSet, x, y []int8) int32 { return dotInt8On(s, x, y) })
}

func benchPairInt8(b *testing.B, f func(s *kernelSet, x, y []int8) int32) {
	r := benchRand()
	for _, d := range benchDims {
		x, y := make([]int8, d), make([]int8, d)
		fillInt8(r, x, 0)
		fillInt8(r, y, 0)
		for _, im := range benchImpls(b) {
			b.Run(fmt.Sprintf("dim=%d/impl=%s", d, im.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(2 * d))
				c0 := cpuStart()
				for b.Loop() {
					sinkI += f(im.set, x, y)
				}
				cpuStop(b, c0, 1, "cpu-ns/op")
			})
		}
	}
}

func BenchmarkDotF32Int8(b *testing.B) {
	r := benchRand()
	for _, d := range benchDims {
		q, c := make([]float32, d), make([]int8, d)
		fillF32(r, q, shapeUniform, nil)
		fillInt8(r, c, 0)
		for _, im := range benchImpls(b) {
			b.Run(fmt.Sprintf("dim=%d/impl=%s", d, im.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(5 * d))
				c0 := cpuStart()
				for b.Loop() {
					sinkF += dotF32Int8On(im.set, q, c)
				}
				cpuStop(b, c0, 1, "cpu-ns/op")
			})
		}
	}
}

// BenchmarkThreshold times the pair kernels at small lengths in the generic
// code and in the assembly: minAsmLen is where the assembly starts to win.
func BenchmarkThreshold(b *testing.B) {
	r := benchRand()
	for _, d := range []int{4, 8, 12, 16, 24, 32, 64} {
		x, y := make([]float32, d), make([]float32, d)
		xi, yi := make([]int8, d), make([]int8, d)
		fillF32(r, x, shapeUniform, nil)
		fillF32(r, y, shapeUniform, nil)
		fillInt8(r, xi, 0)
		fillInt8(r, yi, 0)
		for _, im := range benchImpls(b) {
			b.Run(fmt.Sprintf("kernel=l2sq/dim=%d/impl=%s", d, im.name), func(b *testing.B) {
				c0 := cpuStart()
				for b.Loop() {
					sinkF += l2SqOn(im.set, x, y)
				}
				cpuStop(b, c0, 1, "cpu-ns/op")
			})
			b.Run(fmt.Sprintf("kernel=dot/dim=%d/impl=%s", d, im.name), func(b *testing.B) {
				c0 := cpuStart()
				for b.Loop() {
					sinkF += dotOn(im.set, x, y)
				}
				cpuStop(b, c0, 1, "cpu-ns/op")
			})
			b.Run(fmt.Sprintf("kernel=dotInt8/dim=%d/impl=%s", d, im.name), func(b *testing.B) {
				c0 := cpuStart()
				for b.Loop() {
					sinkI += dotInt8On(im.set, xi, yi)
				}
				cpuStop(b, c0, 1, "cpu-ns/op")
			})
		}
	}
}

// The neighbour-list benchmarks: 64 vectors a call, as an HNSW layer-0
// expansion (M=32 links, two hops' worth) would score. form=batch reads 64
// contiguous vectors and form=batch-singles makes 64 single calls over the
// same ones; form=gather reads 64 random ids and form=gather-singles makes 64
// single calls over the same ids. data=hot scores the same 64 vectors every
// op (they stay in cache: the call overhead shows); data=cold a new place in
// a 64 MiB arena every op (the vectors come from memory, as in a graph walk
// over a large index: prefetching shows). The ns/vec metric is the
// per-vector cost.
const (
	neighbours = 64
	arenaBytes = 64 << 20
	idLists    = 1024
)

func benchIDs(r *rand.Rand, nvec int) [][]uint32 {
	lists := make([][]uint32, idLists)
	for i := range lists {
		lists[i] = make([]uint32, neighbours)
		for j := range lists[i] {
			lists[i][j] = uint32(r.IntN(nvec))
		}
	}
	return lists
}

// neighbourRun runs f(i), one op over 64 vectors of vecBytes each, as
// data=hot (i always 0) and data=cold (i counts the ops).
func neighbourRun(b *testing.B, name string, vecBytes int, f func(i int)) {
	for _, data := range []string{"hot", "cold"} {
		b.Run(name+"/data="+data, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(neighbours * vecBytes))
			i := 0
			c0 := cpuStart()
			for b.Loop() {
				f(i)
				if data == "cold" {
					i++
				}
			}
			cpuStop(b, c0, neighbours, "cpu-ns/vec")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*neighbours), "ns/vec")
		})
	}
}

func BenchmarkL2Sq64(b *testing.B) {
	benchNeighboursF32(b, func(s *kernelSet, x, y []float32) float32 { return l2SqOn(s, x, y) },
		l2SqBatchOn, l2SqGatherOn)
}

func BenchmarkDot64(b *testing.B) {
	benchNeighboursF32(b, func(s *kernelSet, x, y []float32) float32 { return dotOn(s, x, y) },
		dotBatchOn, dotGatherOn)
}

func benchNeighboursF32(b *testing.B, single func(s *kernelSet, x, y []float32) float32,
	batch func(s *kernelSet, q, data, out []float32),
	gather func(s *kernelSet, q, arena []float32, ids []uint32, out []float32)) {
	r := benchRand()
	for _, d := range benchDims {
		nvec := arenaBytes / (4 * d)
		q := make([]float32, d)
		arena := make([]float32, nvec*d)
		fillF32(r, q, shapeUniform, nil)
		fillF32(r, arena, shapeUniform, nil)
		lists := benchIDs(r, nvec)
		out := make([]float32, neighbours)
		first := func(i int) int { return (i * neighbours) % (nvec - neighbours) * d }
		for _, im := range benchImpls(b) {
			name := fmt.Sprintf("dim=%d/impl=%s/form=", d, im.name)
			neighbourRun(b, name+"batch", 4*d, func(i int) {
				o := first(i)
				batch(im.set, q, arena[o:o+neighbours*d], out)
			})
			neighbourRun(b, name+"batch-singles", 4*d, func(i int) {
				o := first(i)
				for j := range out {
					out[j] = single(im.set, q, arena[o+j*d:o+(j+1)*d])
				}
			})
			neighbourRun(b, name+"gather", 4*d, func(i int) { gather(im.set, q, arena, lists[i%idLists], out) })
			neighbourRun(b, name+"gather-singles", 4*d, func(i int) {
				for j, id := range lists[i%idLists] {
					o := int(id) * d
					out[j] = single(im.set, q, arena[o:o+d])
				}
			})
		}
	}
}

func BenchmarkDotF32Int864(b *testing.B) {
	r := benchRand()
	for _, d := range benchDims {
		nvec := arenaBytes / d
		q := make([]float32, d)
		arena := make([]int8, nvec*d)
		fillF32(r, q, shapeUniform, nil)
		fillInt8(r, arena, 0)
		lists := benchIDs(r, nvec)
		out := make([]float32, neighbours)
		for _, im := range benchImpls(b) {
			name := fmt.Sprintf("dim=%d/impl=%s/form=", d, im.name)
			neighbourRun(b, name+"gather", d, func(i int) { dotF32Int8GatherOn(im.set, q, arena, lists[i%idLists], out) })
			neighbourRun(b, name+"gather-singles", d, func(i int) {
				for j, id := range lists[i%idLists] {
					o := int(id) * d
					out[j] = dotF32Int8On(im.set, q, arena[o:o+d])
				}
			})
		}
	}
}

func BenchmarkDotInt864(b *testing.B) {
	r := benchRand()
	for _, d := range benchDims {
		nvec := arenaBytes / d
		q := make([]int8, d)
		arena := make([]int8, nvec*d)
		fillInt8(r, q, 0)
		fillInt8(r, arena, 0)
		lists := benchIDs(r, nvec)
		out := make([]int32, neighbours)
		for _, im := range benchImpls(b) {
			name := fmt.Sprintf("dim=%d/impl=%s/form=", d, im.name)
			neighbourRun(b, name+"gather", d, func(i int) { dotInt8GatherOn(im.set, q, arena, lists[i%idLists], out) })
			neighbourRun(b, name+"gather-singles", d, func(i int) {
				for j, id := range lists[i%idLists] {
					o := int(id) * d
					out[j] = dotInt8On(im.set, q, arena[o:o+d])
				}
			})
		}
	}
}

// BenchmarkADC8 scores 1024 PQ codes a call against an M×256 table.
func BenchmarkADC8(b *testing.B) {
	r := benchRand()
	const n = 1024
	for _, m := range []int{8, 16, 32, 64, 96} {
		table := make([]float32, m*256)
		fillF32(r, table, shapeUniform, nil)
		codes := make([]uint8, n*m)
		for i := range codes {
			codes[i] = uint8(r.Uint32())
		}
		out := make([]float32, n)
		for _, im := range benchImpls(b) {
			b.Run(fmt.Sprintf("m=%d/impl=%s", m, im.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(codes)))
				c0 := cpuStart()
				for b.Loop() {
					adc8On(im.set, table, codes, out)
				}
				cpuStop(b, c0, n, "cpu-ns/code")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/code")
			})
		}
	}
}

// BenchmarkADC16 scores 1024 PQ codes a call against an M×65536 table.
func BenchmarkADC16(b *testing.B) {
	r := benchRand()
	const n = 1024
	for _, m := range []int{4, 8, 16} {
		table := make([]float32, m*65536)
		fillF32(r, table, shapeUniform, nil)
		codes := make([]uint16, n*m)
		for i := range codes {
			codes[i] = uint16(r.Uint32())
		}
		out := make([]float32, n)
		for _, im := range benchImpls(b) {
			b.Run(fmt.Sprintf("m=%d/impl=%s", m, im.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(2 * len(codes)))
				c0 := cpuStart()
				for b.Loop() {
					adc16On(im.set, table, codes, out)
				}
				cpuStop(b, c0, n, "cpu-ns/code")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/code")
			})
		}
	}
}

// BenchmarkExported times the exported pair kernels as callers see them,
// dispatch included, with each implementation forced in turn.
func BenchmarkExported(b *testing.B) {
	r := benchRand()
	for _, d := range []int{16, 128, 768} {
		x, y := make([]float32, d), make([]float32, d)
		fillF32(r, x, shapeUniform, nil)
		fillF32(r, y, shapeUniform, nil)
		for _, im := range benchImpls(b) {
			lv := asmLevel(im.name)
			b.Run(fmt.Sprintf("kernel=L2Sq/dim=%d/impl=%s", d, im.name), func(b *testing.B) {
				setLevelForTest(b, lv)
				c0 := cpuStart()
				for b.Loop() {
					sinkF += L2Sq(x, y)
				}
				cpuStop(b, c0, 1, "cpu-ns/op")
			})
			b.Run(fmt.Sprintf("kernel=Dot/dim=%d/impl=%s", d, im.name), func(b *testing.B) {
				setLevelForTest(b, lv)
				c0 := cpuStart()
				for b.Loop() {
					sinkF += Dot(x, y)
				}
				cpuStop(b, c0, 1, "cpu-ns/op")
			})
		}
	}
}
