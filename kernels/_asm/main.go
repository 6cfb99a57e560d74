// Command _asm generates the amd64 assembly of package kernels with avo.
//
// Run it from this folder (make generate, or go generate ./kernels):
//
//	go run . -out ../zkernels_amd64.s -stubs ../zkernels_amd64.go -pkg kernels
//
// Every kernel comes in two tiers built by the same code: AVX2+FMA on YMM
// registers and AVX-512 (F, BW, VL) on ZMM registers. The tiers differ only
// in the register width and in the tail: AVX2 finishes the last elements
// with scalar instructions, AVX-512 with one masked step. The output is
// deterministic: the same program always prints the same files.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/reg"
)

// isa is one instruction-set tier.
type isa struct {
	name   string // function-name suffix: AVX2 or AVX512
	lanes  int    // float32 lanes in a vector register
	masked bool   // tails by one masked step (AVX-512) instead of a scalar loop
	unroll int    // independent accumulators (vector steps) in the main loop
}

var (
	avx2   = isa{name: "AVX2", lanes: 8, unroll: 4}
	avx512 = isa{name: "AVX512", lanes: 16, masked: true, unroll: 4}
)

// vec allocates a vector register of the tier's width.
func (s isa) vec() VecVirtual {
	if s.lanes == 16 {
		return ZMM()
	}
	return YMM()
}

// label makes a unique label name; the counter keeps the output
// deterministic.
var labelCount int

func label(prefix string) string {
	labelCount++
	return fmt.Sprintf("%s_%d", prefix, labelCount)
}

func main() {
	ConstraintExpr("!purego")
	for _, s := range []isa{avx2, avx512} {
		for _, k := range kernels {
			s.single(k)
			if k.batch {
				s.batch(k)
			}
			s.gather(k)
		}
	}
	adc(8)
	adc(16)
	Generate()
}
