package kernels

// Placeholder dispatch: generic only. The asm issue replaces this file with
// the cpuid-driven choice.

func Impl() string { return "generic" }

func l2Sq(a, b []float32) float32      { return l2SqGeneric(a, b) }
func dot(a, b []float32) float32       { return dotGeneric(a, b) }
func l2SqBatch(q, data, out []float32) { l2SqBatchGeneric(q, data, out) }
func dotBatch(q, data, out []float32)  { dotBatchGeneric(q, data, out) }
func l2SqGather(q, arena []float32, ids []uint32, out []float32) {
	l2SqGatherGeneric(q, arena, ids, out)
}
func dotGather(q, arena []float32, ids []uint32, out []float32) { dotGatherGeneric(q, arena, ids, out) }
func l2SqInt8(a, b []int8) int32                                { return l2SqInt8Generic(a, b) }
func dotInt8(a, b []int8) int32                                 { return dotInt8Generic(a, b) }
func dotF32Int8(q []float32, c []int8) float32                  { return dotF32Int8Generic(q, c) }
func dotF32Int8Gather(q []float32, arena []int8, ids []uint32, out []float32) {
	dotF32Int8GatherGeneric(q, arena, ids, out)
}
func adc8(table []float32, codes []uint8, out []float32)   { adc8Generic(table, codes, out) }
func adc16(table []float32, codes []uint16, out []float32) { adc16Generic(table, codes, out) }
