//go:build !purego

package kernels

import (
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// asmImpls are the avo-generated implementations (zkernels_amd64.s), worst
// first. AVX-512 needs F, BW and VL (byte loads and masked tails on YMM)
// and BMI2 (BZHI builds the tail mask). The PQ ADC kernels are scalar and
// the same in both.
var asmImpls = []asmImpl{
	{
		level:   levelAVX2,
		missing: lacks(cpuid.AVX2, cpuid.FMA3),
		set: kernelSet{
			l2Sq: l2SqAVX2, dot: dotAVX2,
			l2SqBatch: l2SqBatchAVX2, dotBatch: dotBatchAVX2,
			l2SqGather: l2SqGatherAVX2, dotGather: dotGatherAVX2,
			l2SqInt8: l2SqInt8AVX2, dotInt8: dotInt8AVX2,
			l2SqInt8Gather: l2SqInt8GatherAVX2, dotInt8Gather: dotInt8GatherAVX2,
			dotF32Int8: dotF32Int8AVX2, dotF32Int8Gather: dotF32Int8GatherAVX2,
			adc8: adc8AVX, adc16: adc16AVX,
		},
	},
	{
		level:   levelAVX512,
		missing: lacks(cpuid.AVX2, cpuid.FMA3, cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512VL, cpuid.BMI2),
		set: kernelSet{
			l2Sq: l2SqAVX512, dot: dotAVX512,
			l2SqBatch: l2SqBatchAVX512, dotBatch: dotBatchAVX512,
			l2SqGather: l2SqGatherAVX512, dotGather: dotGatherAVX512,
			l2SqInt8: l2SqInt8AVX512, dotInt8: dotInt8AVX512,
			l2SqInt8Gather: l2SqInt8GatherAVX512, dotInt8Gather: dotInt8GatherAVX512,
			dotF32Int8: dotF32Int8AVX512, dotF32Int8Gather: dotF32Int8GatherAVX512,
			adc8: adc8AVX, adc16: adc16AVX,
		},
	},
}

// lacks lists the features of fs this CPU (and OS) does not support.
func lacks(fs ...cpuid.FeatureID) string {
	var names []string
	for _, f := range fs {
		if !cpuid.CPU.Supports(f) {
			names = append(names, f.String())
		}
	}
	return strings.Join(names, ", ")
}
