package server

import (
	"math/rand/v2"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

// TestGarbageNeverPanics sends random and mutated bodies and query strings
// to every body-taking route: each answer must be a 2xx or a 4xx, never a
// 500 (a 500 is what the recover middleware makes of a panic).
func TestGarbageNeverPanics(t *testing.T) {
	s, _ := newIndexedServer(t, 50, 4, Options{})
	if _, err := s.db.CreateCollection(store.CollectionConfig{Name: "plain", Dim: 4, MaxSize: 100, Family: store.FamilyCasper}); err != nil {
		t.Fatal(err)
	}
	seed := uint64(13)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	valid := []string{
		`{"vector":[1,2,3,4]}`,
		`{"insert":[{"id":1,"vector":[1,2,3,4]}],"delete":[2]}`,
		`{"hnsw":{"metric":"euclidean","quantization":"f32","m":16,"m0":32,"ef_construction":200},"normalization":true}`,
		`{"index":"hnsw","config":{"metric":"cosine","m":4,"m0":8,"ef_construction":8}}`,
		`{"dim":4,"codebooks":["a","b"]}`,
		`{"collection":"demo","m":2,"bits":8,"centroids":4}`,
	}
	routes := []struct{ method, uri string }{
		{"POST", "/collection/demo/search?limit=5&output=bin"},
		{"POST", "/collection/demo/search?limit=%ff&ef_search=-1"},
		{"POST", "/collection/plain/insert?id=7"},
		{"POST", "/collection/plain/insert?id=%00"},
		{"POST", "/collection/plain/update"},
		{"POST", "/collection/plain/index"},
		{"POST", "/pq/p1"},
		{"POST", "/pq/p2/train"},
		{"POST", "/collection/new?dim=4&max_size=9"},
		{"GET", "/collection/demo/vector/99999999999999999999"},
	}
	mutate := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		for range 1 + rng.IntN(4) {
			if len(b) == 0 {
				break
			}
			i := rng.IntN(len(b))
			switch rng.IntN(4) {
			case 0:
				b[i] = byte(rng.IntN(256))
			case 1:
				b = append(b[:i], b[i+1:]...)
			case 2:
				b = append(b[:i], append([]byte(`[{"-1e999",:}]`[rng.IntN(13):][:1]), b[i:]...)...)
			case 3:
				b = b[:i]
			}
		}
		return b
	}
	h := s.Handler()
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	for _, r := range routes {
		for i := range 300 {
			var body []byte
			if i%10 == 0 {
				body = make([]byte, rng.IntN(64))
				for j := range body {
					body[j] = byte(rng.IntN(256))
				}
			} else {
				body = mutate([]byte(valid[rng.IntN(len(valid))]))
			}
			req.Reset()
			req.Header.SetMethod(r.method)
			req.SetRequestURI(r.uri)
			req.SetBody(body)
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
			h(&ctx)
			if st := ctx.Response.StatusCode(); st >= 500 {
				t.Fatalf("%s %s with body %q: status %d %s", r.method, r.uri, body, st, ctx.Response.Body())
			}
		}
	}
}
