package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// kernel describes one distance between a vector a and a vector b: the
// instructions of one full vector step, of the masked tail step (AVX-512) and
// of the scalar tail step (AVX2). The loops around them are shared.
type kernel struct {
	name         string // Go name stem: l2Sq, dot, l2SqInt8, dotInt8, dotF32Int8
	a, b, ret    string // Go element types of a, b and of the result
	aSize, bSize int    // bytes per element of a and b
	integer      bool   // int32 accumulators and result (else float32)
	batch        bool   // also emit the contiguous batch form

	// per is the number of elements one vector step consumes.
	per func(s isa) int
	// step folds the vector at ma, mb into acc.
	step func(s isa, ma, mb Mem, acc VecVirtual)
	// masked folds the elements selected by the opmask k into acc; the
	// others are not read.
	masked func(s isa, ma, mb Mem, k Register, acc VecVirtual)
	// scalar folds the one element at ma, mb into acc: the low lane of an
	// XMM register, or a GP32 register for integer kernels.
	scalar func(ma, mb Mem, acc Register)
}

// zero clears a vector register of the tier's width.
func (s isa) zero(v VecVirtual) {
	if s.lanes == 16 {
		VPXORD(v, v, v)
	} else {
		VPXOR(v, v, v)
	}
}

var kernels = []kernel{
	{
		name: "l2Sq", a: "float32", b: "float32", ret: "float32", aSize: 4, bSize: 4, batch: true,
		per: func(s isa) int { return s.lanes },
		step: func(s isa, ma, mb Mem, acc VecVirtual) {
			x := s.vec()
			VMOVUPS(ma, x)
			VSUBPS(mb, x, x)
			VFMADD231PS(x, x, acc)
		},
		masked: func(s isa, ma, mb Mem, k Register, acc VecVirtual) {
			x, y := s.vec(), s.vec()
			VMOVUPS_Z(ma, k, x)
			VMOVUPS_Z(mb, k, y)
			VSUBPS(y, x, x)
			VFMADD231PS(x, x, acc)
		},
		scalar: func(ma, mb Mem, acc Register) {
			x := XMM()
			VMOVSS(ma, x)
			VSUBSS(mb, x, x)
			VFMADD231SS(x, x, acc)
		},
	},
	{
		name: "dot", a: "float32", b: "float32", ret: "float32", aSize: 4, bSize: 4, batch: true,
		per: func(s isa) int { return s.lanes },
		step: func(s isa, ma, mb Mem, acc VecVirtual) {
			x := s.vec()
			VMOVUPS(ma, x)
			VFMADD231PS(mb, x, acc)
		},
		masked: func(s isa, ma, mb Mem, k Register, acc VecVirtual) {
			x, y := s.vec(), s.vec()
			VMOVUPS_Z(ma, k, x)
			VMOVUPS_Z(mb, k, y)
			VFMADD231PS(y, x, acc)
		},
		scalar: func(ma, mb Mem, acc Register) {
			x := XMM()
			VMOVSS(ma, x)
			VFMADD231SS(mb, x, acc)
		},
	},
	{
		// int8 squared L2: sign-extend to int16 (VPMOVSXBW), subtract (the
		// difference fits int16), and VPMADDWD squares and adds pairs into
		// int32 (2·255² fits). The int32 sums wrap exactly as the generic
		// code's do.
		name: "l2SqInt8", a: "int8", b: "int8", ret: "int32", aSize: 1, bSize: 1, integer: true,
		per: func(s isa) int { return 2 * s.lanes },
		step: func(s isa, ma, mb Mem, acc VecVirtual) {
			x, y := s.vec(), s.vec()
			VPMOVSXBW(ma, x)
			VPMOVSXBW(mb, y)
			VPSUBW(y, x, x)
			VPMADDWD(x, x, x)
			VPADDD(x, acc, acc)
		},
		masked: func(s isa, ma, mb Mem, k Register, acc VecVirtual) {
			ha, hb := YMM(), YMM()
			VMOVDQU8_Z(ma, k, ha)
			VMOVDQU8_Z(mb, k, hb)
			x, y := s.vec(), s.vec()
			VPMOVSXBW(ha, x)
			VPMOVSXBW(hb, y)
			VPSUBW(y, x, x)
			VPMADDWD(x, x, x)
			VPADDD(x, acc, acc)
		},
		scalar: func(ma, mb Mem, acc Register) {
			x, y := GP32(), GP32()
			MOVBLSX(ma, x)
			MOVBLSX(mb, y)
			SUBL(y, x)
			IMULL(x, x)
			ADDL(x, acc)
		},
	},
	{
		// int8 dot: VPMOVSXBW to int16, VPMADDWD multiplies and adds pairs
		// into int32 (2·128² fits).
		name: "dotInt8", a: "int8", b: "int8", ret: "int32", aSize: 1, bSize: 1, integer: true,
		per: func(s isa) int { return 2 * s.lanes },
		step: func(s isa, ma, mb Mem, acc VecVirtual) {
			x, y := s.vec(), s.vec()
			VPMOVSXBW(ma, x)
			VPMOVSXBW(mb, y)
			VPMADDWD(y, x, x)
			VPADDD(x, acc, acc)
		},
		masked: func(s isa, ma, mb Mem, k Register, acc VecVirtual) {
			ha, hb := YMM(), YMM()
			VMOVDQU8_Z(ma, k, ha)
			VMOVDQU8_Z(mb, k, hb)
			x, y := s.vec(), s.vec()
			VPMOVSXBW(ha, x)
			VPMOVSXBW(hb, y)
			VPMADDWD(y, x, x)
			VPADDD(x, acc, acc)
		},
		scalar: func(ma, mb Mem, acc Register) {
			x, y := GP32(), GP32()
			MOVBLSX(ma, x)
			MOVBLSX(mb, y)
			IMULL(y, x)
			ADDL(x, acc)
		},
	},
	{
		// float32 query against int8 codes: VPMOVSXBD to int32, convert
		// to float32 (exact), FMA with the query.
		name: "dotF32Int8", a: "float32", b: "int8", ret: "float32", aSize: 4, bSize: 1,
		per: func(s isa) int { return s.lanes },
		step: func(s isa, ma, mb Mem, acc VecVirtual) {
			x := s.vec()
			VPMOVSXBD(mb, x)
			VCVTDQ2PS(x, x)
			VFMADD231PS(ma, x, acc)
		},
		masked: func(s isa, ma, mb Mem, k Register, acc VecVirtual) {
			h := XMM()
			VMOVDQU8_Z(mb, k, h)
			x, y := s.vec(), s.vec()
			VPMOVSXBD(h, x)
			VCVTDQ2PS(x, x)
			VMOVUPS_Z(ma, k, y)
			VFMADD231PS(y, x, acc)
		},
		scalar: func(ma, mb Mem, acc Register) {
			r := GP32()
			MOVBLSX(mb, r)
			x := XMM()
			VXORPS(x, x, x)
			VCVTSI2SSL(r, x, x)
			VFMADD231SS(ma, x, acc)
		},
	},
}

// loopEnds are the loop bounds for one vector length, computed once per call.
type loopEnds struct {
	n    Register // the length
	blk  Register // n rounded down to a multiple of s.unroll·per
	one  Register // n rounded down to a multiple of per
	mask Register // AVX-512: the opmask of the n−one tail elements
}

func (s isa) ends(k kernel, n Register) loopEnds {
	per := k.per(s)
	e := loopEnds{n: n, blk: GP64(), one: GP64()}
	MOVQ(n, e.blk)
	ANDQ(I32(-s.unroll*per), e.blk)
	MOVQ(n, e.one)
	ANDQ(I32(-per), e.one)
	if s.masked {
		r := GP64()
		MOVQ(n, r)
		SUBQ(e.one, r)
		m := GP32()
		MOVL(U32(0xffffffff), m)
		BZHIL(r.As32(), m, m)
		e.mask = K()
		KMOVD(m, e.mask)
	}
	return e
}

// body emits the loop over a[0:n] and b[0:n] and returns the result: the low
// lane of an XMM register, or a GP32 register for integer kernels. When pf is
// not nil it is the base of the next vector, prefetched at b's offsets.
func (s isa) body(k kernel, a, b Register, e loopEnds, pf Register) Register {
	per := k.per(s)
	acc := make([]VecVirtual, s.unroll)
	for u := range acc {
		acc[u] = s.vec()
		s.zero(acc[u])
	}
	i := GP64()
	XORQ(i, i)
	ma := func(u int) Mem { return Mem{Base: a, Index: i, Scale: uint8(k.aSize), Disp: u * per * k.aSize} }
	mb := func(u int) Mem { return Mem{Base: b, Index: i, Scale: uint8(k.bSize), Disp: u * per * k.bSize} }

	blk, blkDone := label("blk"), label("blkdone")
	CMPQ(i, e.blk)
	JAE(LabelRef(blkDone))
	Label(blk)
	for u := 0; u < s.unroll; u++ {
		k.step(s, ma(u), mb(u), acc[u])
	}
	if pf != nil {
		for off := 0; off < s.unroll*per*k.bSize; off += 64 {
			PREFETCHT0(Mem{Base: pf, Index: i, Scale: uint8(k.bSize), Disp: off})
		}
	}
	ADDQ(U32(s.unroll*per), i)
	CMPQ(i, e.blk)
	JB(LabelRef(blk))
	Label(blkDone)

	one, oneDone := label("one"), label("onedone")
	CMPQ(i, e.one)
	JAE(LabelRef(oneDone))
	Label(one)
	k.step(s, ma(0), mb(0), acc[0])
	ADDQ(U32(per), i)
	CMPQ(i, e.one)
	JB(LabelRef(one))
	Label(oneDone)

	if s.masked {
		done := label("taildone")
		CMPQ(e.one, e.n)
		JE(LabelRef(done))
		k.masked(s, ma(0), mb(0), e.mask, acc[1])
		Label(done)
		return s.reduce(k, acc, nil)
	}
	var t Register
	if k.integer {
		t = GP32()
		XORL(t, t)
	} else {
		x := XMM()
		VXORPS(x, x, x)
		t = x
	}
	tail, tailDone := label("tail"), label("taildone")
	CMPQ(i, e.n)
	JAE(LabelRef(tailDone))
	Label(tail)
	k.scalar(ma(0), mb(0), t)
	INCQ(i)
	CMPQ(i, e.n)
	JB(LabelRef(tail))
	Label(tailDone)
	return s.reduce(k, acc, t)
}

// reduce sums the accumulators' lanes (and the scalar tail t, when not nil).
func (s isa) reduce(k kernel, acc []VecVirtual, t Register) Register {
	if k.integer {
		for h := len(acc) / 2; h > 0; h /= 2 {
			for u := 0; u < h; u++ {
				VPADDD(acc[u+h], acc[u], acc[u])
			}
		}
		y := acc[0]
		if s.lanes == 16 {
			y = YMM()
			VEXTRACTI64X4(U8(1), acc[0], y)
			VPADDD(acc[0].AsY(), y, y)
		}
		x := XMM()
		VEXTRACTI128(U8(1), y, x)
		VPADDD(y.AsX(), x, x)
		h := XMM()
		VPSHUFD(U8(0x4e), x, h)
		VPADDD(h, x, x)
		VPSHUFD(U8(0xb1), x, h)
		VPADDD(h, x, x)
		r := GP32()
		VMOVD(x, r)
		if t != nil {
			ADDL(t, r)
		}
		return r
	}
	for h := len(acc) / 2; h > 0; h /= 2 {
		for u := 0; u < h; u++ {
			VADDPS(acc[u+h], acc[u], acc[u])
		}
	}
	y := acc[0]
	if s.lanes == 16 {
		y = YMM()
		VEXTRACTF64X4(U8(1), acc[0], y)
		VADDPS(acc[0].AsY(), y, y)
	}
	x := XMM()
	VEXTRACTF128(U8(1), y, x)
	VADDPS(y.AsX(), x, x)
	h := XMM()
	VMOVHLPS(x, x, h)
	VADDPS(h, x, x)
	VMOVSHDUP(x, h)
	VADDSS(h, x, x)
	if t != nil {
		VADDSS(t, x, x)
	}
	return x
}

// store writes a body's result to m.
func (k kernel) store(r Register, m Mem) {
	if k.integer {
		MOVL(r, m)
	} else {
		VMOVSS(r, m)
	}
}

func addr(c gotypes.Component) Mem {
	b, err := c.Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// single emits k over two vectors: func(a, b) ret.
func (s isa) single(k kernel) {
	name := k.name + s.name
	TEXT(name, NOSPLIT, fmt.Sprintf("func(a []%s, b []%s) %s", k.a, k.b, k.ret))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s is %s over a and b[:len(a)]; len(b) >= len(a).", name, k.name))
	a := Load(Param("a").Base(), GP64())
	b := Load(Param("b").Base(), GP64())
	n := Load(Param("a").Len(), GP64())
	r := s.body(k, a, b, s.ends(k, n), nil)
	Store(r, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// batch emits k of q against len(out) vectors stored contiguously in data.
func (s isa) batch(k kernel) {
	name := k.name + "Batch" + s.name
	TEXT(name, NOSPLIT, fmt.Sprintf("func(q []%s, data []%s, out []%s)", k.a, k.b, k.ret))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets out[i] = %s(q, data[i*d:(i+1)*d]), d = len(q); data holds len(out)·d elements.", name, k.name))
	q := Load(Param("q").Base(), GP64())
	d := Load(Param("q").Len(), GP64())
	data := Load(Param("data").Base(), GP64())
	out := Load(Param("out").Base(), GP64())
	e := s.ends(k, d)
	j := GP64()
	XORQ(j, j)
	loop, done := label("vec"), label("done")
	CMPQ(j, addr(Param("out").Len()))
	JAE(LabelRef(done))
	Label(loop)
	r := s.body(k, q, data, e, nil)
	k.store(r, Mem{Base: out, Index: j, Scale: 4})
	LEAQ(Mem{Base: data, Index: d, Scale: uint8(k.bSize)}, data)
	INCQ(j)
	CMPQ(j, addr(Param("out").Len()))
	JB(LabelRef(loop))
	Label(done)
	VZEROUPPER()
	RET()
}

// gather emits k of q against the arena vectors named by ids. It stops at
// the first id whose vector lies outside the arena and returns how many
// results it wrote, so that the Go caller can report the bad id. While it
// computes one vector it prefetches the next.
func (s isa) gather(k kernel) {
	name := k.name + "Gather" + s.name
	TEXT(name, NOSPLIT, fmt.Sprintf("func(q []%s, arena []%s, ids []uint32, out []%s) int", k.a, k.b, k.ret))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets out[i] = %s(q, arena[ids[i]*d:(ids[i]+1)*d]), d = len(q), for i < len(ids)", name, k.name),
		"until an id is out of the arena; it returns the number of results written; len(out) >= len(ids).")
	q := Load(Param("q").Base(), GP64())
	d := Load(Param("q").Len(), GP64())
	arena := Load(Param("arena").Base(), GP64())
	ids := Load(Param("ids").Base(), GP64())
	out := Load(Param("out").Base(), GP64())
	e := s.ends(k, d)
	j := GP64()
	XORQ(j, j)
	loop, skip, done := label("vec"), label("noprefetch"), label("done")
	CMPQ(j, addr(Param("ids").Len()))
	JAE(LabelRef(done))
	Label(loop)
	base := GP64()
	MOVLQZX(Mem{Base: ids, Index: j, Scale: 4}, base)
	IMULQ(d, base)
	lim := GP64()
	LEAQ(Mem{Base: base, Index: d, Scale: 1}, lim)
	CMPQ(lim, addr(Param("arena").Len()))
	JA(LabelRef(done))
	LEAQ(Mem{Base: arena, Index: base, Scale: uint8(k.bSize)}, base)
	pf := GP64()
	MOVQ(base, pf)
	next := GP64()
	LEAQ(Mem{Base: j, Disp: 1}, next)
	CMPQ(next, addr(Param("ids").Len()))
	JAE(LabelRef(skip))
	MOVLQZX(Mem{Base: ids, Index: next, Scale: 4}, next)
	IMULQ(d, next)
	LEAQ(Mem{Base: arena, Index: next, Scale: uint8(k.bSize)}, pf)
	Label(skip)
	r := s.body(k, q, base, e, pf)
	k.store(r, Mem{Base: out, Index: j, Scale: 4})
	INCQ(j)
	CMPQ(j, addr(Param("ids").Len()))
	JB(LabelRef(loop))
	Label(done)
	Store(j, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
