package dataset

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
)

// NumPy .npy: the magic "\x93NUMPY", a major and minor version byte, the
// header length (little-endian uint16 for version 1, uint32 for versions 2
// and 3), then an ASCII (v3: UTF-8) Python dict literal with the keys
// 'descr', 'fortran_order' and 'shape', padded with spaces and a newline,
// then the raw array.

// maxNpyHeader bounds the header length a file may claim.
const maxNpyHeader = 1 << 20

var npyMagic = []byte("\x93NUMPY")

// npyHeader is the parsed header of a .npy file.
type npyHeader struct {
	kind  byte // 'f', 'i', 'u'
	size  int  // element size in bytes
	big   bool // big-endian
	shape []uint64
	len   int // bytes from the magic to the end of the header
}

// npyConv returns the float32 converter for a dtype, or false.
func npyConv(kind byte, size int, big bool) (func(dst []float32, src []byte), bool) {
	type key struct {
		kind byte
		size int
		big  bool
	}
	switch (key{kind, size, big}) {
	case key{'f', 2, false}:
		return convF16LE, true
	case key{'f', 2, true}:
		return convF16BE, true
	case key{'f', 4, false}:
		return convF32LE, true
	case key{'f', 4, true}:
		return convF32BE, true
	case key{'f', 8, false}:
		return convF64LE, true
	case key{'f', 8, true}:
		return convF64BE, true
	case key{'u', 1, false}, key{'u', 1, true}:
		return convU8, true
	case key{'i', 1, false}, key{'i', 1, true}:
		return convI8, true
	case key{'i', 2, false}:
		return convI16LE, true
	case key{'i', 2, true}:
		return convI16BE, true
	case key{'u', 2, false}:
		return convU16LE, true
	case key{'u', 2, true}:
		return convU16BE, true
	case key{'i', 4, false}:
		return convI32LE, true
	case key{'i', 4, true}:
		return convI32BE, true
	case key{'i', 8, false}:
		return convI64LE, true
	case key{'i', 8, true}:
		return convI64BE, true
	}
	return nil, false
}

// ReadNpy reads a .npy stream (gzip or plain, by magic bytes; format
// versions 1.0, 2.0 and 3.0) holding a C-ordered array of dtype <f4, <f8,
// <f2, |u1, |i1, <i2, <u2, <i4 or <i8 (big-endian '>' forms too) into a
// row-major []float32. rows is shape[0] and dim the product of the other
// sizes (1 for a one-dimensional array); zero-dimensional arrays, structured
// dtypes and Fortran order (fortran_order: True) are rejected with an error
// wrapping ErrUnsupported. Bytes after the data are an error.
func ReadNpy(r io.Reader) (data []float32, rows, dim int, err error) {
	hint := hintOf(r)
	r, err = Reader(r)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("cannot read npy: %w", err)
	}
	h, err := readNpyHeader(r)
	if err != nil {
		return nil, 0, 0, err
	}
	conv, ok := npyConv(h.kind, h.size, h.big)
	if !ok {
		return nil, 0, 0, fmt.Errorf("cannot read npy: %w: dtype %c%d", ErrUnsupported, h.kind, h.size)
	}
	total, rows, dim, err := npyShape(h.shape)
	if err != nil {
		return nil, 0, 0, err
	}
	trusted := hint.confirms(int64(h.len) + int64(total)*int64(h.size))
	data, err = readArray(r, total, h.size, trusted, conv)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("cannot read npy data: %w", err)
	}
	if err := expectEOF(r); err != nil {
		return nil, 0, 0, fmt.Errorf("cannot read npy: %w", err)
	}
	return data, rows, dim, nil
}

// ReadNpyInt32 reads a .npy stream of integers (|u1, |i1, <i2, <u2, <i4,
// <u4 or <i8, either byte order) into one []int32 per row, the form of
// ann-benchmarks' "neighbors" arrays. Values outside the int32 range are an
// error. The rows share one backing array and have their capacity clipped.
func ReadNpyInt32(r io.Reader) ([][]int32, error) {
	hint := hintOf(r)
	r, err := Reader(r)
	if err != nil {
		return nil, fmt.Errorf("cannot read npy: %w", err)
	}
	h, err := readNpyHeader(r)
	if err != nil {
		return nil, err
	}
	if (h.kind != 'i' && h.kind != 'u') || (h.size != 1 && h.size != 2 && h.size != 4 && h.size != 8) || (h.kind == 'u' && h.size == 8) {
		return nil, fmt.Errorf("cannot read npy as int32: %w: dtype %c%d", ErrUnsupported, h.kind, h.size)
	}
	total, rows, dim, err := npyShape(h.shape)
	if err != nil {
		return nil, err
	}
	var order binary.ByteOrder = binary.LittleEndian
	if h.big {
		order = binary.BigEndian
	}
	c := min(total, initialCap)
	if hint.confirms(int64(h.len) + int64(total)*int64(h.size)) {
		c = total
	}
	flat := make([]int32, 0, c)
	buf := make([]byte, chunkBytes)
	for len(flat) < total {
		n := min(total-len(flat), len(buf)/h.size)
		if _, err := io.ReadFull(r, buf[:n*h.size]); err != nil {
			return nil, fmt.Errorf("cannot read npy element %d of %d: %w", len(flat), total, wrapData(err))
		}
		flat = grow(flat, n, total)
		for i := range n {
			b := buf[i*h.size:]
			var v int64
			switch {
			case h.size == 1 && h.kind == 'u':
				v = int64(b[0])
			case h.size == 1:
				v = int64(int8(b[0]))
			case h.size == 2 && h.kind == 'u':
				v = int64(order.Uint16(b))
			case h.size == 2:
				v = int64(int16(order.Uint16(b)))
			case h.size == 4 && h.kind == 'u':
				v = int64(order.Uint32(b))
			case h.size == 4:
				v = int64(int32(order.Uint32(b)))
			default:
				v = int64(order.Uint64(b))
			}
			if v != int64(int32(v)) {
				return nil, fmt.Errorf("cannot read npy as int32: %w: element %d = %d overflows int32", ErrMalformed, len(flat), v)
			}
			flat = append(flat, int32(v))
		}
	}
	if err := expectEOF(r); err != nil {
		return nil, fmt.Errorf("cannot read npy: %w", err)
	}
	out := make([][]int32, rows)
	for i := range out {
		out[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return out, nil
}

// npyShape turns a shape into (total, rows, dim), checking the limits.
func npyShape(shape []uint64) (total, rows, dim int, err error) {
	if len(shape) == 0 {
		return 0, 0, 0, fmt.Errorf("cannot read npy: %w: zero-dimensional array", ErrUnsupported)
	}
	total, ok := checkedProduct(shape)
	if !ok {
		return 0, 0, 0, fmt.Errorf("cannot read npy: %w: shape %v exceeds %d elements", ErrMalformed, shape, MaxElements)
	}
	dim, _ = checkedProduct(shape[1:])
	if dim > MaxDim {
		return 0, 0, 0, fmt.Errorf("cannot read npy: %w: row dimension %d exceeds %d", ErrMalformed, dim, MaxDim)
	}
	return total, int(shape[0]), dim, nil
}

// readNpyHeader reads and parses the magic, version and header dict.
func readNpyHeader(r io.Reader) (npyHeader, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return npyHeader{}, fmt.Errorf("cannot read npy magic: %w", wrapData(err))
	}
	if !bytes.Equal(pre[:6], npyMagic) {
		return npyHeader{}, fmt.Errorf("cannot read npy: %w: bad magic %q (want \"\\x93NUMPY\")", ErrMalformed, pre[:6])
	}
	var hlen int
	switch major := pre[6]; major {
	case 1:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return npyHeader{}, fmt.Errorf("cannot read npy header length: %w", wrapData(err))
		}
		hlen = int(binary.LittleEndian.Uint16(pre[8:10]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return npyHeader{}, fmt.Errorf("cannot read npy header length: %w", wrapData(err))
		}
		l := binary.LittleEndian.Uint32(b[:])
		if l > maxNpyHeader {
			return npyHeader{}, fmt.Errorf("cannot read npy: %w: header length %d exceeds %d", ErrMalformed, l, maxNpyHeader)
		}
		hlen = int(l)
	default:
		return npyHeader{}, fmt.Errorf("cannot read npy: %w: format version %d.%d", ErrUnsupported, major, pre[7])
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return npyHeader{}, fmt.Errorf("cannot read npy header: %w", wrapData(err))
	}
	h, err := parseNpyHeader(hdr)
	h.len = 10 + hlen
	if pre[6] >= 2 {
		h.len = 12 + hlen
	}
	return h, err
}

// parseNpyHeader parses the header dict literal, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (10, 128), }.
func parseNpyHeader(hdr []byte) (npyHeader, error) {
	p := pyParser{s: hdr}
	dict, err := p.dict()
	if err != nil {
		return npyHeader{}, fmt.Errorf("cannot parse npy header %q: %w: %w", hdr, ErrMalformed, err)
	}
	var h npyHeader
	descr, ok := dict["descr"]
	if !ok || descr.kind != pyStr {
		return npyHeader{}, fmt.Errorf("cannot parse npy header %q: %w: 'descr' missing or not a string (structured dtypes are unsupported)", hdr, ErrUnsupported)
	}
	d := descr.str
	if len(d) < 3 {
		return npyHeader{}, fmt.Errorf("cannot read npy: %w: dtype %q", ErrUnsupported, d)
	}
	switch d[0] {
	case '<', '=', '|': // '=' is native order: little-endian on every platform lsmvec supports
	case '>':
		h.big = true
	default:
		return npyHeader{}, fmt.Errorf("cannot read npy: %w: dtype %q", ErrUnsupported, d)
	}
	h.kind = d[1]
	size, err := strconv.Atoi(d[2:])
	if err != nil || size <= 0 || size > 16 {
		return npyHeader{}, fmt.Errorf("cannot read npy: %w: dtype %q", ErrUnsupported, d)
	}
	h.size = size
	if d[0] == '|' && size != 1 {
		return npyHeader{}, fmt.Errorf("cannot read npy: %w: dtype %q has no byte order", ErrUnsupported, d)
	}
	fo, ok := dict["fortran_order"]
	if !ok || fo.kind != pyBool {
		return npyHeader{}, fmt.Errorf("cannot parse npy header %q: %w: 'fortran_order' missing or not a bool", hdr, ErrMalformed)
	}
	if fo.b {
		return npyHeader{}, fmt.Errorf("cannot read npy: %w: fortran_order arrays (save with np.ascontiguousarray first)", ErrUnsupported)
	}
	shape, ok := dict["shape"]
	if !ok || shape.kind != pyTuple {
		return npyHeader{}, fmt.Errorf("cannot parse npy header %q: %w: 'shape' missing or not a tuple", hdr, ErrMalformed)
	}
	h.shape = shape.tuple
	return h, nil
}

// The Python literal subset a .npy header uses.

type pyKind int

const (
	pyStr pyKind = iota + 1
	pyBool
	pyTuple
	pyInt
)

type pyValue struct {
	kind  pyKind
	str   string
	b     bool
	tuple []uint64
	n     uint64
}

type pyParser struct {
	s []byte
	i int
}

func (p *pyParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (p *pyParser) peek() byte {
	p.skipSpace()
	if p.i >= len(p.s) {
		return 0
	}
	return p.s[p.i]
}

func (p *pyParser) expect(c byte) error {
	if p.peek() != c {
		return fmt.Errorf("want %q at offset %d", c, p.i)
	}
	p.i++
	return nil
}

func (p *pyParser) dict() (map[string]pyValue, error) {
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	m := make(map[string]pyValue)
	for {
		if p.peek() == '}' {
			p.i++
			break
		}
		k, err := p.value()
		if err != nil {
			return nil, err
		}
		if k.kind != pyStr {
			return nil, fmt.Errorf("non-string key at offset %d", p.i)
		}
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k.str]; dup {
			return nil, fmt.Errorf("duplicate key %q", k.str)
		}
		m[k.str] = v
		if c := p.peek(); c == ',' {
			p.i++
		} else if c != '}' {
			return nil, fmt.Errorf("want ',' or '}' at offset %d", p.i)
		}
	}
	if p.peek() != 0 {
		return nil, fmt.Errorf("trailing bytes at offset %d", p.i)
	}
	return m, nil
}

func (p *pyParser) value() (pyValue, error) {
	switch c := p.peek(); {
	case c == '\'' || c == '"':
		p.i++
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != c {
			if p.s[p.i] == '\\' {
				return pyValue{}, fmt.Errorf("escape in string at offset %d", p.i)
			}
			p.i++
		}
		if p.i >= len(p.s) {
			return pyValue{}, fmt.Errorf("unterminated string at offset %d", start)
		}
		p.i++
		return pyValue{kind: pyStr, str: string(p.s[start : p.i-1])}, nil
	case c == '(':
		p.i++
		var t []uint64
		for {
			if p.peek() == ')' {
				p.i++
				return pyValue{kind: pyTuple, tuple: t}, nil
			}
			if c := p.peek(); c < '0' || c > '9' { // ints only: no recursion
				return pyValue{}, fmt.Errorf("non-integer in tuple at offset %d", p.i)
			}
			v, err := p.value()
			if err != nil {
				return pyValue{}, err
			}
			if len(t) >= 64 {
				return pyValue{}, fmt.Errorf("tuple longer than 64")
			}
			t = append(t, v.n)
			if c := p.peek(); c == ',' {
				p.i++
			} else if c != ')' {
				return pyValue{}, fmt.Errorf("want ',' or ')' at offset %d", p.i)
			}
		}
	case c >= '0' && c <= '9':
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		n, err := strconv.ParseUint(string(p.s[start:p.i]), 10, 64)
		if err != nil {
			return pyValue{}, fmt.Errorf("bad integer at offset %d: %w", start, err)
		}
		if p.i < len(p.s) && p.s[p.i] == 'L' { // Python 2 long
			p.i++
		}
		return pyValue{kind: pyInt, n: n}, nil
	case c == 'T' || c == 'F':
		for _, w := range []string{"True", "False"} {
			if bytes.HasPrefix(p.s[p.i:], []byte(w)) {
				p.i += len(w)
				return pyValue{kind: pyBool, b: w == "True"}, nil
			}
		}
	}
	return pyValue{}, fmt.Errorf("unexpected input at offset %d", p.i)
}
