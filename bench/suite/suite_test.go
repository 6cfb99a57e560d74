package suite

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/bench/localserver"
	"github.com/lsmvec/lsmvec/hnsw"
	"github.com/lsmvec/lsmvec/store"
	"github.com/lsmvec/lsmvec/store/filter"
)

const benchSeed = 1

// vectors returns n seeded, clustered vectors of dim values.
func vectors(n, dim int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 17))
	const clusters = 32
	cent := make([]float32, clusters*dim)
	for i := range cent {
		cent[i] = float32(r.NormFloat64()) * 3
	}
	v := make([]float32, n*dim)
	for i := range n {
		c := r.IntN(clusters)
		for j := range dim {
			v[i*dim+j] = cent[c*dim+j] + float32(r.NormFloat64())
		}
	}
	return v
}

// BenchmarkHNSWInsert measures Add into a growing index (M=16,
// ef_construction=200), one vector per op, on one goroutine.
func BenchmarkHNSWInsert(b *testing.B) {
	for _, dim := range []int{128, 784} {
		b.Run(fmt.Sprintf("dim=%d", dim), func(b *testing.B) {
			const pool = 20000
			vecs := vectors(pool, dim, benchSeed)
			x, err := hnsw.New(hnsw.Options{Dim: dim, RepairInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer x.Close()
			b.SetBytes(int64(dim) * 4)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % pool
				if err := x.Add(uint64(i), vecs[j*dim:(j+1)*dim]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// searchIndex is built once per process: siftsmall when the shared data
// sets are present, else 10 000 synthetic vectors of dimension 128.
var searchIndex = sync.OnceValues(func() (*hnsw.Index, *dataset.Set) {
	set, err := dataset.Load(dataset.SiftSmall)
	if err != nil {
		const n, nq, dim = 10000, 100, 128
		set = &dataset.Set{Name: "synthetic", Dim: dim, Base: vectors(n, dim, benchSeed), Queries: vectors(nq, dim, benchSeed+1), Metric: "l2"}
	}
	x, err := hnsw.New(hnsw.Options{Dim: set.Dim, RepairInterval: -1, Capacity: set.N()})
	if err != nil {
		panic("BUG: " + err.Error())
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < set.N(); i = int(next.Add(1) - 1) {
				if err := x.Add(uint64(i), set.BaseVec(i)); err != nil {
					panic("BUG: " + err.Error())
				}
			}
		}()
	}
	wg.Wait()
	return x, set
})

// BenchmarkHNSWSearch measures k=10 searches on siftsmall (or a synthetic
// stand-in) at several ef_search values, one query per op.
func BenchmarkHNSWSearch(b *testing.B) {
	x, set := searchIndex()
	for _, ef := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("set=%s/ef=%d", set.Name, ef), func(b *testing.B) {
			res := make([]hnsw.Result, 0, ef)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res = x.Search(set.Query(i%set.NQ()), 10, ef, res[:0])
			}
			if len(res) != 10 {
				b.Fatalf("%d results", len(res))
			}
		})
	}
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}

// BenchmarkStoreWrite measures durable single-vector writes (each
// acknowledged after its synced commit) to a collection without an index,
// with 1 and 8 concurrent writers: the ratio shows the group commit.
func BenchmarkStoreWrite(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			const dim = 128
			db, err := store.Open(store.Options{Dir: b.TempDir(), Logger: quietLogger{}, CheckpointInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			c, err := db.CreateCollection(store.CollectionConfig{Name: "bench", Dim: dim, Family: store.FamilyV1})
			if err != nil {
				b.Fatal(err)
			}
			const pool = 4096
			vecs := vectors(pool, dim, benchSeed)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.SetBytes(dim * 4)
			b.ReportAllocs()
			b.ResetTimer()
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						j := int(i) % pool
						if err := c.Put(uint64(i), vecs[j*dim:(j+1)*dim]); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkHTTPSearch measures a Casper search round trip over loopback
// to an in-process server (2 000 vectors of dimension 128, f32 index,
// limit=10, ef_search=64), with JSON and with binary output; the client is
// fasthttp with the request bodies pre-encoded.
func BenchmarkHTTPSearch(b *testing.B) {
	srv, err := localserver.Start(2)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	const n, dim = 2000, 128
	base := vectors(n, dim, benchSeed)
	hc := &fasthttp.HostClient{Addr: srv.URL()[len("http://"):]}
	call := func(method, path string, body []byte) []byte {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(method)
		req.SetRequestURI(srv.URL() + path)
		req.SetBodyRaw(body)
		if err := hc.DoTimeout(req, resp, time.Minute); err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode() != 200 {
			b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode(), resp.Body())
		}
		return append([]byte(nil), resp.Body()...)
	}
	call("POST", "/collection/bench?dim=128&max_size=100000", nil)
	body := []byte(`{"insert":[`)
	for i := range n {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"id":`+strconv.Itoa(i)+`,"vector":`...)
		body = appendVector(body, base[i*dim:(i+1)*dim])
		body = append(body, '}')
	}
	call("POST", "/collection/bench/update", append(body, "]}"...))
	call("POST", "/collection/bench/index", []byte(`{"hnsw":{"metric":"euclidean","quantization":"f32","m":16,"m0":32,"ef_construction":100}}`))
	queries := vectors(64, dim, benchSeed+1)
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i] = append(appendVector([]byte(`{"vector":`), queries[i*dim:(i+1)*dim]), '}')
	}
	for _, output := range []string{"json", "bin"} {
		b.Run("output="+output, func(b *testing.B) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.Header.SetMethod("POST")
			req.Header.SetContentType("application/json")
			req.SetRequestURI(srv.URL() + "/collection/bench/search?limit=10&ef_search=64&output=" + output)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req.SetBodyRaw(bodies[i%len(bodies)])
				if err := hc.DoTimeout(req, resp, time.Minute); err != nil {
					b.Fatal(err)
				}
				if resp.StatusCode() != 200 {
					b.Fatalf("%d %s", resp.StatusCode(), resp.Body())
				}
			}
			b.StopTimer()
			if output == "bin" && binary.LittleEndian.Uint32(resp.Body()) != 10 {
				b.Fatalf("binary reply holds %d results", binary.LittleEndian.Uint32(resp.Body()))
			}
			b.SetBytes(int64(len(resp.Body())))
		})
	}
}

func appendVector(dst []byte, v []float32) []byte {
	dst = append(dst, '[')
	for i, x := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendFloat(dst, float64(x), 'g', -1, 32)
	}
	return append(dst, ']')
}

// BenchmarkFilterEval measures one Allow call of a bound payload filter
// over 10 000 synthetic payloads, for an equality, a numeric range, and an
// $or of array and nested conditions (the per-visited-node cost of a
// filtered search).
func BenchmarkFilterEval(b *testing.B) {
	const n = 10000
	x, err := filter.NewIndex(filter.Options{MaxPrefilter: -1})
	if err != nil {
		b.Fatal(err)
	}
	colors := []string{"red", "green", "blue", "black", "white", "cyan", "pink", "gold"}
	r := rand.New(rand.NewPCG(benchSeed, 5))
	for i := range n {
		p := fmt.Sprintf(`{"color":%q,"price":%d,"tags":[%q,%q],"meta":{"rank":%d}}`,
			colors[r.IntN(len(colors))], r.IntN(1000), colors[r.IntN(len(colors))], colors[r.IntN(len(colors))], r.IntN(10))
		if err := x.Set(uint64(i), []byte(p)); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct{ name, filter string }{
		{"eq", `{"color":"red"}`},
		{"range", `{"price":{"$gte":100,"$lt":400}}`},
		{"or", `{"$or":[{"tags":{"$contains_any":["gold","pink"]}},{"meta.rank":{"$lte":2}}]}`},
	} {
		b.Run("filter="+tc.name, func(b *testing.B) {
			f, err := filter.Compile([]byte(tc.filter))
			if err != nil {
				b.Fatal(err)
			}
			p := x.Bind(f)
			defer p.Release()
			allowed := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if p.Allow(uint64(i % n)) {
					allowed++
				}
			}
			if b.N >= n && allowed == 0 {
				b.Fatalf("filter %s allowed nothing", tc.filter)
			}
		})
	}
}
