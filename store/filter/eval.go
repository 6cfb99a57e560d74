package filter

import (
	"bytes"
	"encoding/binary"
)

// view is one document as a compiled filter sees it: the document's field
// table and values, and the path ids the filter's paths resolved to (noPath:
// no document has that path).
type view struct {
	doc   []byte   // a document record (see docRecord); nil: the empty object
	paths []uint32 // by Filter path index
}

// docRecord layout: u32 LE field count n, n × (u32 path, u32 offset), then
// the values; offsets are from the record's start, and fields are sorted by
// path id.
const fieldSize = 8

// lookup returns the encoded value of filter path i (running on to the end
// of the record), or nil when the document lacks it.
func (v view) lookup(i int32) []byte {
	d := v.doc
	if len(d) == 0 {
		return nil
	}
	path := v.paths[i]
	if path == noPath {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(d))
	tab := d[4 : 4+n*fieldSize]
	// The first field with a path id ≥ path lies in [lo, hi].
	lo, hi := 0, n
	for hi-lo > 8 {
		m := int(uint(lo+hi) >> 1)
		if binary.LittleEndian.Uint32(tab[m*fieldSize:]) < path {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for k := lo; k < n; k++ {
		e := tab[k*fieldSize : k*fieldSize+fieldSize]
		if p := binary.LittleEndian.Uint32(e); p == path {
			return d[binary.LittleEndian.Uint32(e[4:]):]
		} else if p > path {
			return nil
		}
	}
	return nil
}

// evalNode evaluates n on the document v.
func evalNode(n *node, v view) bool {
	switch n.op {
	case opAll:
		return true
	case opAnd:
		for i := range n.kids {
			if !evalNode(&n.kids[i], v) {
				return false
			}
		}
		return true
	case opOr:
		for i := range n.kids {
			if evalNode(&n.kids[i], v) {
				return true
			}
		}
		return false
	case opNot:
		return !evalNode(&n.kids[0], v)
	}
	x := v.lookup(n.path)
	switch n.op {
	case opEq:
		return x != nil && eqValue(x, n.val)
	case opNe:
		return x == nil || !eqValue(x, n.val)
	case opIn:
		return x != nil && inValues(x, n)
	case opNin:
		return x == nil || !inValues(x, n)
	case opExists:
		return (x != nil) == n.want
	case opGt, opGte, opLt, opLte:
		if x == nil {
			return false
		}
		if x[0] == tArr {
			body := arrayBody(x)
			for len(body) > 0 {
				if compare(body, n) {
					return true
				}
				body = body[valueLen(body):]
			}
			return false
		}
		return compare(x, n)
	case opContainsAny:
		if x == nil || x[0] != tArr {
			return false
		}
		body := arrayBody(x)
		for len(body) > 0 {
			l := valueLen(body)
			if member(body[:l], n) {
				return true
			}
			body = body[l:]
		}
		return false
	case opContainsAll:
		if x == nil || x[0] != tArr {
			return false
		}
		arr := arrayBody(x)
		for _, want := range n.vals {
			if !arrayHas(arr, want) {
				return false
			}
		}
		return true
	}
	panic("BUG: filter: bad op")
}

// eqValue is $eq: x equals op, or x is an array one of whose elements
// equals op.
func eqValue(x, op []byte) bool {
	if hasPrefixValue(x, op) {
		return true
	}
	return x[0] == tArr && arrayHas(arrayBody(x), op)
}

// arrayHas reports whether the array body holds an element equal to op.
func arrayHas(body, op []byte) bool {
	for len(body) > 0 {
		if hasPrefixValue(body, op) {
			return true
		}
		body = body[valueLen(body):]
	}
	return false
}

// member reports whether the value e (exactly one value) is one of n.vals.
func member(e []byte, n *node) bool {
	if n.set != nil {
		_, ok := n.set[bytesToString(e)]
		return ok
	}
	for _, w := range n.vals {
		if bytes.Equal(e, w) {
			return true
		}
	}
	return false
}

// inValues is $in: some operand is $eq to x.
func inValues(x []byte, n *node) bool {
	if n.set == nil {
		for _, w := range n.vals {
			if eqValue(x, w) {
				return true
			}
		}
		return false
	}
	l := valueLen(x)
	if member(x[:l], n) {
		return true
	}
	if x[0] != tArr {
		return false
	}
	body := arrayBody(x)
	for len(body) > 0 {
		l := valueLen(body)
		if member(body[:l], n) {
			return true
		}
		body = body[l:]
	}
	return false
}

// compare applies an ordering operator to the value at the start of x:
// numbers with numbers, strings with strings, anything else false.
func compare(x []byte, n *node) bool {
	w := n.val
	if x[0] != w[0] {
		return false
	}
	var c int
	switch x[0] {
	case tNum:
		a, b := numOf(x), numOf(w)
		switch {
		case a < b:
			c = -1
		case a > b:
			c = 1
		}
	case tStr:
		c = bytes.Compare(strOf(x), strOf(w))
	default:
		return false
	}
	switch n.op {
	case opGt:
		return c > 0
	case opGte:
		return c >= 0
	case opLt:
		return c < 0
	default:
		return c <= 0
	}
}
