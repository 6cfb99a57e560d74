package server

import (
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Request bodies on the hot paths (search, insert, update) are parsed with
// github.com/valyala/fastjson: it parses into a reusable Parser without
// reflection, so a pooled Parser parses a vector of floats with no
// allocation once warm, where encoding/json allocates for every element and
// uses reflection. fastjson is maintained by fasthttp's author and is the
// parser VictoriaMetrics uses on its ingestion path. Responses are written by
// append-style encoders into pooled buffers.

// parserPool holds fastjson Parsers. A Parser and every Value it returned
// must not be used after it is put back.
var parserPool fastjson.ParserPool

// maxVectorDim bounds the length of any vector a request may carry.
const maxVectorDim = 1 << 16

// parseVector appends the float32 elements of the JSON array v to dst. Every
// element must be a finite number that is finite as a float32.
func parseVector(dst []float32, v *fastjson.Value) ([]float32, error) {
	if v == nil {
		return dst, invalid("invalid_vector", "missing \"vector\"")
	}
	arr, err := v.Array()
	if err != nil {
		return dst, invalid("invalid_vector", "\"vector\" must be an array of numbers")
	}
	if len(arr) > maxVectorDim {
		return dst, invalid("invalid_vector", "\"vector\" is longer than "+strconv.Itoa(maxVectorDim))
	}
	for i, e := range arr {
		if e.Type() != fastjson.TypeNumber {
			return dst, invalid("invalid_vector", "\"vector\" element "+strconv.Itoa(i)+" is not a number")
		}
		f, err := e.Float64()
		x := float32(f)
		if err != nil || math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return dst, invalid("invalid_vector", "\"vector\" element "+strconv.Itoa(i)+" is not a finite float32")
		}
		dst = append(dst, x)
	}
	return dst, nil
}

// parseSearchBody parses {"vector": [...]} (other members ignored) and
// appends the vector to dst. The common shape, a body whose only member is
// "vector", is read by parseVectorFast; anything else (other members,
// escapes, syntax errors) goes through fastjson, which gives the error.
func parseSearchBody(dst []float32, body []byte) ([]float32, error) {
	if out, ok := parseVectorFast(dst, body); ok {
		return out, nil
	}
	return parseSearchBodyJSON(dst, body)
}

// parseSearchBodyJSON is parseSearchBody's general path, through fastjson.
func parseSearchBodyJSON(dst []float32, body []byte) ([]float32, error) {
	p := parserPool.Get()
	defer parserPool.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return dst, invalid("invalid_json", "cannot parse body: "+err.Error())
	}
	n0 := len(dst)
	if dst, err = parseVector(dst, v.Get("vector")); err != nil {
		return dst, err
	}
	if err := checkJSON(body); err != nil {
		return dst[:n0], err
	}
	return dst, nil
}

// checkJSON reports invalid_json unless body is exactly one RFC 8259 JSON
// value (whitespace around it allowed). fastjson alone is lenient: it
// accepts 00, .5, 1., +1, 1e, control characters in strings and bad \u
// escapes (found by FuzzVectorBody), so a body it accepted is checked
// with the /v1 scanner too (after the vector, so that NaN and Infinity
// keep their invalid_vector).
func checkJSON(body []byte) error {
	end, err := skipJSONValue(body, 0)
	if err == nil && skipWS(body, end) != len(body) {
		err = syntaxAt(skipWS(body, end))
	}
	if err != nil {
		return invalid("invalid_json", "cannot parse body: "+err.Error())
	}
	return nil
}

// parseVectorFast reads exactly `{"vector": [n, n, ...]}` (any JSON
// whitespace) and appends the numbers to dst as float32. It reports false,
// with dst's contents unspecified past its original length, for anything
// else: another member, a non-number, invalid JSON, a number that is not
// finite as a float32. It accepts only valid JSON, converts every number as
// strconv.ParseFloat(s, 64) followed by float32() does (the fastjson path's
// conversion), and allocates nothing.
func parseVectorFast(dst []float32, b []byte) ([]float32, bool) {
	n0 := len(dst)
	i := skipWS(b, 0)
	const key = `"vector"`
	if i >= len(b) || b[i] != '{' {
		return dst[:n0], false
	}
	i = skipWS(b, i+1)
	if len(b)-i < len(key) || string(b[i:i+len(key)]) != key {
		return dst[:n0], false
	}
	i = skipWS(b, i+len(key))
	if i >= len(b) || b[i] != ':' {
		return dst[:n0], false
	}
	i = skipWS(b, i+1)
	if i >= len(b) || b[i] != '[' {
		return dst[:n0], false
	}
	dst, i, ok := appendNumberList(dst, n0, b, skipWS(b, i+1))
	if !ok {
		return dst[:n0], false
	}
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '}' {
		return dst[:n0], false
	}
	if skipWS(b, i+1) != len(b) {
		return dst[:n0], false
	}
	return dst, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// parseNumberAt reads the JSON number -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// at b[i] in one pass and converts it to a finite float32 exactly as
// strconv.ParseFloat(s, 64) then float32() would: a decimal mantissa below
// 2^53 scaled by at most 10^-22 takes Clinger's exact fast path (one
// correctly rounded float64 division); exponents and longer mantissas go
// to strconv. It returns the end of the number; ok is false when there is
// no valid number or it is not finite as a float32.
func parseNumberAt(b []byte, i int) (x float32, end int, ok bool) {
	start := i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	var mant uint64
	nd, exp10 := 0, 0
	switch {
	case i < len(b) && b[i] == '0':
		i++
		nd = 1
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			mant = mant*10 + uint64(b[i]-'0')
			nd++
		}
	default:
		return 0, start, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			mant = mant*10 + uint64(b[i]-'0')
			nd++
			exp10--
		}
		if i == d {
			return 0, start, false
		}
	}
	slow := nd > 19 || mant >= 1<<53 || exp10 < -22
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, start, false
		}
		slow = true
	}
	var f float64
	if !slow {
		f = float64(mant)
		if exp10 < 0 {
			f /= pow10[-exp10]
		}
		if neg {
			f = -f
		}
	} else {
		var err error
		if f, err = strconv.ParseFloat(b2s(b[start:i]), 64); err != nil {
			return 0, start, false
		}
	}
	x = float32(f)
	if x > math.MaxFloat32 || x < -math.MaxFloat32 {
		return 0, start, false
	}
	return x, i, true
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// checkFinite reports an invalid_vector error when v has a NaN or an Inf.
func checkFinite(v []float32) error {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return invalid("invalid_vector", "vector element "+strconv.Itoa(i)+" is not finite")
		}
	}
	return nil
}

// appendFloat32 appends f as a JSON number: the shortest decimal that
// round-trips to f. NaN becomes null and ±Inf the largest finite float32
// with its sign, since JSON has no infinities.
func appendFloat32(dst []byte, f float32) []byte {
	switch {
	case f != f:
		return append(dst, "null"...)
	case math.IsInf(float64(f), 1):
		f = math.MaxFloat32
	case math.IsInf(float64(f), -1):
		f = -math.MaxFloat32
	}
	return strconv.AppendFloat(dst, float64(f), 'g', -1, 32)
}

// appendFloat32s appends v as a JSON array of numbers.
func appendFloat32s(dst []byte, v []float32) []byte {
	dst = append(dst, '[')
	for i, f := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendFloat32(dst, f)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a quoted JSON string. Invalid UTF-8 becomes
// U+FFFD; U+2028 and U+2029 are escaped as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// bufPool holds response buffers for the hot paths. A buffer must not be
// retained after it is put back.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 4<<20 {
		return // do not pin huge buffers
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
