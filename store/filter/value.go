package filter

import (
	"bytes"
	"encoding/binary"
	"math"
	"unsafe"
)

// The canonical value encoding. Payload values and filter operands are kept
// in it, so that deep equality (objects compared structurally, numbers
// numerically) is byte equality, and no JSON is decoded while a filter runs.
//
//	null, false, true   one tag byte
//	number              tNum, 8 bytes LE float64 bits (-0 stored as +0)
//	string              tStr, uvarint length, the decoded UTF-8 bytes
//	array               tArr, u32 LE body length, the elements
//	object              tObj, u32 LE body length, members sorted by key
//	                    (bytewise, duplicates resolved last-wins as in
//	                    encoding/json), each a key (uvarint length, bytes)
//	                    then a value
//
// Every value carries its own length, so no encoding is a proper prefix of
// another: a value equals an operand iff it starts with the operand's bytes.
const (
	tNull byte = 1 + iota
	tFalse
	tTrue
	tNum
	tStr
	tArr
	tObj
)

// valueLen returns the length of the encoded value at the start of b.
func valueLen(b []byte) int {
	switch b[0] {
	case tNull, tFalse, tTrue:
		return 1
	case tNum:
		return 9
	case tStr:
		n, k := binary.Uvarint(b[1:])
		return 1 + k + int(n)
	case tArr, tObj:
		return 5 + int(binary.LittleEndian.Uint32(b[1:]))
	}
	panic("BUG: filter: bad value tag")
}

// isScalar reports whether the encoded value at b is not an array or object.
func isScalar(b []byte) bool { return b[0] < tArr }

// hasPrefixValue reports whether the value at the start of v equals op
// (both canonical; v may run on past its value).
func hasPrefixValue(v, op []byte) bool {
	return len(v) >= len(op) && bytes.Equal(v[:len(op)], op)
}

// arrayBody returns the elements' bytes of the array at the start of b.
func arrayBody(b []byte) []byte {
	n := binary.LittleEndian.Uint32(b[1:])
	return b[5 : 5+n]
}

// numOf decodes the number at the start of b (tag tNum).
func numOf(b []byte) float64 {
	return math.Float64frombits(binary.LittleEndian.Uint64(b[1:]))
}

// strOf decodes the string at the start of b (tag tStr).
func strOf(b []byte) []byte {
	n, k := binary.Uvarint(b[1:])
	return b[1+k : 1+k+int(n)]
}

func appendNum(dst []byte, f float64) []byte {
	if f == 0 {
		f = 0 // -0 → +0
	}
	dst = append(dst, tNum)
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}

func appendStr(dst, s []byte) []byte {
	dst = append(dst, tStr)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// bytesToString views b as a string without copying; b must not change
// while the string is in use.
func bytesToString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// encoder writes parsed trees in the canonical encoding. When it encodes a
// payload it also records one field per object member reachable from the
// root through objects only (the dot paths a filter can name), through
// intern. An encoder is reused by its owner and not safe for concurrent use.
type encoder struct {
	p      *parser
	out    []byte
	stack  []int32 // members being sorted, one window per open object
	fields []field // recorded members: path id and offset in out
	// intern returns the path id of key under parent; nil: record nothing.
	intern func(parent uint32, key []byte) uint32
	// dup is set when an object repeated a key (the last one was kept).
	dup bool
}

// field locates one member value of a payload: its path id and the offset
// of its encoded value in the document's value bytes.
type field struct {
	path uint32
	off  uint32
}

// encode appends node i (and its subtree) to e.out. path is the path id of
// the value when it is addressable by a dot path, or noPath.
func (e *encoder) encode(i int32, path uint32) {
	p := e.p
	n := &p.nodes[i]
	switch n.kind {
	case tNull, tFalse, tTrue:
		e.out = append(e.out, n.kind)
	case tNum:
		e.out = appendNum(e.out, n.num)
	case tStr:
		e.out = appendStr(e.out, p.strs[n.s.lo:n.s.hi])
	case tArr:
		start := len(e.out)
		e.out = append(e.out, tArr, 0, 0, 0, 0)
		for c := n.first; c >= 0; c = p.nodes[c].next {
			e.encode(c, noPath)
		}
		binary.LittleEndian.PutUint32(e.out[start+1:], uint32(len(e.out)-start-5))
	case tObj:
		start := len(e.out)
		e.out = append(e.out, tObj, 0, 0, 0, 0)
		lo := len(e.stack)
		for c := n.first; c >= 0; c = p.nodes[c].next {
			e.stack = append(e.stack, c)
		}
		hi := e.sortMembers(lo)
		for k := lo; k < hi; k++ {
			c := e.stack[k]
			key := p.keyOf(c)
			e.out = binary.AppendUvarint(e.out, uint64(len(key)))
			e.out = append(e.out, key...)
			child := noPath
			if path != noPath && e.intern != nil {
				child = e.intern(path, key)
				e.fields = append(e.fields, field{child, uint32(len(e.out))})
			}
			e.encode(c, child)
		}
		e.stack = e.stack[:lo]
		binary.LittleEndian.PutUint32(e.out[start+1:], uint32(len(e.out)-start-5))
	default:
		panic("BUG: filter: bad node kind")
	}
}

// sortMembers sorts the members in e.stack[lo:] by key, drops all but the
// last of each run of equal keys, and returns the new end of the window.
func (e *encoder) sortMembers(lo int) int {
	p := e.p
	w := e.stack[lo:]
	sorted := true
	for k := 1; k < len(w); k++ {
		if bytes.Compare(p.keyOf(w[k-1]), p.keyOf(w[k])) >= 0 {
			sorted = false
			break
		}
	}
	if sorted {
		return len(e.stack)
	}
	// Insertion order breaks ties: node indices grow with input order.
	sortInt32(w, func(a, b int32) bool {
		if c := bytes.Compare(p.keyOf(a), p.keyOf(b)); c != 0 {
			return c < 0
		}
		return a < b
	})
	// Keep the last of each run of equal keys.
	out := 0
	for k := 0; k < len(w); k++ {
		if k+1 < len(w) && bytes.Equal(p.keyOf(w[k]), p.keyOf(w[k+1])) {
			e.dup = true
			continue
		}
		w[out] = w[k]
		out++
	}
	return lo + out
}

// sortInt32 sorts s with less (a heap sort: no allocation, O(n log n)).
func sortInt32(s []int32, less func(a, b int32) bool) {
	n := len(s)
	down := func(i, n int) {
		for {
			c := 2*i + 1
			if c >= n {
				return
			}
			if c+1 < n && less(s[c], s[c+1]) {
				c++
			}
			if !less(s[i], s[c]) {
				return
			}
			s[i], s[c] = s[c], s[i]
			i = c
		}
	}
	for i := n/2 - 1; i >= 0; i-- {
		down(i, n)
	}
	for end := n - 1; end > 0; end-- {
		s[0], s[end] = s[end], s[0]
		down(0, end)
	}
}

// noPath marks a value no dot path can name (inside an array, or a filter
// operand).
const noPath = ^uint32(0)
