//go:build !purego

#include "textflag.h"

// NEON kernels, hand-written. The Go assembler lacks the floating-point and
// widening vector instructions used here, so they are spelled as WORDs with
// the instruction in the comment beside each (verified with go tool objdump).
// Registers: R0-R7 and V0-V7, V16-V20 (all caller-saved in Go's ABI).

// func l2SqNEON(a, b []float32) float32
TEXT ·l2SqNEON(SB), NOSPLIT, $0-52
	MOVD a_base+0(FP), R0
	MOVD a_len+8(FP), R2
	MOVD b_base+24(FP), R1
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	AND  $~15, R2, R3 // elements in 16-element blocks
	SUB  R3, R2, R2   // tail elements
	CBZ  R3, l2sq_tail

l2sq_block:
	VLD1.P 64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P 64(R1), [V4.S4, V5.S4, V6.S4, V7.S4]
	WORD $0x4ea4d400 // fsub v0.4s, v0.4s, v4.4s
	WORD $0x4ea5d421 // fsub v1.4s, v1.4s, v5.4s
	WORD $0x4ea6d442 // fsub v2.4s, v2.4s, v6.4s
	WORD $0x4ea7d463 // fsub v3.4s, v3.4s, v7.4s
	VFMLA V0.S4, V0.S4, V16.S4
	VFMLA V1.S4, V1.S4, V17.S4
	VFMLA V2.S4, V2.S4, V18.S4
	VFMLA V3.S4, V3.S4, V19.S4
	SUBS $16, R3, R3
	BNE  l2sq_block

l2sq_tail:
	CBZ R2, l2sq_reduce

l2sq_scalar:
	FMOVS.P 4(R0), F0
	FMOVS.P 4(R1), F1
	FSUBS   F1, F0, F0
	FMADDS  F0, F20, F0, F20
	SUBS    $1, R2, R2
	BNE     l2sq_scalar

l2sq_reduce:
	WORD  $0x4e31d610 // fadd v16.4s, v16.4s, v17.4s
	WORD  $0x4e33d652 // fadd v18.4s, v18.4s, v19.4s
	WORD  $0x4e32d610 // fadd v16.4s, v16.4s, v18.4s
	WORD  $0x6e30d610 // faddp v16.4s, v16.4s, v16.4s
	WORD  $0x7e30da10 // faddp s16, v16.2s
	FADDS F20, F16, F16
	FMOVS F16, ret+48(FP)
	RET

// func dotNEON(a, b []float32) float32
TEXT ·dotNEON(SB), NOSPLIT, $0-52
	MOVD a_base+0(FP), R0
	MOVD a_len+8(FP), R2
	MOVD b_base+24(FP), R1
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	AND  $~15, R2, R3
	SUB  R3, R2, R2
	CBZ  R3, dot_tail

dot_block:
	VLD1.P 64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P 64(R1), [V4.S4, V5.S4, V6.S4, V7.S4]
	VFMLA  V0.S4, V4.S4, V16.S4
	VFMLA  V1.S4, V5.S4, V17.S4
	VFMLA  V2.S4, V6.S4, V18.S4
	VFMLA  V3.S4, V7.S4, V19.S4
	SUBS   $16, R3, R3
	BNE    dot_block

dot_tail:
	CBZ R2, dot_reduce

dot_scalar:
	FMOVS.P 4(R0), F0
	FMOVS.P 4(R1), F1
	FMADDS  F0, F20, F1, F20
	SUBS    $1, R2, R2
	BNE     dot_scalar

dot_reduce:
	WORD  $0x4e31d610 // fadd v16.4s, v16.4s, v17.4s
	WORD  $0x4e33d652 // fadd v18.4s, v18.4s, v19.4s
	WORD  $0x4e32d610 // fadd v16.4s, v16.4s, v18.4s
	WORD  $0x6e30d610 // faddp v16.4s, v16.4s, v16.4s
	WORD  $0x7e30da10 // faddp s16, v16.2s
	FADDS F20, F16, F16
	FMOVS F16, ret+48(FP)
	RET

// func dotInt8NEON(a, b []int8) int32
// SMULL/SMULL2 widen the products to int16 (|a·b| <= 2^14 fits), SADALP adds
// pairs of them into the int32 accumulators.
TEXT ·dotInt8NEON(SB), NOSPLIT, $0-52
	MOVD a_base+0(FP), R0
	MOVD a_len+8(FP), R2
	MOVD b_base+24(FP), R1
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	MOVW ZR, R4
	AND  $~31, R2, R3
	SUB  R3, R2, R2
	CBZ  R3, dot8_tail

dot8_block:
	VLD1.P 32(R0), [V0.B16, V1.B16]
	VLD1.P 32(R1), [V4.B16, V5.B16]
	WORD $0x0e24c002 // smull v2.8h, v0.8b, v4.8b
	WORD $0x4e24c003 // smull2 v3.8h, v0.16b, v4.16b
	WORD $0x0e25c026 // smull v6.8h, v1.8b, v5.8b
	WORD $0x4e25c027 // smull2 v7.8h, v1.16b, v5.16b
	WORD $0x4e606850 // sadalp v16.4s, v2.8h
	WORD $0x4e606871 // sadalp v17.4s, v3.8h
	WORD $0x4e6068d2 // sadalp v18.4s, v6.8h
	WORD $0x4e6068f3 // sadalp v19.4s, v7.8h
	SUBS $32, R3, R3
	BNE  dot8_block

dot8_tail:
	CBZ R2, dot8_reduce

dot8_scalar:
	MOVB.P 1(R0), R5
	MOVB.P 1(R1), R6
	MULW   R5, R6, R6
	ADDW   R6, R4, R4
	SUBS   $1, R2, R2
	BNE    dot8_scalar

dot8_reduce:
	VADD  V17.S4, V16.S4, V16.S4
	VADD  V19.S4, V18.S4, V18.S4
	VADD  V18.S4, V16.S4, V16.S4
	VADDV V16.S4, V16
	VMOV  V16.S[0], R5
	ADDW  R5, R4, R4
	MOVW  R4, ret+48(FP)
	RET

// func l2SqInt8NEON(a, b []int8) int32
// SSUBL/SSUBL2 widen the differences to int16 (|a-b| <= 255 fits), SMLAL/
// SMLAL2 square them into the int32 accumulators.
TEXT ·l2SqInt8NEON(SB), NOSPLIT, $0-52
	MOVD a_base+0(FP), R0
	MOVD a_len+8(FP), R2
	MOVD b_base+24(FP), R1
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	MOVW ZR, R4
	AND  $~15, R2, R3
	SUB  R3, R2, R2
	CBZ  R3, l2sq8_tail

l2sq8_block:
	VLD1.P 16(R0), [V0.B16]
	VLD1.P 16(R1), [V1.B16]
	WORD $0x0e212002 // ssubl v2.8h, v0.8b, v1.8b
	WORD $0x4e212003 // ssubl2 v3.8h, v0.16b, v1.16b
	WORD $0x0e628050 // smlal v16.4s, v2.4h, v2.4h
	WORD $0x4e628051 // smlal2 v17.4s, v2.8h, v2.8h
	WORD $0x0e638072 // smlal v18.4s, v3.4h, v3.4h
	WORD $0x4e638073 // smlal2 v19.4s, v3.8h, v3.8h
	SUBS $16, R3, R3
	BNE  l2sq8_block

l2sq8_tail:
	CBZ R2, l2sq8_reduce

l2sq8_scalar:
	MOVB.P 1(R0), R5
	MOVB.P 1(R1), R6
	SUBW   R6, R5, R5
	MULW   R5, R5, R5
	ADDW   R5, R4, R4
	SUBS   $1, R2, R2
	BNE    l2sq8_scalar

l2sq8_reduce:
	VADD  V17.S4, V16.S4, V16.S4
	VADD  V19.S4, V18.S4, V18.S4
	VADD  V18.S4, V16.S4, V16.S4
	VADDV V16.S4, V16
	VMOV  V16.S[0], R5
	ADDW  R5, R4, R4
	MOVW  R4, ret+48(FP)
	RET
