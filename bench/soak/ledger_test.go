package soak

import (
	"encoding/json"
	"math"
	"testing"
)

// TestMergePatch checks the harness's own RFC 7396 implementation against
// the examples of RFC 7396, appendix A.
func TestMergePatch(t *testing.T) {
	cases := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	}
	for _, c := range cases {
		var target, patch, want any
		for _, p := range []struct {
			s string
			v *any
		}{{c.target, &target}, {c.patch, &patch}, {c.want, &want}} {
			if err := json.Unmarshal([]byte(p.s), p.v); err != nil {
				t.Fatalf("bad case %q: %v", p.s, err)
			}
		}
		got, _ := json.Marshal(mergePatch(target, patch))
		wantB, _ := json.Marshal(want)
		if string(got) != string(wantB) {
			t.Errorf("mergePatch(%s, %s) = %s, want %s", c.target, c.patch, got, wantB)
		}
		// The target must not change.
		again, _ := json.Marshal(target)
		orig := map[string]any{}
		if json.Unmarshal([]byte(c.target), &orig) == nil {
			if o, _ := json.Marshal(orig); string(o) != string(again) {
				t.Errorf("mergePatch modified its target %s into %s", c.target, again)
			}
		}
	}
}

// TestIdStateMatch checks the ledger's rule: an id may be in its last
// acknowledged state or in the state of any write sent after it whose
// answer never came; an acknowledged write clears the alternatives.
func TestIdStateMatch(t *testing.T) {
	a := version{live: true, vecSeed: 1, payload: `{"x":1}`}
	b := version{live: true, vecSeed: 2, payload: `{"x":1}`}
	c := version{live: true, vecSeed: 1, payload: `{"x":2}`}
	var s idState
	if _, ok := s.match(absent); !ok || !s.certain() {
		t.Fatal("a new id must be certain and absent")
	}
	if _, ok := s.match(a); ok {
		t.Fatal("a new id matched a live version")
	}
	s.acked(a)
	s.unknown(absent) // a delete without an answer
	s.unknown(b)      // then an insert without an answer
	if s.certain() {
		t.Fatal("certain with unknown writes pending")
	}
	for _, v := range []version{a, absent, b} {
		if m, ok := s.match(v); !ok || m != v {
			t.Errorf("match(%v) = %v, %v; want it found", v, m, ok)
		}
	}
	// A mix of two versions (a's vector with another payload) is never
	// explained.
	if _, ok := s.match(c); ok {
		t.Error("matched a version that no write produced")
	}
	s.acked(c)
	if !s.certain() {
		t.Fatal("an acknowledged write left alternatives")
	}
	if _, ok := s.match(a); ok {
		t.Error("an acknowledged write did not replace the old state")
	}
}

// TestVectorRoundTrip checks that genVector is deterministic, finite, and
// survives the JSON text the clients send and the decoding they use, bit
// for bit.
func TestVectorRoundTrip(t *testing.T) {
	const dim = 64
	v, w := make([]float32, dim), make([]float32, dim)
	for seed := uint64(0); seed < 200; seed++ {
		genVector(v, seed*7, seed)
		genVector(w, seed*7, seed)
		var got []float32
		if err := json.Unmarshal(appendVector(nil, v), &got); err != nil {
			t.Fatal(err)
		}
		for i := range v {
			if math.IsNaN(float64(v[i])) || math.IsInf(float64(v[i]), 0) || math.Abs(float64(v[i])) >= 1 {
				t.Fatalf("seed %d: element %d = %g out of range", seed, i, v[i])
			}
			if math.Float32bits(v[i]) != math.Float32bits(w[i]) {
				t.Fatalf("seed %d: not deterministic", seed)
			}
		}
		if !sameVector(got, w, seed*7, seed) {
			t.Fatalf("seed %d: the JSON round trip changed the vector", seed)
		}
		if sameVector(got, w, seed*7, seed+1) {
			t.Fatalf("seed %d: two seeds gave the same vector", seed)
		}
	}
}

// TestPayloads checks that generated payloads and patches are JSON
// objects and that patches change what they say.
func TestPayloads(t *testing.T) {
	for r := uint64(0); r < 64; r++ {
		p, err := canonicalJSON(payloadFor(r, r*0x9e3779b97f4a7c15))
		if err != nil {
			t.Fatalf("payload %d: %v", r, err)
		}
		patch := patchFor(r+1, r*0x51afd7ed558ccd)
		q, err := patchCanonical(p, patch)
		if err != nil {
			t.Fatalf("patch %d: %v", r, err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(q), &m); err != nil {
			t.Fatalf("patched payload %d: %v", r, err)
		}
		if m["seq"] != float64(r+1) {
			t.Errorf("patched payload %s: seq %v, want %d", q, m["seq"], r+1)
		}
	}
	if _, err := canonicalJSON([]byte(`[1]`)); err == nil {
		t.Error("canonicalJSON accepted an array")
	}
	if _, err := canonicalJSON([]byte(`null`)); err == nil {
		t.Error("canonicalJSON accepted null")
	}
}
