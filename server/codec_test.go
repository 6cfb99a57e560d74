package server

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendJSONString(t *testing.T) {
	cases := []string{
		"", "plain", `quote " and \ backslash`, "nl\nret\rtab\t", "\x00\x01\x1f\x7f",
		"héllo wörld ✓ 🚀", "line\u2028sep\u2029", "bad utf8 \xff\xfe end", "<html>&",
	}
	seed := uint64(1)
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	for range 200 {
		b := make([]byte, r.IntN(20))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: not JSON: %v", s, got, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if !utf8.ValidString(s) {
			// encoding/json replaces each invalid byte; compare with that.
			w, _ := json.Marshal(s)
			_ = json.Unmarshal(w, &want)
		}
		if back != want {
			t.Fatalf("appendJSONString(%q) decodes to %q, want %q", s, back, want)
		}
	}
}

func TestAppendFloat32(t *testing.T) {
	seed := uint64(2)
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	vals := []float32{0, -0, 1, -1, 0.1, 1e-45, math.MaxFloat32, -math.MaxFloat32, 1e-7, 123456789}
	for range 1000 {
		vals = append(vals, math.Float32frombits(r.Uint32()))
	}
	for _, f := range vals {
		if f != f || math.IsInf(float64(f), 0) {
			continue
		}
		got := appendFloat32(nil, f)
		back, err := strconv.ParseFloat(string(got), 32)
		if err != nil || float32(back) != f {
			t.Fatalf("appendFloat32(%v) = %s, parses back to %v (%v)", f, got, back, err)
		}
		var v any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatalf("appendFloat32(%v) = %s: not JSON", f, got)
		}
	}
	if got := string(appendFloat32(nil, float32(math.NaN()))); got != "null" {
		t.Fatalf("NaN encodes as %s, want null", got)
	}
	if got := string(appendFloat32(nil, float32(math.Inf(1)))); got != "3.4028235e+38" {
		t.Fatalf("+Inf encodes as %s", got)
	}
}

func TestParseVector(t *testing.T) {
	cases := []struct {
		body string
		want []float32
		err  string // substring of the error; "" for success
	}{
		{`{"vector":[1,2.5,-3e-2]}`, []float32{1, 2.5, -0.03}, ""},
		{`{"vector":[]}`, []float32{}, ""},
		{`{"vector":[1,"2"]}`, nil, "element 1 is not a number"},
		{`{"vector":[1,null]}`, nil, "element 1 is not a number"},
		{`{"vector":[1e39]}`, nil, "not a finite float32"},
		{`{"vector":[-1e39]}`, nil, "not a finite float32"},
		{`{"vector":{"a":1}}`, nil, "must be an array"},
		{`{"vector":7}`, nil, "must be an array"},
		{`{"vec":[1]}`, nil, "missing"},
	}
	for _, c := range cases {
		p := parserPool.Get()
		v, err := p.Parse(c.body)
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		got, err := parseVector(nil, v.Get("vector"))
		parserPool.Put(p)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("parseVector(%s) error %v, want %q", c.body, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Fatalf("parseVector(%s) = %v, %v", c.body, got, err)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("parseVector(%s)[%d] = %v, want %v", c.body, i, got[i], c.want[i])
			}
		}
	}
}

func TestValidName(t *testing.T) {
	for _, s := range []string{"a", "demo", "A-b_9", strings.Repeat("x", 128)} {
		if !validName(s) {
			t.Errorf("validName(%q) = false", s)
		}
	}
	for _, s := range []string{"", "a b", "a/b", "é", "a.b", strings.Repeat("x", 129)} {
		if validName(s) {
			t.Errorf("validName(%q) = true", s)
		}
	}
}

// BenchmarkParseVector measures the search body parse: fashion-mnist-like
// integers 0..255 and random floats, 784 of them.
func BenchmarkParseVector(b *testing.B) {
	seed := uint64(3)
	r := rand.New(rand.NewPCG(seed, seed))
	ints, floats := make([]float32, 784), make([]float32, 784)
	for i := range ints {
		ints[i] = float32(r.IntN(256))
		floats[i] = r.Float32()
	}
	for _, c := range []struct {
		name string
		v    []float32
	}{{"ints", ints}, {"floats", floats}} {
		body, _ := json.Marshal(map[string]any{"vector": c.v})
		for _, impl := range []struct {
			name  string
			parse func([]float32, []byte) ([]float32, error)
		}{{"fast", parseSearchBody}, {"fastjson", parseSearchBodyJSON}} {
			b.Run("dim=784/"+c.name+"/impl="+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				var dst []float32
				for b.Loop() {
					var err error
					dst, err = impl.parse(dst[:0], body)
					if err != nil || len(dst) != 784 {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// FuzzParseSearchBody checks the fast body parser against the fastjson path:
// whenever the fast path accepts a body, fastjson must accept it too and
// yield the same floats, bit for bit.
func FuzzParseSearchBody(f *testing.F) {
	for _, s := range []string{
		`{"vector":[1,2,3]}`, ` { "vector" : [ 0.5 , -1e-3 ,7E+2, 0 ] } `, `{"vector":[]}`,
		`{"vector":[1,]}`, `{"vector":[01]}`, `{"vector":[1.]}`, `{"vector":[.5]}`, `{"vector":[-]}`,
		`{"vector":[1e39]}`, `{"vector":[3.4028235e38]}`, `{"vector":[123456789012345678901234567890]}`,
		`{"vector":[0.1000000000000000055511151231257827]}`, `{"vector":[1.00000005960464477539062499]}`,
		`{"vector":[1],"x":2}`, `{"vector":[1]}x`, `{"vector":[NaN]}`, `{"vector":[1 2]}`,
		`{"vector":[9007199254740993]}`, `{"vector":[0.000000000000000000000001]}`, `{"vector":[-0]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := parseVectorFast(nil, body)
		if !ok {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("fast path accepted invalid JSON %q", body)
		}
		slow, err := parseSearchBodyJSON(nil, body)
		if err != nil {
			t.Fatalf("fast path accepted %q, fastjson says %v", body, err)
		}
		if len(fast) != len(slow) {
			t.Fatalf("%q: %d vs %d elements", body, len(fast), len(slow))
		}
		for i := range fast {
			if math.Float32bits(fast[i]) != math.Float32bits(slow[i]) {
				t.Fatalf("%q: element %d = %v (fast) vs %v (fastjson)", body, i, fast[i], slow[i])
			}
		}
	})
}
