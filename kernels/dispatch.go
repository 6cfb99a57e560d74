package kernels

import (
	"os"
	"strings"
)

//go:generate go run -C _asm . -out ../zkernels_amd64.s -stubs ../zkernels_amd64.go -pkg kernels

// level names one implementation of the kernels.
type level uint8

const (
	levelGeneric level = iota
	levelAVX2
	levelAVX512
	levelNEON
	numLevels
)

var levelNames = [numLevels]string{"generic", "avx2", "avx512", "neon"}

func (l level) String() string { return levelNames[l] }

// minAsmLen is the vector length below which the single-pair kernels (L2Sq,
// Dot, DotF32Int8, the int8 forms) run the generic Go code: there the call
// into assembly (never inlined, through an ABI wrapper) costs more than the
// arithmetic it saves. Measured with BenchmarkThreshold: see
// docs/benchmarks.md. The batch and gather forms always use the assembly,
// which pays the call once for a whole list.
const minAsmLen = 16

// kernelSet is one assembly implementation of every kernel. Its functions
// trust their arguments: the ...On wrappers below check lengths first, so a
// short operand panics in Go, as the generic code does, and never reaches
// the assembly.
type kernelSet struct {
	l2Sq, dot             func(a, b []float32) float32
	l2SqBatch, dotBatch   func(q, data, out []float32)
	l2SqGather, dotGather func(q, arena []float32, ids []uint32, out []float32) int
	l2SqInt8, dotInt8     func(a, b []int8) int32
	l2SqInt8Gather        func(q, arena []int8, ids []uint32, out []int32) int
	dotInt8Gather         func(q, arena []int8, ids []uint32, out []int32) int
	dotF32Int8            func(q []float32, c []int8) float32
	dotF32Int8Gather      func(q []float32, arena []int8, ids []uint32, out []float32) int
	adc8                  func(table []float32, codes []uint8, m int, out []float32)
	adc16                 func(table []float32, codes []uint16, m int, out []float32)
}

// asmImpl is one assembly implementation compiled into this build
// (asmImpls, per architecture, lists them worst first).
type asmImpl struct {
	level   level
	missing string // the CPU features this CPU lacks for it; "" when it can run
	set     kernelSet
}

// The dispatch state, chosen once at start from asmImpls (the CPU features)
// and LSMVEC_KERNELS. Only tests change it afterwards (setLevelForTest in
// dispatch_test.go), never while kernels run.
var (
	active       *kernelSet // nil: the generic code
	activeLevel  level
	activeReason string
)

func init() {
	activeLevel, activeReason = choose(asmImpls, os.Getenv("LSMVEC_KERNELS"))
	active = setOf(activeLevel)
}

// setOf returns the kernel set of lv, or nil for the generic code.
func setOf(lv level) *kernelSet {
	for i := range asmImpls {
		if asmImpls[i].level == lv {
			return &asmImpls[i].set
		}
	}
	return nil
}

// choose picks the implementation: the one env names when the CPU has it,
// else the best one it has. The reason says which and why, including why a
// forced choice was refused.
func choose(impls []asmImpl, env string) (level, string) {
	best, bestWhy := levelGeneric, "no assembly implementation in this build"
	if len(impls) > 0 {
		bestWhy = "the CPU supports no assembly implementation"
	}
	for _, im := range impls {
		if im.missing == "" {
			best, bestWhy = im.level, "the best implementation this CPU supports"
		}
	}
	env = strings.ToLower(strings.TrimSpace(env))
	if env == "" {
		return best, bestWhy
	}
	if env == levelGeneric.String() {
		return levelGeneric, "forced by LSMVEC_KERNELS=generic"
	}
	names := []string{levelGeneric.String()}
	for _, im := range impls {
		if env != im.level.String() {
			names = append(names, im.level.String())
			continue
		}
		if im.missing != "" {
			return best, "LSMVEC_KERNELS=" + env + " refused: the CPU lacks " + im.missing + "; using " + best.String()
		}
		return im.level, "forced by LSMVEC_KERNELS=" + env
	}
	return best, "LSMVEC_KERNELS=" + env + " refused: this build has only " + strings.Join(names, ", ") + "; using " + best.String()
}

// Impl reports the implementation the kernels run: "generic", "avx2",
// "avx512" or "neon". It is fixed at start.
func Impl() string { return activeLevel.String() }

// ImplReason says why Impl chose what it did, for the start-up log: the
// best the CPU supports, forced by LSMVEC_KERNELS, or a forced choice that
// was refused (unknown name, or a CPU that lacks the features) and what ran
// instead.
func ImplReason() string { return activeReason }

// The dispatching bodies of the exported kernels. Each ...On form runs one
// implementation (nil: generic) after the length checks; the tests call
// them for every implementation the CPU supports. The pair kernels repeat
// their ...On body inline (one Go call less on the path of the shortest,
// most frequent calls).

func l2Sq(a, b []float32) float32 {
	if s := active; s != nil && len(a) >= minAsmLen {
		return s.l2Sq(a, b[:len(a)])
	}
	return l2SqGeneric(a, b)
}

func l2SqOn(s *kernelSet, a, b []float32) float32 {
	if s == nil {
		return l2SqGeneric(a, b)
	}
	return s.l2Sq(a, b[:len(a)])
}

func dot(a, b []float32) float32 {
	if s := active; s != nil && len(a) >= minAsmLen {
		return s.dot(a, b[:len(a)])
	}
	return dotGeneric(a, b)
}

func dotOn(s *kernelSet, a, b []float32) float32 {
	if s == nil {
		return dotGeneric(a, b)
	}
	return s.dot(a, b[:len(a)])
}

func l2SqBatch(q, data, out []float32) { l2SqBatchOn(active, q, data, out) }

func l2SqBatchOn(s *kernelSet, q, data, out []float32) {
	if s == nil {
		l2SqBatchGeneric(q, data, out)
		return
	}
	s.l2SqBatch(q, data[:len(out)*len(q)], out)
}

func dotBatch(q, data, out []float32) { dotBatchOn(active, q, data, out) }

func dotBatchOn(s *kernelSet, q, data, out []float32) {
	if s == nil {
		dotBatchGeneric(q, data, out)
		return
	}
	s.dotBatch(q, data[:len(out)*len(q)], out)
}

// The gather kernels stop at the first id outside the arena; the generic
// code then runs from there and panics with the usual index error.

func l2SqGather(q, arena []float32, ids []uint32, out []float32) {
	l2SqGatherOn(active, q, arena, ids, out)
}

func l2SqGatherOn(s *kernelSet, q, arena []float32, ids []uint32, out []float32) {
	out = out[:len(ids)]
	if s != nil {
		n := s.l2SqGather(q, arena, ids, out)
		ids, out = ids[n:], out[n:]
	}
	l2SqGatherGeneric(q, arena, ids, out)
}

func dotGather(q, arena []float32, ids []uint32, out []float32) {
	dotGatherOn(active, q, arena, ids, out)
}

func dotGatherOn(s *kernelSet, q, arena []float32, ids []uint32, out []float32) {
	out = out[:len(ids)]
	if s != nil {
		n := s.dotGather(q, arena, ids, out)
		ids, out = ids[n:], out[n:]
	}
	dotGatherGeneric(q, arena, ids, out)
}

func l2SqInt8(a, b []int8) int32 {
	if s := active; s != nil && len(a) >= minAsmLen {
		return s.l2SqInt8(a, b[:len(a)])
	}
	return l2SqInt8Generic(a, b)
}

func l2SqInt8On(s *kernelSet, a, b []int8) int32 {
	if s == nil {
		return l2SqInt8Generic(a, b)
	}
	return s.l2SqInt8(a, b[:len(a)])
}

func dotInt8(a, b []int8) int32 {
	if s := active; s != nil && len(a) >= minAsmLen {
		return s.dotInt8(a, b[:len(a)])
	}
	return dotInt8Generic(a, b)
}

func dotInt8On(s *kernelSet, a, b []int8) int32 {
	if s == nil {
		return dotInt8Generic(a, b)
	}
	return s.dotInt8(a, b[:len(a)])
}

func l2SqInt8Gather(q, arena []int8, ids []uint32, out []int32) {
	l2SqInt8GatherOn(active, q, arena, ids, out)
}

func l2SqInt8GatherOn(s *kernelSet, q, arena []int8, ids []uint32, out []int32) {
	out = out[:len(ids)]
	if s != nil {
		n := s.l2SqInt8Gather(q, arena, ids, out)
		ids, out = ids[n:], out[n:]
	}
	l2SqInt8GatherGeneric(q, arena, ids, out)
}

func dotInt8Gather(q, arena []int8, ids []uint32, out []int32) {
	dotInt8GatherOn(active, q, arena, ids, out)
}

func dotInt8GatherOn(s *kernelSet, q, arena []int8, ids []uint32, out []int32) {
	out = out[:len(ids)]
	if s != nil {
		n := s.dotInt8Gather(q, arena, ids, out)
		ids, out = ids[n:], out[n:]
	}
	dotInt8GatherGeneric(q, arena, ids, out)
}

func dotF32Int8(q []float32, c []int8) float32 {
	if s := active; s != nil && len(q) >= minAsmLen {
		return s.dotF32Int8(q, c[:len(q)])
	}
	return dotF32Int8Generic(q, c)
}

func dotF32Int8On(s *kernelSet, q []float32, c []int8) float32 {
	if s == nil {
		return dotF32Int8Generic(q, c)
	}
	return s.dotF32Int8(q, c[:len(q)])
}

func dotF32Int8Gather(q []float32, arena []int8, ids []uint32, out []float32) {
	dotF32Int8GatherOn(active, q, arena, ids, out)
}

func dotF32Int8GatherOn(s *kernelSet, q []float32, arena []int8, ids []uint32, out []float32) {
	out = out[:len(ids)]
	if s != nil {
		n := s.dotF32Int8Gather(q, arena, ids, out)
		ids, out = ids[n:], out[n:]
	}
	dotF32Int8GatherGeneric(q, arena, ids, out)
}

func adc8(table []float32, codes []uint8, out []float32) { adc8On(active, table, codes, out) }

func adc8On(s *kernelSet, table []float32, codes []uint8, out []float32) {
	if s == nil {
		adc8Generic(table, codes, out)
		return
	}
	m := len(table) / 256
	s.adc8(table, codes[:len(out)*m], m, out)
}

func adc16(table []float32, codes []uint16, out []float32) { adc16On(active, table, codes, out) }

func adc16On(s *kernelSet, table []float32, codes []uint16, out []float32) {
	if s == nil {
		adc16Generic(table, codes, out)
		return
	}
	m := len(table) / 65536
	s.adc16(table, codes[:len(out)*m], m, out)
}
