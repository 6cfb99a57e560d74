package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// unroll is the number of independent accumulators in the PQ ADC loop.
const unroll = 4

// adc emits the PQ asymmetric-distance sum for codes of the given width
// (8 or 16 bits): out[i] = Σ_j table[j<<bits + codes[i*m+j]]. It is scalar:
// one zero-extending code load and one VADDSS with a memory operand per
// subquantizer, over unroll independent accumulators so that the adds do
// not wait on each other. The same function serves both tiers: a
// VPGATHERDPS version (8 or 16 subquantizers a gather) measured 1.6-3x
// slower on the AMD EPYC here (docs/benchmarks.md, Kernels).
func adc(bits int) {
	name := fmt.Sprintf("adc%dAVX", bits)
	TEXT(name, NOSPLIT, fmt.Sprintf("func(table []float32, codes []uint%d, m int, out []float32)", bits))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets out[i] = Σ_j table[j<<%d + codes[i*m+j]] for j < m;", name, bits),
		fmt.Sprintf("len(table) >= m<<%d and len(codes) >= len(out)·m.", bits))
	size := bits / 8
	row := 4 << bits // bytes of one subquantizer's table
	tbl := Load(Param("table").Base(), GP64())
	codes := Load(Param("codes").Base(), GP64())
	m := Load(Param("m"), GP64())
	out := Load(Param("out").Base(), GP64())
	mblk := GP64()
	MOVQ(m, mblk)
	ANDQ(I32(-unroll), mblk)

	j := GP64()
	XORQ(j, j)
	loop, done := label("vec"), label("done")
	CMPQ(j, addr(Param("out").Len()))
	JAE(LabelRef(done))
	Label(loop)
	acc := make([]VecVirtual, unroll)
	for u := range acc {
		acc[u] = XMM()
		VXORPS(acc[u], acc[u], acc[u])
	}
	tp := GP64()
	MOVQ(tbl, tp)
	t := GP64()
	XORQ(t, t)
	load := func(u int, c Register) {
		m := Mem{Base: codes, Index: t, Scale: uint8(size), Disp: u * size}
		if bits == 8 {
			MOVBQZX(m, c)
		} else {
			MOVWQZX(m, c)
		}
	}

	blk, blkDone := label("blk"), label("blkdone")
	CMPQ(t, mblk)
	JAE(LabelRef(blkDone))
	Label(blk)
	for u := 0; u < unroll; u++ {
		c := GP64()
		load(u, c)
		VADDSS(Mem{Base: tp, Index: c, Scale: 4, Disp: u * row}, acc[u], acc[u])
	}
	ADDQ(U32(unroll*row), tp)
	ADDQ(U32(unroll), t)
	CMPQ(t, mblk)
	JB(LabelRef(blk))
	Label(blkDone)

	one, oneDone := label("one"), label("onedone")
	CMPQ(t, m)
	JAE(LabelRef(oneDone))
	Label(one)
	c := GP64()
	load(0, c)
	VADDSS(Mem{Base: tp, Index: c, Scale: 4}, acc[0], acc[0])
	ADDQ(U32(row), tp)
	INCQ(t)
	CMPQ(t, m)
	JB(LabelRef(one))
	Label(oneDone)

	VADDSS(acc[1], acc[0], acc[0])
	VADDSS(acc[3], acc[2], acc[2])
	VADDSS(acc[2], acc[0], acc[0])
	VMOVSS(acc[0], Mem{Base: out, Index: j, Scale: 4})
	LEAQ(Mem{Base: codes, Index: m, Scale: uint8(size)}, codes)
	INCQ(j)
	CMPQ(j, addr(Param("out").Len()))
	JB(LabelRef(loop))
	Label(done)
	RET()
}
