package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

func TestAppendSearch(t *testing.T) {
	res := []store.Result{{ID: 3, Distance: 0.5}, {ID: 4294967295, Distance: 1e-7}, {ID: 0, Distance: 123456.79}}
	got := AppendSearchJSON([]byte("x"), res)
	if string(got) != "x[[3,0.5],[4294967295,1e-07],[0,123456.79]]" {
		t.Fatalf("AppendSearchJSON = %s", got)
	}
	var back [][2]float64
	if err := json.Unmarshal(got[1:], &back); err != nil || len(back) != 3 || float32(back[2][1]) != 123456.79 {
		t.Fatalf("JSON does not decode: %v %v", back, err)
	}
	if s := string(AppendSearchJSON(nil, nil)); s != "[]" {
		t.Fatalf("empty JSON = %s", s)
	}
	bin := AppendSearchBin(nil, res)
	if len(bin) != 4+3*8 || binary.LittleEndian.Uint32(bin) != 3 {
		t.Fatalf("bin header %x", bin)
	}
	for i, r := range res {
		id := binary.LittleEndian.Uint32(bin[4+8*i:])
		d := math.Float32frombits(binary.LittleEndian.Uint32(bin[8+8*i:]))
		if uint64(id) != r.ID || d != r.Distance {
			t.Fatalf("bin hit %d = (%d, %v), want %v", i, id, d, r)
		}
	}
	if b := AppendSearchBin(nil, nil); !bytes.Equal(b, []byte{0, 0, 0, 0}) {
		t.Fatalf("empty bin = %x", b)
	}
}

// newIndexedServer returns a Server (not listening) over a store holding
// collection "demo" of n random vectors of dim with an HNSW index.
func newIndexedServer(t testing.TB, n, dim int, opts Options) (*Server, [][]float32) {
	t.Helper()
	db := openTestStore(t)
	t.Cleanup(func() { db.Close() })
	if opts.LogOutput == nil {
		opts.LogOutput = io.Discard
	}
	s, err := New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.CreateCollection(store.CollectionConfig{Name: "demo", Dim: dim, MaxSize: int64(n), Family: store.FamilyCasper})
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(11)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	vecs := make([][]float32, n)
	entries := make([]store.Entry, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = rng.Float32()
		}
		entries[i] = store.Entry{ID: uint64(i), Vector: vecs[i]}
	}
	if err := c.Update(entries, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateIndex(store.IndexConfig{Metric: "euclidean"}); err != nil {
		t.Fatal(err)
	}
	return s, vecs
}

func searchCtx(uri string, body []byte) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI(uri)
	req.Header.SetContentType("application/json")
	req.SetBody(body)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}, nil)
	return ctx
}

// TestSearchHandlerAllocs pins the search hot path at zero allocations per
// request beyond fasthttp's own, through the whole chain (auth, rate limit,
// metrics, top-level dispatch) with the access log below its level.
func TestSearchHandlerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	s, vecs := newIndexedServer(t, 500, 32, Options{
		LogLevel: "warn", APIKeys: []string{"k"}, RateLimit: 1e9, RateBurst: 1 << 30,
	})
	q, _ := json.Marshal(map[string]any{"vector": vecs[3]})
	h := s.Handler()
	for _, tc := range []struct {
		name, uri string
	}{
		{"json", "/collection/demo/search?limit=10"},
		{"json-explicit", "/collection/demo/search?limit=10&output=json&ef_search=32"},
		{"bin", "/collection/demo/search?limit=10&output=bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := searchCtx(tc.uri, q)
			ctx.Request.Header.Set("Authorization", "Bearer k")
			run := func() {
				ctx.Response.Reset()
				h(ctx)
			}
			run()
			if ctx.Response.StatusCode() != 200 {
				t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
			body := string(ctx.Response.Body())
			if tc.name == "bin" {
				if binary.LittleEndian.Uint32(ctx.Response.Body()) != 10 || binary.LittleEndian.Uint32(ctx.Response.Body()[4:]) != 3 {
					t.Fatalf("bin body %x", body)
				}
			} else if !strings.HasPrefix(body, "[[3,0],") {
				t.Fatalf("JSON body %s", body)
			}
			if n := testing.AllocsPerRun(200, run); n != 0 {
				t.Fatalf("search allocates %v times per request", n)
			}
		})
	}
}

// TestSearchHandlerAllocsLogged reports (and bounds) what the info-level
// access log adds to a search.
func TestSearchHandlerAllocsLogged(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	s, vecs := newIndexedServer(t, 200, 16, Options{})
	q, _ := json.Marshal(map[string]any{"vector": vecs[0]})
	ctx := searchCtx("/collection/demo/search?limit=10&output=bin", q)
	h := s.Handler()
	n := testing.AllocsPerRun(100, func() { ctx.Response.Reset(); h(ctx) })
	t.Logf("search with the access log at info: %v allocs per request", n)
	if n > 2 {
		t.Fatalf("the access log costs %v allocations per request", n)
	}
}

func BenchmarkSearchHandler(b *testing.B) {
	for _, dim := range []int{128, 784} {
		s, vecs := newIndexedServer(b, 2000, dim, Options{LogLevel: "warn"})
		q, _ := json.Marshal(map[string]any{"vector": vecs[5]})
		for _, out := range []string{"json", "bin"} {
			b.Run(fmt.Sprintf("dim=%d/output=%s", dim, out), func(b *testing.B) {
				ctx := searchCtx("/collection/demo/search?limit=10&output="+out, q)
				h := s.Handler()
				b.ReportAllocs()
				b.SetBytes(int64(len(q)))
				for b.Loop() {
					ctx.Response.Reset()
					h(ctx)
				}
			})
		}
	}
}

// BenchmarkHTTPSearch measures a search round trip over loopback (client
// and server in this process), for profiling the HTTP overhead.
func BenchmarkHTTPSearch(b *testing.B) {
	s, vecs := newIndexedServer(b, 2000, 784, Options{LogLevel: "warn"})
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(hl, nil)
	defer s.Shutdown(context.Background())
	q, _ := json.Marshal(map[string]any{"vector": vecs[5]})
	hc := &fasthttp.HostClient{Addr: hl.Addr().String(), MaxConns: 64}
	for _, out := range []string{"json", "bin"} {
		b.Run("dim=784/output="+out, func(b *testing.B) {
			uri := "http://" + hl.Addr().String() + "/collection/demo/search?limit=10&output=" + out
			b.ReportAllocs()
			b.SetParallelism(2)
			b.RunParallel(func(pb *testing.PB) {
				var req fasthttp.Request
				var resp fasthttp.Response
				for pb.Next() {
					req.Header.SetMethod("POST")
					req.SetRequestURI(uri)
					req.SetBodyRaw(q)
					if err := hc.Do(&req, &resp); err != nil || resp.StatusCode() != 200 {
						b.Fatal(err, resp.StatusCode())
					}
				}
			})
		})
	}
}
