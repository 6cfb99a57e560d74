package filter

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A strict RFC 8259 parser into a small tree (an arena of jnodes), shared by
// Compile and Index.Set. It accepts exactly what encoding/json accepts and
// decodes strings the way encoding/json does (invalid UTF-8 and lone
// surrogates become U+FFFD), so the naive oracle in the tests, which decodes
// with encoding/json, sees the same values.

// jnode is one parsed JSON value. Children of arrays and objects form a
// linked list through next, in input order; object members carry their
// decoded key.
type jnode struct {
	kind  byte    // tNull..tObj
	num   float64 // tNum
	s     span    // tStr: the decoded string in parser.strs
	key   span    // member key, when the parent is an object
	first int32   // first child, -1 if none
	last  int32   // last child, -1 if none
	next  int32   // next sibling, -1 if none
	n     int32   // number of children
}

// span is a [lo, hi) range of parser.strs.
type span struct{ lo, hi uint32 }

// errSyntax is wrapped by the parser's errors; callers wrap it further.
var errSyntax = errors.New("invalid JSON")

// parser parses one JSON text. It is reused (reset) by its owner and is not
// safe for concurrent use.
type parser struct {
	in       []byte
	pos      int
	nodes    []jnode
	strs     []byte
	depth    int
	maxDepth int // 0: unlimited
	err      error
}

// parse parses in into p.nodes (root at index 0). It returns errSyntax-
// wrapping errors for malformed input and errTooDeep past maxDepth.
func (p *parser) parse(in []byte, maxDepth int) error {
	p.in, p.pos, p.depth, p.maxDepth, p.err = in, 0, 0, maxDepth, nil
	p.nodes = p.nodes[:0]
	p.strs = p.strs[:0]
	p.ws()
	p.value()
	if p.err != nil {
		return p.err
	}
	p.ws()
	if p.pos != len(p.in) {
		return p.fail("unexpected data after the top-level value")
	}
	return nil
}

// errTooDeep reports nesting past the parser's maxDepth.
var errTooDeep = errors.New("nesting too deep")

func (p *parser) fail(msg string) error {
	if p.err == nil {
		p.err = errorAt(msg, p.pos, errSyntax)
	}
	return p.err
}

func errorAt(msg string, pos int, err error) error {
	return &syntaxError{msg: msg, pos: pos, err: err}
}

// syntaxError is a parse error at a byte offset.
type syntaxError struct {
	msg string
	pos int
	err error
}

func (e *syntaxError) Error() string {
	return e.err.Error() + " at offset " + strconv.Itoa(e.pos) + ": " + e.msg
}

func (e *syntaxError) Unwrap() error { return e.err }

func (p *parser) ws() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// newNode appends a node and returns its index.
func (p *parser) newNode(kind byte) int32 {
	p.nodes = append(p.nodes, jnode{kind: kind, first: -1, last: -1, next: -1})
	return int32(len(p.nodes) - 1)
}

// addChild links c as the last child of parent.
func (p *parser) addChild(parent, c int32) {
	n := &p.nodes[parent]
	if n.last < 0 {
		n.first = c
	} else {
		p.nodes[n.last].next = c
	}
	n.last = c
	n.n++
}

// value parses one value and returns its node index (-1 after an error).
func (p *parser) value() int32 {
	if p.err != nil {
		return -1
	}
	if p.pos >= len(p.in) {
		p.fail("unexpected end of input")
		return -1
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, ok := p.str()
		if !ok {
			return -1
		}
		i := p.newNode(tStr)
		p.nodes[i].s = s
		return i
	case c == 't':
		return p.literal("true", tTrue)
	case c == 'f':
		return p.literal("false", tFalse)
	case c == 'n':
		return p.literal("null", tNull)
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	p.fail("unexpected character " + strconv.QuoteRune(rune(p.in[p.pos])))
	return -1
}

func (p *parser) literal(word string, kind byte) int32 {
	if len(p.in)-p.pos < len(word) || string(p.in[p.pos:p.pos+len(word)]) != word {
		p.fail("invalid literal")
		return -1
	}
	p.pos += len(word)
	return p.newNode(kind)
}

func (p *parser) enter() bool {
	p.depth++
	if p.maxDepth > 0 && p.depth > p.maxDepth {
		if p.err == nil {
			p.err = errorAt("more than "+strconv.Itoa(p.maxDepth)+" levels", p.pos, errTooDeep)
		}
		return false
	}
	return true
}

func (p *parser) object() int32 {
	if !p.enter() {
		return -1
	}
	p.pos++ // '{'
	obj := p.newNode(tObj)
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		p.depth--
		return obj
	}
	for {
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			p.fail("expected a string key")
			return -1
		}
		key, ok := p.str()
		if !ok {
			return -1
		}
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			p.fail("expected ':' after an object key")
			return -1
		}
		p.pos++
		p.ws()
		v := p.value()
		if v < 0 {
			return -1
		}
		p.nodes[v].key = key
		p.addChild(obj, v)
		p.ws()
		if p.pos >= len(p.in) {
			p.fail("unexpected end of input in an object")
			return -1
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.depth--
			return obj
		default:
			p.fail("expected ',' or '}' in an object")
			return -1
		}
	}
}

func (p *parser) array() int32 {
	if !p.enter() {
		return -1
	}
	p.pos++ // '['
	arr := p.newNode(tArr)
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		p.depth--
		return arr
	}
	for {
		p.ws()
		v := p.value()
		if v < 0 {
			return -1
		}
		p.addChild(arr, v)
		p.ws()
		if p.pos >= len(p.in) {
			p.fail("unexpected end of input in an array")
			return -1
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			return arr
		default:
			p.fail("expected ',' or ']' in an array")
			return -1
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *parser) number() int32 {
	start := p.pos
	in := p.in
	i := p.pos
	if in[i] == '-' {
		i++
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case i < len(in) && in[i] >= '1' && in[i] <= '9':
		for i < len(in) && isDigit(in[i]) {
			i++
		}
	default:
		p.pos = i
		p.fail("invalid number")
		return -1
	}
	if i < len(in) && in[i] == '.' {
		i++
		if i >= len(in) || !isDigit(in[i]) {
			p.pos = i
			p.fail("invalid number: digits must follow '.'")
			return -1
		}
		for i < len(in) && isDigit(in[i]) {
			i++
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		if i >= len(in) || !isDigit(in[i]) {
			p.pos = i
			p.fail("invalid number: digits must follow the exponent")
			return -1
		}
		for i < len(in) && isDigit(in[i]) {
			i++
		}
	}
	p.pos = i
	// The grammar above is a subset of ParseFloat's, so the only error is
	// ErrRange, where f is ±Inf (or 0 on underflow): keep that value.
	f, _ := strconv.ParseFloat(bytesToString(in[start:i]), 64)
	n := p.newNode(tNum)
	p.nodes[n].num = f
	return n
}

// str parses a string at p.pos (which holds '"') and appends its decoded
// bytes to p.strs.
func (p *parser) str() (span, bool) {
	in := p.in
	i := p.pos + 1
	lo := uint32(len(p.strs))
	// Fast path: a run of plain ASCII.
	j := i
	for j < len(in) && in[j] != '"' && in[j] != '\\' && in[j] >= 0x20 && in[j] < utf8.RuneSelf {
		j++
	}
	p.strs = append(p.strs, in[i:j]...)
	i = j
	for {
		if i >= len(in) {
			p.pos = i
			p.fail("unterminated string")
			return span{}, false
		}
		c := in[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return span{lo, uint32(len(p.strs))}, true
		case c < 0x20:
			p.pos = i
			p.fail("control character in a string")
			return span{}, false
		case c == '\\':
			if i+1 >= len(in) {
				p.pos = i
				p.fail("unterminated escape")
				return span{}, false
			}
			switch e := in[i+1]; e {
			case '"', '\\', '/':
				p.strs = append(p.strs, e)
				i += 2
			case 'b':
				p.strs = append(p.strs, '\b')
				i += 2
			case 'f':
				p.strs = append(p.strs, '\f')
				i += 2
			case 'n':
				p.strs = append(p.strs, '\n')
				i += 2
			case 'r':
				p.strs = append(p.strs, '\r')
				i += 2
			case 't':
				p.strs = append(p.strs, '\t')
				i += 2
			case 'u':
				r := hex4(in[i+2:])
				if r < 0 {
					p.pos = i
					p.fail("invalid \\u escape")
					return span{}, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// As encoding/json: a valid pair decodes to one rune,
					// anything else is U+FFFD and the next escape is
					// decoded on its own.
					if len(in)-i >= 6 && in[i] == '\\' && in[i+1] == 'u' {
						if r2 := hex4(in[i+2:]); r2 >= 0 {
							if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
								p.strs = utf8.AppendRune(p.strs, d)
								i += 6
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				p.strs = utf8.AppendRune(p.strs, r)
			default:
				p.pos = i
				p.fail("invalid escape")
				return span{}, false
			}
		case c < utf8.RuneSelf:
			p.strs = append(p.strs, c)
			i++
		default:
			r, size := utf8.DecodeRune(in[i:])
			if r == utf8.RuneError && size == 1 {
				p.strs = utf8.AppendRune(p.strs, utf8.RuneError)
			} else {
				p.strs = append(p.strs, in[i:i+size]...)
			}
			i += size
		}
	}
}

// hex4 decodes four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// keyOf returns the decoded key of member node i (valid until the next parse).
func (p *parser) keyOf(i int32) []byte {
	k := p.nodes[i].key
	return p.strs[k.lo:k.hi]
}

// strOf returns the decoded string of string node i.
func (p *parser) strOf(i int32) []byte {
	s := p.nodes[i].s
	return p.strs[s.lo:s.hi]
}
