//go:build !purego

package kernels

// asmImpls holds the NEON implementation (neon_arm64.s); Advanced SIMD is
// part of every arm64 CPU Go runs on. Its batch and gather forms loop in Go
// over the NEON pair kernels; the kernels without NEON code (float32 x int8,
// PQ ADC) run the generic code.
var asmImpls = []asmImpl{{
	level: levelNEON,
	set: kernelSet{
		l2Sq: l2SqNEON, dot: dotNEON,
		l2SqBatch: l2SqBatchNEON, dotBatch: dotBatchNEON,
		l2SqGather: l2SqGatherNEON, dotGather: dotGatherNEON,
		l2SqInt8: l2SqInt8NEON, dotInt8: dotInt8NEON,
		l2SqInt8Gather: l2SqInt8GatherNEON, dotInt8Gather: dotInt8GatherNEON,
		dotF32Int8: dotF32Int8Generic, dotF32Int8Gather: dotF32Int8GatherNEON,
		adc8:  func(table []float32, codes []uint8, _ int, out []float32) { adc8Generic(table, codes, out) },
		adc16: func(table []float32, codes []uint16, _ int, out []float32) { adc16Generic(table, codes, out) },
	},
}}

func l2SqBatchNEON(q, data, out []float32) {
	d := len(q)
	for i := range out {
		out[i] = l2SqNEON(q, data[i*d:(i+1)*d])
	}
}

func dotBatchNEON(q, data, out []float32) {
	d := len(q)
	for i := range out {
		out[i] = dotNEON(q, data[i*d:(i+1)*d])
	}
}

// The gather forms follow the assembly contract: stop at the first id whose
// vector lies outside the arena and return the number of results written.

func l2SqGatherNEON(q, arena []float32, ids []uint32, out []float32) int {
	d := uint64(len(q))
	for i, id := range ids {
		o := uint64(id) * d
		if o+d > uint64(len(arena)) {
			return i
		}
		out[i] = l2SqNEON(q, arena[o:o+d])
	}
	return len(ids)
}

func dotGatherNEON(q, arena []float32, ids []uint32, out []float32) int {
	d := uint64(len(q))
	for i, id := range ids {
		o := uint64(id) * d
		if o+d > uint64(len(arena)) {
			return i
		}
		out[i] = dotNEON(q, arena[o:o+d])
	}
	return len(ids)
}

func l2SqInt8GatherNEON(q, arena []int8, ids []uint32, out []int32) int {
	d := uint64(len(q))
	for i, id := range ids {
		o := uint64(id) * d
		if o+d > uint64(len(arena)) {
			return i
		}
		out[i] = l2SqInt8NEON(q, arena[o:o+d])
	}
	return len(ids)
}

func dotInt8GatherNEON(q, arena []int8, ids []uint32, out []int32) int {
	d := uint64(len(q))
	for i, id := range ids {
		o := uint64(id) * d
		if o+d > uint64(len(arena)) {
			return i
		}
		out[i] = dotInt8NEON(q, arena[o:o+d])
	}
	return len(ids)
}

func dotF32Int8GatherNEON(q []float32, arena []int8, ids []uint32, out []float32) int {
	dotF32Int8GatherGeneric(q, arena, ids, out)
	return len(ids)
}
