package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// The /v1 routes read their JSON bodies with a validating scanner that
// splits an object into members and hands out each member's raw text, so
// that:
//   - a filter reaches filter.Compile as sent, and its 8 KiB and depth-32
//     limits (400 bad_filter) apply to the client's own text, however deep
//     it nests (fastjson would stop at its own depth of 300 with a generic
//     syntax error);
//   - a payload ("metadata") is stored as the bytes sent, with no
//     re-encoding, and its 64 KiB limit applies to them;
//   - ids keep their exact text (a u64 above 2^53 is not rounded through a
//     float64).
// The scanner is iterative (nesting costs one bit a level, up to
// maxJSONDepth), accepts exactly RFC 8259 JSON (checked against
// encoding/json.Valid by FuzzJSONSkip) and allocates nothing.

// maxJSONDepth is the deepest nesting the scanner accepts in a /v1 body.
const maxJSONDepth = 1024

var (
	errJSONSyntax = errors.New("invalid JSON")
	errJSONDepth  = errors.New("JSON nested deeper than 1024 levels")
)

// jsonSyntaxError reports a syntax error at a byte offset.
type jsonSyntaxError struct {
	off int
	err error
}

func (e *jsonSyntaxError) Error() string {
	return e.err.Error() + " at byte " + strconv.Itoa(e.off)
}

func (e *jsonSyntaxError) Unwrap() error { return e.err }

func syntaxAt(off int) error { return &jsonSyntaxError{off: off, err: errJSONSyntax} }

// skipJSONValue returns the end of the JSON value that starts at b[i]
// (after optional whitespace), or an error wrapping errJSONSyntax or
// errJSONDepth. It validates the value completely.
func skipJSONValue(b []byte, i int) (int, error) {
	var stack [maxJSONDepth / 64]uint64 // bit set: the container is an object
	depth := 0
	for {
		// A value is expected at b[i].
		i = skipWS(b, i)
		if i >= len(b) {
			return i, syntaxAt(i)
		}
		var err error
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == maxJSONDepth {
				return i, &jsonSyntaxError{off: i, err: errJSONDepth}
			}
			if c == '{' {
				stack[depth>>6] |= 1 << (depth & 63)
			} else {
				stack[depth>>6] &^= 1 << (depth & 63)
			}
			depth++
			i = skipWS(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				i++
				depth--
				break // an empty container is a complete value
			}
			if c == '{' {
				if i, err = skipJSONKey(b, i); err != nil {
					return i, err
				}
			}
			continue // the first member's or element's value
		case c == '"':
			i, err = skipJSONString(b, i)
		case c == '-' || c >= '0' && c <= '9':
			i, err = skipJSONNumber(b, i)
		case c == 't':
			i, err = skipJSONLiteral(b, i, "true")
		case c == 'f':
			i, err = skipJSONLiteral(b, i, "false")
		case c == 'n':
			i, err = skipJSONLiteral(b, i, "null")
		default:
			return i, syntaxAt(i)
		}
		if err != nil {
			return i, err
		}
		// A value ended: close containers until one continues.
		for {
			if depth == 0 {
				return i, nil
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return i, syntaxAt(i)
			}
			obj := stack[(depth-1)>>6]&(1<<((depth-1)&63)) != 0
			if b[i] == ',' {
				i++
				if obj {
					if i, err = skipJSONKey(b, skipWS(b, i)); err != nil {
						return i, err
					}
				}
				break
			}
			if obj && b[i] == '}' || !obj && b[i] == ']' {
				i++
				depth--
				continue
			}
			return i, syntaxAt(i)
		}
	}
}

// skipJSONKey skips `"key" :` at b[i] and returns the offset after the
// colon.
func skipJSONKey(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return i, syntaxAt(i)
	}
	i, err := skipJSONString(b, i)
	if err != nil {
		return i, err
	}
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, syntaxAt(i)
	}
	return i + 1, nil
}

// skipJSONString skips the string that starts at b[i] (a '"').
func skipJSONString(b []byte, i int) (int, error) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return i, syntaxAt(i)
		case c == '\\':
			i++
			if i >= len(b) {
				return i, syntaxAt(i)
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return len(b), syntaxAt(len(b))
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return i, syntaxAt(i)
					}
				}
				i += 4
			default:
				return i, syntaxAt(i)
			}
		}
	}
	return i, syntaxAt(i)
}

// skipJSONNumber skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// at b[i].
func skipJSONNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		return i, syntaxAt(i)
	}
	if i < len(b) && b[i] == '.' {
		d := i + 1
		if i = skipDigits(b, d); i == d {
			return i, syntaxAt(i)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		if i = skipDigits(b, d); i == d {
			return i, syntaxAt(i)
		}
	}
	return i, nil
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func skipJSONLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, syntaxAt(i)
	}
	return i + len(lit), nil
}

// forEachMember calls fn with the raw key (the text between the quotes,
// escapes undecoded) and the raw value text of every member of the JSON
// object body, which must be exactly one object (whitespace around it
// allowed). It stops at fn's first error and returns it. The slices alias
// body.
func forEachMember(body []byte, fn func(key, val []byte) error) error {
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		if _, err := skipJSONValue(body, 0); err != nil {
			return err
		}
		return errNotObject
	}
	// Validate first, so that fn never sees part of an invalid document.
	end, err := skipJSONValue(body, i)
	if err != nil {
		return err
	}
	if skipWS(body, end) != len(body) {
		return syntaxAt(skipWS(body, end))
	}
	i = skipWS(body, i+1)
	if body[i] == '}' {
		return nil
	}
	for {
		ks := i
		i, _ = skipJSONString(body, i) // validated above
		key := body[ks+1 : i-1]
		i = skipWS(body, i) + 1 // ':'
		vs := skipWS(body, i)
		i, _ = skipJSONValue(body, vs)
		if err := fn(key, body[vs:i]); err != nil {
			return err
		}
		i = skipWS(body, i)
		if body[i] == '}' {
			return nil
		}
		i = skipWS(body, i+1) // ','
	}
}

// forEachElement calls fn with the index and raw text of every element of
// the JSON array arr (one validated value, as forEachMember hands out). It
// reports errNotArray for any other value.
func forEachElement(arr []byte, fn func(i int, elem []byte) error) error {
	i := skipWS(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return errNotArray
	}
	i = skipWS(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return nil
	}
	for n := 0; ; n++ {
		s := i
		end, err := skipJSONValue(arr, s)
		if err != nil {
			return err
		}
		if err := fn(n, arr[s:end]); err != nil {
			return err
		}
		i = skipWS(arr, end)
		if i >= len(arr) {
			return syntaxAt(i)
		}
		if arr[i] == ']' {
			return nil
		}
		if arr[i] != ',' {
			return syntaxAt(i)
		}
		i = skipWS(arr, i+1)
	}
}

var (
	errNotObject = errors.New("not a JSON object")
	errNotArray  = errors.New("not a JSON array")
)

// keyIs reports whether the raw key text (escapes undecoded) names want.
// Keys with escapes are decoded first (rare: allocates).
func keyIs(raw []byte, want string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == want
	}
	var s string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	if json.Unmarshal(q, &s) != nil {
		return false
	}
	return s == want
}

// isJSONNull reports whether the raw value text is null.
func isJSONNull(v []byte) bool { return string(v) == "null" }

// jsonBodyError turns a scanner error into the client's 400.
func jsonBodyError(err error) error {
	if errors.Is(err, errNotObject) {
		return invalid("invalid_json", "the body must be a JSON object")
	}
	return invalid("invalid_json", "cannot parse body: "+err.Error())
}
