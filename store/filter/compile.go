package filter

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Limits of the filter language.
const (
	// MaxFilterBytes is the largest filter text Compile accepts.
	MaxFilterBytes = 8 << 10
	// MaxFilterDepth is the deepest JSON nesting (objects and arrays) a
	// filter may have; {"a": 1} has depth 1.
	MaxFilterDepth = 32
	// MaxPayloadBytes is the largest payload Index.Set accepts.
	MaxPayloadBytes = 64 << 10
)

// op is a compiled operation.
type op uint8

const (
	opAll op = iota // matches everything (the empty filter)
	opEq
	opNe
	opIn
	opNin
	opGt
	opGte
	opLt
	opLte
	opExists
	opContainsAny
	opContainsAll
	opAnd
	opOr
	opNot
)

// setMin is the operand count from which $in, $nin and $contains_any test
// membership with a hash set instead of comparing operands one by one.
const setMin = 8

// node is one compiled operation. Leaves name a path (an index into
// Filter.paths) and hold their operands in the canonical encoding.
type node struct {
	op   op
	want bool     // $exists
	path int32    // leaves: index into Filter.paths
	val  []byte   // $eq/$ne operand; $gt.. operand (number or string)
	vals [][]byte // $in/$nin/$contains_* operands
	set  map[string]struct{}
	kids []node // $and/$or/$not
}

// Filter is a compiled payload filter. It is immutable and safe for
// concurrent use; bind it to an Index to evaluate it.
type Filter struct {
	root  node
	paths [][]string // distinct dot paths, split on '.'
	// matchesEmpty is whether the filter matches the empty object, i.e. an
	// id with no payload.
	matchesEmpty bool
}

// MatchesAll reports whether f is the empty filter {}, which every payload
// matches: callers may skip filtering altogether.
func (f *Filter) MatchesAll() bool { return f.root.op == opAll }

var parserPool = sync.Pool{New: func() any { return new(parser) }}

// Compile parses and checks a filter: a JSON object of at most
// MaxFilterBytes nested at most MaxFilterDepth deep, in the language
// described in the package documentation. Errors wrap ErrBadFilter and say
// which key or operator is wrong. data is not retained.
func Compile(data []byte) (*Filter, error) {
	if len(data) > MaxFilterBytes {
		return nil, fmt.Errorf("cannot compile filter: %d bytes exceed the limit of %d: %w",
			len(data), MaxFilterBytes, ErrBadFilter)
	}
	p := parserPool.Get().(*parser)
	defer parserPool.Put(p)
	if err := p.parse(data, MaxFilterDepth); err != nil {
		if errors.Is(err, errTooDeep) {
			return nil, fmt.Errorf("cannot compile filter: nesting deeper than %d: %w", MaxFilterDepth, ErrBadFilter)
		}
		return nil, fmt.Errorf("cannot compile filter: %s: %w", err.Error(), ErrBadFilter)
	}
	if p.nodes[0].kind != tObj {
		return nil, fmt.Errorf("cannot compile filter: not a JSON object: %w", ErrBadFilter)
	}
	c := compiler{p: p, f: &Filter{}, pathIdx: map[string]int32{}}
	c.enc.p = p
	root, err := c.filter(0)
	if err != nil {
		return nil, fmt.Errorf("cannot compile filter: %w", err)
	}
	c.f.root = root
	c.f.matchesEmpty = evalNode(&c.f.root, view{})
	return c.f, nil
}

// compiler turns a parsed filter into nodes.
type compiler struct {
	p       *parser
	f       *Filter
	enc     encoder
	pathIdx map[string]int32
}

func bad(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrBadFilter)...)
}

// members returns the member node indices of object i, or an error naming
// a duplicate key.
func (c *compiler) members(i int32, where string) ([]int32, error) {
	var ms []int32
	for m := c.p.nodes[i].first; m >= 0; m = c.p.nodes[m].next {
		k := c.p.keyOf(m)
		for _, o := range ms {
			if bytes.Equal(c.p.keyOf(o), k) {
				return nil, bad("%sduplicate key %q", where, k)
			}
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// filter compiles the filter object at node i (the AND of its members).
func (c *compiler) filter(i int32) (node, error) {
	ms, err := c.members(i, "")
	if err != nil {
		return node{}, err
	}
	if len(ms) == 0 {
		return node{op: opAll}, nil
	}
	kids := make([]node, 0, len(ms))
	for _, m := range ms {
		key := string(c.p.keyOf(m))
		var n node
		switch {
		case key == "$and" || key == "$or":
			n, err = c.logical(key, m)
		case key == "$not":
			if c.p.nodes[m].kind != tObj {
				return node{}, bad("%s needs a filter object, got %s", key, kindName(c.p.nodes[m].kind))
			}
			var k node
			k, err = c.filter(m)
			n = node{op: opNot, kids: []node{k}}
			if err != nil {
				err = fmt.Errorf("in %s: %w", key, err)
			}
		case strings.HasPrefix(key, "$"):
			if _, ok := fieldOps[key]; ok {
				return node{}, bad("operator %s needs a field: write {\"field\": {%q: ...}}", key, key)
			}
			return node{}, bad("unknown operator %s", strconv.Quote(key))
		default:
			var path int32
			path, err = c.path(key)
			if err == nil {
				n, err = c.field(key, path, m)
			}
		}
		if err != nil {
			return node{}, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	return node{op: opAnd, kids: kids}, nil
}

// logical compiles $and/$or at node m: a non-empty array of filter objects.
func (c *compiler) logical(key string, m int32) (node, error) {
	nd := &c.p.nodes[m]
	if nd.kind != tArr || nd.n == 0 {
		return node{}, bad("%s needs a non-empty array of filters", key)
	}
	op := opAnd
	if key == "$or" {
		op = opOr
	}
	kids := make([]node, 0, nd.n)
	j := 0
	for e := nd.first; e >= 0; e = c.p.nodes[e].next {
		if c.p.nodes[e].kind != tObj {
			return node{}, bad("%s[%d] must be a filter object, got %s", key, j, kindName(c.p.nodes[e].kind))
		}
		k, err := c.filter(e)
		if err != nil {
			return node{}, fmt.Errorf("in %s[%d]: %w", key, j, err)
		}
		kids = append(kids, k)
		j++
	}
	return node{op: op, kids: kids}, nil
}

// path interns a dot path and returns its index in Filter.paths.
func (c *compiler) path(key string) (int32, error) {
	if i, ok := c.pathIdx[key]; ok {
		return i, nil
	}
	segs := strings.Split(key, ".")
	for _, s := range segs {
		if s == "" {
			return 0, bad("field %q has an empty path segment", key)
		}
	}
	i := int32(len(c.f.paths))
	c.f.paths = append(c.f.paths, segs)
	c.pathIdx[key] = i
	return i, nil
}

// fieldOps are the operators allowed under a field.
var fieldOps = map[string]op{
	"$eq": opEq, "$ne": opNe, "$gt": opGt, "$gte": opGte, "$lt": opLt, "$lte": opLte,
	"$in": opIn, "$nin": opNin, "$exists": opExists,
	"$contains_any": opContainsAny, "$contains_all": opContainsAll, "$not": opNot,
}

// isOperatorObject reports whether node i is a non-empty object whose keys
// all start with '$' (an operator object), and fails when it mixes operator
// and plain keys.
func (c *compiler) isOperatorObject(key string, i int32) (bool, error) {
	n := &c.p.nodes[i]
	if n.kind != tObj || n.n == 0 {
		return false, nil
	}
	ops, plain := 0, 0
	for m := n.first; m >= 0; m = c.p.nodes[m].next {
		if k := c.p.keyOf(m); len(k) > 0 && k[0] == '$' {
			ops++
		} else {
			plain++
		}
	}
	if ops > 0 && plain > 0 {
		return false, bad("field %q mixes operators and plain keys: use {\"$eq\": {...}} to match an object with '$' keys", key)
	}
	return ops > 0, nil
}

// field compiles the value at node i for field key: an operator object, or
// any other value meaning $eq.
func (c *compiler) field(key string, path int32, i int32) (node, error) {
	isOps, err := c.isOperatorObject(key, i)
	if err != nil {
		return node{}, err
	}
	if !isOps {
		v, err := c.encode(key, i)
		return node{op: opEq, path: path, val: v}, err
	}
	ms, err := c.members(i, fmt.Sprintf("field %q: ", key))
	if err != nil {
		return node{}, err
	}
	kids := make([]node, 0, len(ms))
	for _, m := range ms {
		name := string(c.p.keyOf(m))
		o, ok := fieldOps[name]
		if !ok {
			if name == "$and" || name == "$or" {
				return node{}, bad("field %q: %s is not allowed under a field; put it at the top level", key, name)
			}
			return node{}, bad("field %q: unknown operator %s", key, strconv.Quote(name))
		}
		n, err := c.operator(key, path, name, o, m)
		if err != nil {
			return node{}, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	return node{op: opAnd, kids: kids}, nil
}

// operator compiles one operator name (op o) of field key with its operand
// at node m.
func (c *compiler) operator(key string, path int32, name string, o op, m int32) (node, error) {
	nd := &c.p.nodes[m]
	n := node{op: o, path: path}
	switch o {
	case opEq, opNe:
		v, err := c.encode(key, m)
		if err != nil {
			return node{}, err
		}
		n.val = v
	case opGt, opGte, opLt, opLte:
		if nd.kind != tNum && nd.kind != tStr {
			return node{}, bad("field %q: %s needs a number or a string, got %s", key, name, kindName(nd.kind))
		}
		n.val, _ = c.encode(key, m)
	case opIn, opNin, opContainsAny, opContainsAll:
		if nd.kind != tArr {
			return node{}, bad("field %q: %s needs an array, got %s", key, name, kindName(nd.kind))
		}
		for e := nd.first; e >= 0; e = c.p.nodes[e].next {
			v, err := c.encode(key, e)
			if err != nil {
				return node{}, err
			}
			n.vals = append(n.vals, v)
		}
		if o != opContainsAll && len(n.vals) >= setMin {
			n.set = make(map[string]struct{}, len(n.vals))
			for _, v := range n.vals {
				n.set[bytesToString(v)] = struct{}{}
			}
		}
	case opExists:
		if nd.kind != tTrue && nd.kind != tFalse {
			return node{}, bad("field %q: $exists needs true or false, got %s", key, kindName(nd.kind))
		}
		n.want = nd.kind == tTrue
	case opNot:
		k, err := c.field(key, path, m)
		if err != nil {
			return node{}, err
		}
		n = node{op: opNot, kids: []node{k}}
	default:
		panic("BUG: filter: operator without a compiler")
	}
	return n, nil
}

// encode returns the canonical encoding of node i, an operand of field
// key, in its own allocation.
func (c *compiler) encode(key string, i int32) ([]byte, error) {
	c.enc.out = c.enc.out[:0]
	c.enc.dup = false
	c.enc.encode(i, noPath)
	if c.enc.dup {
		return nil, bad("field %q: duplicate key in an object operand", key)
	}
	return bytes.Clone(c.enc.out), nil
}

func kindName(k byte) string {
	switch k {
	case tNull:
		return "null"
	case tTrue, tFalse:
		return "a boolean"
	case tNum:
		return "a number"
	case tStr:
		return "a string"
	case tArr:
		return "an array"
	case tObj:
		return "an object"
	}
	return "nothing"
}
