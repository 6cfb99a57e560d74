// Package mergepatch implements JSON Merge Patch (RFC 7396).
//
// Numbers keep their exact text (they are decoded as json.Number), object
// keys come out sorted, and nothing is HTML-escaped. All functions are safe
// for concurrent use and retain none of their arguments.
package mergepatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrInvalid is returned for a target or patch that is not one JSON value.
var ErrInvalid = errors.New("mergepatch: invalid JSON")

// Apply returns the JSON document target patched by patch. An empty or nil
// target is treated as null (so a patch object applies to {}).
func Apply(target, patch []byte) ([]byte, error) {
	var t any
	if len(bytes.TrimSpace(target)) > 0 {
		v, err := Decode(target)
		if err != nil {
			return nil, fmt.Errorf("cannot decode merge-patch target: %w", err)
		}
		t = v
	}
	p, err := Decode(patch)
	if err != nil {
		return nil, fmt.Errorf("cannot decode merge patch: %w", err)
	}
	return Encode(ApplyValue(t, p))
}

// ApplyValue applies a decoded patch to a decoded target (both as produced
// by Decode) and returns the result. It may modify target's maps in place.
func ApplyValue(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = make(map[string]any, len(pm))
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = ApplyValue(tm[k], v)
	}
	return tm
}

// Decode parses exactly one JSON value, numbers as json.Number.
func Decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrInvalid)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the JSON value: %w", ErrInvalid)
	}
	return v, nil
}

// Encode writes v as compact JSON without HTML escaping.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("cannot encode JSON: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
