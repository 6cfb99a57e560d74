package server

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestSkipJSONValue(t *testing.T) {
	valid := []string{
		`0`, `-0`, `1.5e-3`, `-12E+7`, `"a\"b\\\/\b\f\n\r\t\u00e9"`, `true`, `false`, `null`,
		`[]`, `{}`, ` [ 1 , [ ] , { } ] `, `{"a":{"b":[1,{"c":null}]},"d":""}`, `"é"`,
		strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth),
	}
	invalid := []string{
		``, ` `, `01`, `1.`, `.5`, `1e`, `-`, `+1`, `NaN`, `Infinity`, `tru`, `nul`, `"a`, `"\x"`, `"\u12"`,
		"\"a\x01\"", `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{1:2}`, `[1 2]`, `{"a":1 "b":2}`,
		`]`, `}`, `[}`, `{]`, `[[]`, `{"a":[}`,
	}
	for _, s := range valid {
		end, err := skipJSONValue([]byte(s), 0)
		if err != nil || skipWS([]byte(s), end) != len(s) {
			t.Errorf("skipJSONValue(%q) = %d, %v; want the whole input", s, end, err)
		}
	}
	for _, s := range invalid {
		end, err := skipJSONValue([]byte(s), 0)
		if err == nil && skipWS([]byte(s), end) == len(s) {
			t.Errorf("skipJSONValue(%q) accepted invalid JSON", s)
		}
	}
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	if _, err := skipJSONValue([]byte(deep), 0); !errors.Is(err, errJSONDepth) {
		t.Fatalf("depth %d: %v, want errJSONDepth", maxJSONDepth+1, err)
	}
}

func TestForEachMember(t *testing.T) {
	var keys, vals []string
	err := forEachMember([]byte(` {"a" : 1, "b\"c":[1, {"x": 2}] ,"d":{"e":"}"}} `), func(k, v []byte) error {
		keys, vals = append(keys, string(k)), append(vals, string(v))
		return nil
	})
	if err != nil || strings.Join(keys, "|") != `a|b\"c|d` || strings.Join(vals, "|") != `1|[1, {"x": 2}]|{"e":"}"}` {
		t.Fatalf("members %q %q %v", keys, vals, err)
	}
	if !keyIs([]byte(`\u0069d`), "id") || keyIs([]byte(`idx`), "id") || !keyIs([]byte(`id`), "id") {
		t.Fatal("keyIs")
	}
	called := false
	for _, s := range []string{`{"a":1`, `{"a":1} x`, `{"a":1}{}`, `[1]`, `1`, ``} {
		err := forEachMember([]byte(s), func(k, v []byte) error { called = true; return nil })
		if err == nil {
			t.Errorf("forEachMember(%q) accepted it", s)
		}
	}
	if called {
		t.Fatal("fn called on an invalid document")
	}
	var elems []string
	if err := forEachElement([]byte(` [ 1 , "x" , {"a":[2]} ] `), func(i int, e []byte) error {
		elems = append(elems, string(e))
		return nil
	}); err != nil || strings.Join(elems, "|") != `1|"x"|{"a":[2]}` {
		t.Fatalf("elements %q %v", elems, err)
	}
}

func TestParseJSONID(t *testing.T) {
	for _, c := range []struct {
		raw string
		id  uint64
		ok  bool
	}{
		{`0`, 0, true}, {`123`, 123, true}, {`"123"`, 123, true}, {`"0123"`, 123, true},
		{`18446744073709551615`, 1<<64 - 1, true}, {`"18446744073709551615"`, 1<<64 - 1, true},
		{`18446744073709551616`, 0, false}, {`-1`, 0, false}, {`-0`, 0, false}, {`1.0`, 0, false},
		{`1e2`, 0, false}, {`0.5`, 0, false}, {`"+1"`, 0, false}, {`""`, 0, false}, {`" 1"`, 0, false},
		{`"1 "`, 0, false}, {`"\u0031"`, 0, false}, {`null`, 0, false}, {`"-1"`, 0, false}, {`"1_0"`, 0, false},
	} {
		id, err := parseJSONID([]byte(c.raw), "id")
		if c.ok != (err == nil) || c.ok && id != c.id {
			t.Errorf("parseJSONID(%s) = %d, %v; want %d, ok=%v", c.raw, id, err, c.id, c.ok)
		}
	}
}

// FuzzJSONSkip checks the scanner against encoding/json: it accepts
// exactly the valid documents (within its depth limit).
func FuzzJSONSkip(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `"\u00e9\n"`, `-1.5e+3`, `[[[]]]`, `{"a":1,}`, `tru`, `01`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, err := skipJSONValue(b, 0)
		got := err == nil && skipWS(b, end) == len(b)
		if errors.Is(err, errJSONDepth) {
			return
		}
		if want := json.Valid(b); got != want {
			t.Fatalf("skipJSONValue(%q) accepts=%v, json.Valid=%v (err %v)", b, got, want, err)
		}
		// forEachMember agrees on objects.
		if got && len(b) > 0 {
			merr := forEachMember(b, func(k, v []byte) error {
				if !json.Valid(v) {
					t.Fatalf("member value %q is not valid JSON", v)
				}
				return nil
			})
			var x any
			isObj := json.Unmarshal(b, &x) == nil && func() bool { _, ok := x.(map[string]any); return ok }()
			if (merr == nil) != isObj {
				t.Fatalf("forEachMember(%q) = %v, object=%v", b, merr, isObj)
			}
		}
	})
}

func TestV1SearchHandlerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items: allocation counts are meaningless")
	}
	ts := startServer(t, Options{Dim: 8, LogLevel: "warn"})
	for i := range 50 {
		ts.expect(201, "", "POST", "/v1/vectors", `{"id": `+strconv.Itoa(i)+`, "vector": [1,2,3,4,5,6,7,`+strconv.Itoa(i)+`]}`, jsonCT)
	}
	h := ts.s.Handler()
	var ctx fasthttp.RequestCtx
	body := []byte(`{"vector": [1.5, 2, 3, 4, 5, 6, 7, 8.25], "k": 5, "ef_search": 32}`)
	run := func() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/v1/search")
		ctx.Request.SetBody(body)
		h(&ctx)
	}
	run()
	if ctx.Response.StatusCode() != 200 || !strings.HasPrefix(string(ctx.Response.Body()), `{"results":[{"id":8,`) {
		t.Fatalf("search: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("POST /v1/search allocates %v times a request, want 0", n)
	}
}
