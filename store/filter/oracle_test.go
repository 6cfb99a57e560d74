package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The naive oracle: decodes filter and payload with encoding/json on every
// call and evaluates the language as the package documentation states it,
// independently of the compiled form.

// oDecode decodes one JSON value, numbers as float64 (±Inf past the double
// range, as the package does).
func oDecode(b []byte) (any, error) {
	if !json.Valid(b) {
		return nil, errors.New("invalid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return oNumbers(v), nil
}

func oNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			panic(err)
		}
		return f
	case []any:
		for i := range t {
			t[i] = oNumbers(t[i])
		}
	case map[string]any:
		for k := range t {
			t[k] = oNumbers(t[k])
		}
	}
	return v
}

// oRawCheck reports the nesting depth of b and whether an object repeats a
// key (b must be valid JSON).
func oRawCheck(b []byte) (depth int, dup bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		obj       bool
		keys      map[string]bool
		expectKey bool
	}
	var stack []*frame
	done := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].expectKey = true
		}
	}
	for {
		t, err := dec.Token()
		if err == io.EOF {
			return depth, dup
		}
		if err != nil {
			panic(err)
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].expectKey {
			if d, ok := t.(json.Delim); !ok || d != '}' {
				k := t.(string)
				if stack[n-1].keys[k] {
					dup = true
				}
				stack[n-1].keys[k] = true
				stack[n-1].expectKey = false
				continue
			}
		}
		switch t {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}, expectKey: true})
			depth = max(depth, len(stack))
		case json.Delim('['):
			stack = append(stack, &frame{})
			depth = max(depth, len(stack))
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			done()
		default:
			done()
		}
	}
}

// oCompile returns the decoded filter when b is a valid filter.
func oCompile(b []byte) (map[string]any, error) {
	if len(b) > MaxFilterBytes {
		return nil, errors.New("too large")
	}
	v, err := oDecode(b)
	if err != nil {
		return nil, err
	}
	if d, dup := oRawCheck(b); d > MaxFilterDepth || dup {
		return nil, fmt.Errorf("depth %d, duplicate keys %v", d, dup)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	return m, oValidFilter(m)
}

func oValidFilter(f map[string]any) error {
	for k, v := range f {
		switch {
		case k == "$and" || k == "$or":
			a, ok := v.([]any)
			if !ok || len(a) == 0 {
				return errors.New(k)
			}
			for _, e := range a {
				m, ok := e.(map[string]any)
				if !ok {
					return errors.New(k)
				}
				if err := oValidFilter(m); err != nil {
					return err
				}
			}
		case k == "$not":
			m, ok := v.(map[string]any)
			if !ok {
				return errors.New(k)
			}
			if err := oValidFilter(m); err != nil {
				return err
			}
		case strings.HasPrefix(k, "$"):
			return errors.New(k)
		default:
			for _, s := range strings.Split(k, ".") {
				if s == "" {
					return errors.New("empty segment")
				}
			}
			if err := oValidField(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// oOps returns whether v is an operator object, or an error when it mixes.
func oOps(v any) (map[string]any, bool, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, false, nil
	}
	n := 0
	for k := range m {
		if strings.HasPrefix(k, "$") {
			n++
		}
	}
	if n == 0 {
		return nil, false, nil
	}
	if n != len(m) {
		return nil, false, errors.New("mixed")
	}
	return m, true, nil
}

func oValidField(v any) error {
	m, ok, err := oOps(v)
	if err != nil || !ok {
		return err
	}
	for op, arg := range m {
		switch op {
		case "$eq", "$ne":
		case "$gt", "$gte", "$lt", "$lte":
			switch arg.(type) {
			case float64, string:
			default:
				return errors.New(op)
			}
		case "$in", "$nin", "$contains_any", "$contains_all":
			if _, ok := arg.([]any); !ok {
				return errors.New(op)
			}
		case "$exists":
			if _, ok := arg.(bool); !ok {
				return errors.New(op)
			}
		case "$not":
			if err := oValidField(arg); err != nil {
				return err
			}
		default:
			return errors.New(op)
		}
	}
	return nil
}

// oMatch evaluates a valid decoded filter on a decoded payload object.
func oMatch(f map[string]any, d map[string]any) bool {
	for k, v := range f {
		var ok bool
		switch k {
		case "$and":
			ok = true
			for _, e := range v.([]any) {
				ok = ok && oMatch(e.(map[string]any), d)
			}
		case "$or":
			for _, e := range v.([]any) {
				ok = ok || oMatch(e.(map[string]any), d)
			}
		case "$not":
			ok = !oMatch(v.(map[string]any), d)
		default:
			val, present := oLookup(d, k)
			ok = oField(v, val, present)
		}
		if !ok {
			return false
		}
	}
	return true
}

func oLookup(d map[string]any, path string) (any, bool) {
	var cur any = d
	for _, s := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func oField(spec, val any, present bool) bool {
	m, ok, _ := oOps(spec)
	if !ok {
		return oOp("$eq", spec, val, present)
	}
	for op, arg := range m {
		if !oOp(op, arg, val, present) {
			return false
		}
	}
	return true
}

func oOp(op string, arg, val any, present bool) bool {
	switch op {
	case "$eq":
		return present && oEq(val, arg)
	case "$ne":
		return !oOp("$eq", arg, val, present)
	case "$in":
		if !present {
			return false
		}
		for _, a := range arg.([]any) {
			if oEq(val, a) {
				return true
			}
		}
		return false
	case "$nin":
		return !oOp("$in", arg, val, present)
	case "$exists":
		return present == arg.(bool)
	case "$gt", "$gte", "$lt", "$lte":
		if !present {
			return false
		}
		if oCmp(op, val, arg) {
			return true
		}
		if a, ok := val.([]any); ok {
			for _, e := range a {
				if oCmp(op, e, arg) {
					return true
				}
			}
		}
		return false
	case "$contains_any", "$contains_all":
		a, ok := val.([]any)
		if !present || !ok {
			return false
		}
		all := op == "$contains_all"
		for _, w := range arg.([]any) {
			found := false
			for _, e := range a {
				if oDeepEq(e, w) {
					found = true
					break
				}
			}
			if found && !all {
				return true
			}
			if !found && all {
				return false
			}
		}
		return all
	case "$not":
		return !oField(arg, val, present)
	}
	panic("oracle: unknown op " + op)
}

func oEq(val, arg any) bool {
	if oDeepEq(val, arg) {
		return true
	}
	if a, ok := val.([]any); ok {
		for _, e := range a {
			if oDeepEq(e, arg) {
				return true
			}
		}
	}
	return false
}

func oCmp(op string, a, b any) bool {
	var c int
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return false
		}
		switch {
		case x < y:
			c = -1
		case x > y:
			c = 1
		}
	case string:
		y, ok := b.(string)
		if !ok {
			return false
		}
		c = strings.Compare(x, y)
	default:
		return false
	}
	switch op {
	case "$gt":
		return c > 0
	case "$gte":
		return c >= 0
	case "$lt":
		return c < 0
	}
	return c <= 0
}

func oDeepEq(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !oDeepEq(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !oDeepEq(v, w) {
				return false
			}
		}
		return true
	}
	panic(fmt.Sprintf("oracle: unexpected %T", a))
}

// oMatchJSON is the oracle on raw JSON: ok false when the filter is invalid
// or the payload is not a JSON object.
func oMatchJSON(filter, payload []byte) (match, ok bool) {
	f, err := oCompile(filter)
	if err != nil {
		return false, false
	}
	if len(payload) > MaxPayloadBytes {
		return false, false
	}
	v, err := oDecode(payload)
	if err != nil {
		return false, false
	}
	d, isObj := v.(map[string]any)
	if !isObj {
		return false, false
	}
	return oMatch(f, d), true
}
