package mergepatch

import (
	"errors"
	"testing"
)

// The examples of RFC 7396, appendix A, plus number and nesting cases.
func TestApply(t *testing.T) {
	tests := []struct{ target, patch, want string }{
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
		{``, `{"a":1}`, `{"a":1}`},
		{`{"n":12345678901234567890}`, `{"m":1.50}`, `{"m":1.50,"n":12345678901234567890}`},
		{`{"h":"<&>"}`, `{}`, `{"h":"<&>"}`},
	}
	for _, tt := range tests {
		got, err := Apply([]byte(tt.target), []byte(tt.patch))
		if err != nil {
			t.Errorf("Apply(%s, %s): %v", tt.target, tt.patch, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Apply(%s, %s) = %s, want %s", tt.target, tt.patch, got, tt.want)
		}
	}
}

func TestApplyInvalid(t *testing.T) {
	for _, tt := range []struct{ target, patch string }{
		{`{"a":`, `{}`},
		{`{}`, `{"a":}`},
		{`{}`, `{} {}`},
		{`{}`, ``},
	} {
		if _, err := Apply([]byte(tt.target), []byte(tt.patch)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Apply(%q, %q) error = %v, want ErrInvalid", tt.target, tt.patch, err)
		}
	}
}

func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"a":{"b":1}}`), []byte(`{"a":{"b":null,"c":[1]}}`))
	f.Fuzz(func(t *testing.T, target, patch []byte) {
		out, err := Apply(target, patch)
		if err != nil {
			return
		}
		// Applying the same patch again changes nothing (idempotence).
		again, err := Apply(out, patch)
		if err != nil {
			t.Fatalf("re-apply: %v", err)
		}
		if string(again) != string(out) {
			t.Fatalf("not idempotent: %s then %s", out, again)
		}
	})
}
