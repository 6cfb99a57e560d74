package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The abuse tests run against a realKey server on loopback, speaking raw
// HTTP/1.1 where a well-behaved client library would get in the way (slow
// or partial headers, lying Content-Lengths, unnormalized paths).

func hostOf(ts *testServer) string { return strings.TrimPrefix(ts.base, "http://") }

// rawExchange opens a connection, starts reading the response, then writes
// req (a goroutine keeps writing the rest, if any, from more), and returns
// the first response. Reading while writing matters: a server that refuses
// early closes the connection with the client's bytes unread, and a client
// that only reads after writing everything would see the reset instead of
// the answer.
func rawExchange(t *testing.T, addr, req string, more io.Reader, timeout time.Duration) (*http.Response, []byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	done := make(chan result, 1)
	method, _, _ := strings.Cut(req, " ")
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp, b, err}
	}()
	if _, err := io.WriteString(c, req); err != nil {
		// The server may have answered and closed already.
		t.Logf("write: %v", err)
	}
	if more != nil {
		go func() { _, _ = io.Copy(c, more) }()
	}
	r := <-done
	return r.resp, r.body, r.err
}

// errorCode returns the "code" of a JSON error body, or "".
func errorCode(body []byte) string {
	var e struct{ Code string }
	_ = json.Unmarshal(body, &e)
	return e.Code
}

// TestSlowloris opens 200 connections that send their headers a byte at a
// time, stop in the middle of their headers, stop in the middle of their
// body or send nothing. Each is closed by the server once its timeout
// (HeaderTimeout for headers, ReadTimeout for the body) passes, and a
// normal client keeps its latency meanwhile.
func TestSlowloris(t *testing.T) {
	const (
		headerTimeout = 2 * time.Second
		readTimeout   = 5 * time.Second
		perKind       = 50
	)
	ts := startServer(t, Options{HeaderTimeout: headerTimeout, ReadTimeout: readTimeout})
	ts.expect(201, "", "POST", "/v1/vectors", `{"id":1,"vector":[1,2,3,4]}`)
	addr := hostOf(ts)

	normal := &http.Client{Timeout: 10 * time.Second}
	latencies := func(n int) []time.Duration {
		var ds []time.Duration
		for range n {
			start := time.Now()
			st, _, err := rawDo(normal, "GET", ts.base+"/v1/vectors/1", "")
			if err != nil || st != 200 {
				t.Errorf("normal client: %d %v", st, err)
				return nil
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds
	}
	before := latencies(100)

	kinds := []struct {
		name    string
		prefix  string        // written at once
		trickle bool          // then one byte every 50 ms, forever
		timeout time.Duration // the server's timeout that must close it
	}{
		{"trickled headers", "GET /v1/vectors/1 HTTP/1.1\r\nHost: x\r\nX-Slow: ", true, headerTimeout},
		{"stalled headers", "POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Le", false, headerTimeout},
		{"stalled body", "POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"vector\":", false, readTimeout},
		{"nothing sent", "", false, headerTimeout},
	}
	type closed struct {
		kind int
		d    time.Duration
		resp string
	}
	results := make(chan closed, len(kinds)*perKind)
	var nclosed atomic.Int64
	dialStart := time.Now()
	for k, kind := range kinds {
		for range perKind {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				if kind.prefix != "" {
					_, _ = io.WriteString(c, kind.prefix)
				}
				stop := make(chan struct{})
				defer close(stop)
				if kind.trickle {
					go func() {
						for {
							select {
							case <-stop:
								return
							case <-time.After(50 * time.Millisecond):
							}
							if _, err := c.Write([]byte("a")); err != nil {
								return
							}
						}
					}()
				}
				// Whatever the server sends before closing (a 408), then EOF.
				b, _ := io.ReadAll(c)
				line, _, _ := strings.Cut(string(b), "\r\n")
				nclosed.Add(1)
				results <- closed{k, time.Since(start), line}
			}()
		}
	}
	dialed := time.Since(dialStart)
	time.Sleep(50 * time.Millisecond) // let the writers start
	open := len(kinds)*perKind - int(nclosed.Load())
	during := latencies(100)
	openAfter := len(kinds)*perKind - int(nclosed.Load())
	var got [4][]time.Duration
	var lines [4]map[string]int
	for range len(kinds) * perKind {
		r := <-results
		got[r.kind] = append(got[r.kind], r.d)
		if lines[r.kind] == nil {
			lines[r.kind] = map[string]int{}
		}
		lines[r.kind][r.resp]++
	}
	median := func(ds []time.Duration) time.Duration { return ds[len(ds)/2] }
	t.Logf("normal client GET /v1/vectors/1: median %v max %v alone; median %v max %v with %d..%d slow connections open (dialed in %v)",
		median(before), before[len(before)-1], median(during), during[len(during)-1], open, openAfter, dialed)
	if openAfter < len(kinds)*perKind/2 {
		t.Errorf("only %d of %d slow connections were still open after the normal client's requests", openAfter, len(kinds)*perKind)
	}
	if m := median(during); m > max(50*time.Millisecond, 10*median(before)) {
		t.Errorf("normal client slowed down by slow connections: median %v, %v before", m, median(before))
	}
	for k, kind := range kinds {
		ds := got[k]
		slices.Sort(ds)
		t.Logf("%s: closed by the server after %v .. %v (timeout %v); first line %v", kind.name, ds[0], ds[len(ds)-1], kind.timeout, lines[k])
		if ds[0] < kind.timeout*8/10 {
			t.Errorf("%s: a connection closed after %v, before its %v timeout", kind.name, ds[0], kind.timeout)
		}
		limit := kind.timeout + 5*time.Second
		if kind.timeout == headerTimeout {
			// Headers get HeaderTimeout, not the body's ReadTimeout.
			limit = readTimeout - readTimeout/8
		}
		if ds[len(ds)-1] > limit {
			t.Errorf("%s: a connection stayed open %v (timeout %v)", kind.name, ds[len(ds)-1], kind.timeout)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ts.s.httpSrv.GetOpenConnectionsCount() > 1; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open after the slow clients were closed", ts.s.httpSrv.GetOpenConnectionsCount())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAbuseDefaults pins the defaults that bound slow and oversized
// requests, and the fasthttp settings New derives from them.
func TestAbuseDefaults(t *testing.T) {
	var o Options
	o.EnsureDefaults()
	if o.HeaderTimeout != 10*time.Second || o.ReadTimeout != 5*time.Minute || o.MaxHeaderBytes != 8<<10 ||
		o.MaxConns != 16384 || o.MaxConnsPerIP != 0 || o.MaxBody != 64<<20 {
		t.Fatalf("defaults: header timeout %v, read timeout %v, max header bytes %d, max conns %d/%d per IP, max body %d",
			o.HeaderTimeout, o.ReadTimeout, o.MaxHeaderBytes, o.MaxConns, o.MaxConnsPerIP, o.MaxBody)
	}
	for _, bad := range []Options{{HeaderTimeout: -1}, {MaxHeaderBytes: 100}, {MaxHeaderBytes: 2 << 20}, {MaxConns: -1}, {MaxConnsPerIP: -1}} {
		bad.EnsureDefaults()
		if err := bad.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: Validate() = %v", bad, err)
		}
	}
	db := openTestStore(t)
	defer db.Close()
	s, err := New(db, Options{LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	h := s.httpSrv
	if h.ReadTimeout != o.HeaderTimeout || h.ReadBufferSize != o.MaxHeaderBytes || h.Concurrency != o.MaxConns ||
		!h.DisablePreParseMultipartForm || !h.SecureErrorLogMessage || h.ExpectHandler == nil || h.HeaderReceived == nil {
		t.Fatalf("fasthttp server: read timeout %v, read buffer %d, concurrency %d, pre-parse multipart %v, secure errors %v",
			h.ReadTimeout, h.ReadBufferSize, h.Concurrency, !h.DisablePreParseMultipartForm, h.SecureErrorLogMessage)
	}
}

// TestOversizedHeaders: a request line plus headers over MaxHeaderBytes is
// refused with 431 once MaxHeaderBytes have been read, not buffered.
func TestOversizedHeaders(t *testing.T) {
	ts := startServer(t, Options{MaxHeaderBytes: 8 << 10})
	addr := hostOf(ts)
	for _, size := range []int{8 << 10, 64 << 10, 1 << 20} {
		// Exactly the limit, no end of headers: the server's buffer is full
		// and the request still unfinished.
		req := "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: "
		req += strings.Repeat("b", size-len(req))
		resp, body, err := rawExchange(t, addr, req, nil, 10*time.Second)
		if err != nil {
			t.Fatalf("%d bytes of headers: no answer: %v", size, err)
		}
		if resp.StatusCode != 431 || errorCode(body) != "header_too_large" {
			t.Fatalf("%d bytes of headers: %d %s, want 431 header_too_large", size, resp.StatusCode, body)
		}
	}
	// Many small headers count the same.
	var b strings.Builder
	b.WriteString("GET /health HTTP/1.1\r\nHost: x\r\n")
	for i := 0; b.Len() < 16<<10; i++ {
		fmt.Fprintf(&b, "X-H%d: v\r\n", i)
	}
	b.WriteString("\r\n")
	if resp, _, err := rawExchange(t, addr, b.String(), nil, 10*time.Second); err != nil || resp.StatusCode != 431 {
		t.Fatalf("16 KiB of small headers: %v %v", resp, err)
	}
	// Just under the limit is fine.
	req := "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: "
	req += strings.Repeat("b", 7<<10) + "\r\n\r\n"
	if resp, _, err := rawExchange(t, addr, req, nil, 10*time.Second); err != nil || resp.StatusCode != 200 {
		t.Fatalf("7 KiB of headers: %v %v", resp, err)
	}
}

// endless yields n bytes of filler, written in 64 KiB pieces.
type endless struct {
	n    int64
	sent atomic.Int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), e.n, 64<<10)]
	for i := range p {
		p[i] = '1'
	}
	e.n -= int64(len(p))
	e.sent.Add(int64(len(p)))
	return len(p), nil
}

// TestOversizedBodies: a body over its limit is refused with 413 early:
// before the client sends it (Expect: 100-continue), after at most the
// 8 KiB fasthttp reads with the headers (Content-Length), at the limit
// (chunked), and whatever its Content-Type (multipart); a client that
// announces a huge body and sends nothing is dropped after HeaderTimeout;
// and a declared-but-unsent body costs the server no memory.
func TestOversizedBodies(t *testing.T) {
	const limit = 1 << 20
	ts := startServer(t, Options{MaxBody: limit, HeaderTimeout: time.Second, ReadTimeout: time.Minute})
	addr := hostOf(ts)
	const tenGiB = "10737418240"
	hdr := func(extra string) string {
		return "POST /v1/vectors HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra + "\r\n"
	}
	check413 := func(what string, resp *http.Response, body []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: no answer: %v", what, err)
		}
		if resp.StatusCode != 413 || errorCode(body) != "payload_too_large" {
			t.Fatalf("%s: %d %s, want 413 payload_too_large", what, resp.StatusCode, body)
		}
	}

	// Expect: 100-continue: refused before any body byte is sent.
	start := time.Now()
	resp, body, err := rawExchange(t, addr, hdr("Content-Length: "+tenGiB+"\r\nExpect: 100-continue\r\n"), nil, 10*time.Second)
	check413("10 GiB with Expect: 100-continue", resp, body, err)
	t.Logf("10 GiB with Expect: 100-continue: 413 after %v, no body sent", time.Since(start))

	// Content-Length only: the server reads 8 KiB with the headers, then
	// refuses; the client need not send more.
	start = time.Now()
	resp, body, err = rawExchange(t, addr, hdr("Content-Length: "+tenGiB+"\r\n")+strings.Repeat("1", 8<<10), nil, 10*time.Second)
	check413("10 GiB Content-Length, 8 KiB sent", resp, body, err)
	t.Logf("10 GiB Content-Length: 413 after %v with 8 KiB of body sent", time.Since(start))

	// The same while the client keeps sending: the answer comes long
	// before the body ends.
	src := &endless{n: 256 << 20}
	resp, body, err = rawExchange(t, addr, hdr("Content-Length: "+tenGiB+"\r\n"), src, 20*time.Second)
	check413("10 GiB Content-Length, streaming", resp, body, err)
	t.Logf("10 GiB Content-Length, streaming: 413 when the client had written %d KiB", src.sent.Load()>>10)

	// multipart/form-data is not pre-parsed by fasthttp before the limit.
	resp, body, err = rawExchange(t, addr, "POST /v1/vectors HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=xx\r\nContent-Length: "+tenGiB+"\r\n\r\n--xx\r\n"+strings.Repeat("1", 8<<10-6), nil, 10*time.Second)
	check413("10 GiB multipart", resp, body, err)

	// Chunked: refused once the limit is passed, whatever follows.
	chunked := func(total int) io.Reader {
		piece := append(append([]byte(fmt.Sprintf("%x\r\n", 64<<10)), bytes.Repeat([]byte("1"), 64<<10)...), "\r\n"...)
		var rs []io.Reader
		for sent := 0; sent < total; sent += 64 << 10 {
			rs = append(rs, bytes.NewReader(piece))
		}
		return io.MultiReader(append(rs, strings.NewReader("0\r\n\r\n"))...)
	}
	resp, body, err = rawExchange(t, addr, hdr("Transfer-Encoding: chunked\r\n"), chunked(limit+256<<10), 20*time.Second)
	check413("chunked body past the limit", resp, body, err)
	cr := &countingReader{r: chunked(256 << 20)}
	resp, body, err = rawExchange(t, addr, hdr("Transfer-Encoding: chunked\r\n"), cr, 20*time.Second)
	check413("256 MiB chunked body", resp, body, err)
	t.Logf("256 MiB chunked body: 413 when the client had written %d KiB", cr.n.Load()>>10)
	if cr.n.Load() >= 256<<20 {
		t.Fatal("the 256 MiB chunked body was read to its end before the refusal")
	}

	// Announced, never sent: dropped after HeaderTimeout, not ReadTimeout.
	start = time.Now()
	resp, _, err = rawExchange(t, addr, hdr("Content-Length: "+tenGiB+"\r\n"), nil, 20*time.Second)
	d := time.Since(start)
	if err == nil {
		t.Logf("10 GiB announced, nothing sent: %d after %v", resp.StatusCode, d)
	} else {
		t.Logf("10 GiB announced, nothing sent: closed after %v (%v)", d, err)
	}
	if d > 10*time.Second {
		t.Fatalf("a connection announcing 10 GiB and sending nothing was held %v", d)
	}

	// Memory: 32 clients announce a body at the limit (4 MiB here), send
	// 16 KiB (past the 8 KiB fasthttp reads itself, so that readBody runs)
	// and stall. The server must not allocate the announced size up front.
	const clients, memLimit = 32, 4 << 20
	mts := startServer(t, Options{MaxBody: memLimit})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc
	var conns []net.Conn
	for range clients {
		c, err := net.Dial("tcp", hostOf(mts))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /v1/vectors HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", memLimit, strings.Repeat("1", 16<<10))
	}
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grown := int64(ms.HeapAlloc) - int64(heapBefore)
	for _, c := range conns {
		c.Close()
	}
	t.Logf("%d stalled %d-byte bodies: heap grew %d KiB", clients, memLimit, grown>>10)
	if grown > clients*memLimit/4 {
		t.Fatalf("%d stalled bodies announcing %d bytes grew the heap by %d bytes", clients, memLimit, grown)
	}
	ts.expect(200, "", "GET", "/health", "")
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestPathTricks: with keys configured, no spelling of a path reaches an
// authenticated route without a key; fasthttp normalizes the path (it
// decodes %2F, drops "." and resolves "..", merges "//") before routing,
// and every route authenticates, so the tricks end in 401 or 404, never in
// data or a redirect.
func TestPathTricks(t *testing.T) {
	ts := startServer(t, Options{APIKeys: []string{"rw-secret-key"}})
	RW := "Authorization: Bearer rw-secret-key"
	ts.expect(201, "", "POST", "/v1/vectors", `{"id":1,"vector":[0.125,0.25],"metadata":{"secret":"s3cr3t"}}`, RW)
	ts.expect(200, "", "POST", "/collection/sec?dim=2&max_size=10", "", RW)
	ts.expect(200, "", "POST", "/collection/sec/insert?id=1", `{"vector":[0.125,0.25]}`, RW)
	ts.expect(200, "", "POST", "/collection/sec/index", `{"hnsw":{"metric":"euclidean"}}`, RW)
	addr := hostOf(ts)
	paths := []string{
		"/v1/vectors/1", "//v1/vectors/1", "/v1//vectors/1", "///v1///vectors///1",
		"/v1/./vectors/1", "/./v1/vectors/1", "/v1/vectors/./1", "/v1/../v1/vectors/1",
		"/v1/vectors/../vectors/1", "/collection/x/../../v1/vectors/1", "/health/../v1/vectors/1",
		"/health/..%2Fv1/vectors/1", "/health%2F..%2Fv1%2Fvectors%2F1", "/v1%2Fvectors%2F1",
		"/v1/vectors%2F1", "/%2Fv1/vectors/1", "/%76%31/vectors/1", "/health/%2e%2e/v1/vectors/1",
		"/V1/vectors/1", "/v1/VECTORS/1", "/v1/vectors/1/", "/v1/vectors/1/payload", "/v1/vectors/1/payload/",
		"/v1/vectors/1;x", "/v1/vectors/1%00", "/v1/vectors/1%20", "/v1/vectors/1?x=/health",
		"/v1/vectors/1#/health", "\\v1\\vectors\\1", "/health/../../../v1/vectors/1",
		"http://127.0.0.1/v1/vectors/1", "http://127.0.0.1//v1/vectors/1",
		"/collection/sec/vector/1", "//collection/sec/vector/1", "/collection//sec/vector/1",
		"/collection/sec/../sec/vector/1", "/health/../collection/sec/vector/1", "/collections",
		"/collections/", "//collections", "/metrics", "//metrics", "/health/../metrics", "/v1/stats",
		"/v1//stats", "/ready", "//ready", "/matrix/list", "/pq/list", "/health/..",
		"/health?/v1/vectors/1", "/health/", "/HEALTH", "/health/./", "*", "",
	}
	statuses := map[int]int{}
	check := func(method, path, body string) {
		t.Helper()
		req := method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		if body != "" {
			req += fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
		}
		req += "\r\n" + body
		resp, b, err := rawExchange(t, addr, req, nil, 10*time.Second)
		if err != nil {
			t.Fatalf("%s %q: %v", method, path, err)
		}
		statuses[resp.StatusCode]++
		if bytes.Contains(b, []byte("s3cr3t")) || bytes.Contains(b, []byte("0.125")) || bytes.Contains(b, []byte(`"sec"`)) {
			t.Fatalf("%s %q without a key leaked data: %d %s", method, path, resp.StatusCode, b)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 || resp.Header.Get("Location") != "" {
			t.Fatalf("%s %q: redirect %d to %q", method, path, resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			// Only /health is public, and it holds no data.
			if string(b) != `{"status":"ok"}` && !(method == "HEAD" && len(b) == 0) {
				t.Fatalf("%s %q without a key: %d %s", method, path, resp.StatusCode, b)
			}
			return
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %q: %d %s", method, path, resp.StatusCode, b)
		}
	}
	for _, p := range paths {
		for _, m := range []string{"GET", "HEAD", "DELETE", "OPTIONS"} {
			check(m, p, "")
		}
		check("POST", p, `{"vector":[0.125,0.25]}`)
		check("PUT", p, `{"vector":[9,9]}`)
	}
	for _, p := range []string{"/v1/search", "//v1/search", "/v1/./search", "/x/../v1/search", "/v1%2Fsearch",
		"/collection/sec/search", "//collection/sec/search", "/collection/sec/./search", "/collection/sec%2Fsearch",
		"/collection//sec/search", "/collection/x/../sec/search"} {
		check("POST", p, `{"vector":[0.125,0.25],"k":1}`)
	}
	t.Logf("%d tricky requests without a key: statuses %v", len(paths)*6+11, statuses)
	// Nothing was changed by them.
	got := ts.expect(200, "", "GET", "/v1/vectors/1", "", RW)
	if !bytes.Contains(got.body, []byte("0.125")) {
		t.Fatalf("vector 1 changed: %s", got.body)
	}
	ts.expect(200, "", "GET", "/collection/sec/vector/1", "", RW)
}

// TestReadOnlyKeyEveryRoute enumerates every route the router has and
// every gRPC method, and calls each with a read-only key: writes are
// refused with 403 (PermissionDenied), reads work, and the database is
// unchanged. A route added later is covered without touching this test; a
// new read-only route that takes a POST must be added to readPOSTs.
func TestReadOnlyKeyEveryRoute(t *testing.T) {
	ts := startServer(t, Options{APIKeys: []string{"rw"}, ReadOnlyKeys: []string{"ro"}})
	RW, RO := "Authorization: Bearer rw", "Authorization: Bearer ro"
	ts.expect(201, "", "POST", "/v1/vectors", `{"id":1,"vector":[1,2,3,4],"metadata":{"a":1}}`, RW)
	ts.expect(201, "", "POST", "/v1/vectors", `{"id":2,"vector":[2,2,3,4]}`, RW)
	ts.expect(200, "", "POST", "/collection/c?dim=4&max_size=100", "", RW)
	ts.expect(200, "", "POST", "/collection/c/insert?id=1", `{"vector":[1,2,3,4]}`, RW)
	ts.expect(200, "", "POST", "/collection/c/insert?id=2", `{"vector":[4,3,2,1]}`, RW)
	ts.expect(200, "", "POST", "/collection/c/index", `{"hnsw":{"metric":"euclidean","m":4,"m0":8,"ef_construction":8}}`, RW)
	ts.expect(200, "", "POST", "/collection/plain?dim=4&max_size=100", "", RW)
	cc := dialGRPC(t, ts)
	rwCtx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer rw")
	roCtx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer ro")
	if err := uploadMatrix(rwCtx, cc, hdrMsg("m", 2, 1, 4), dataMsg(1, 1, 2, 3, 4, 5, 6, 7, 8)); err != nil {
		t.Fatalf("upload matrix: %v", err)
	}
	ts.expect(200, "", "POST", "/pq/p", `{"dim":4,"codebooks":["m","m"]}`, RW)

	snapshot := func() string {
		var b strings.Builder
		for _, p := range []string{"/collections", "/collection/c", "/collection/plain", "/matrix/list", "/matrix/m",
			"/pq/list", "/pq/p", "/v1/vectors/1", "/v1/vectors/1/payload", "/v1/vectors/2", "/collection/c/vector/1",
			"/collection/c/vector/2"} {
			r := ts.do("GET", p, "", RW)
			fmt.Fprintf(&b, "%s %d %s\n", p, r.status, r.body)
		}
		r := ts.do("GET", "/v1/stats", "", RW)
		var st map[string]any
		_ = json.Unmarshal(r.body, &st)
		fmt.Fprintf(&b, "stats %v %v %v\n", st["vectors"], st["tombstones"], st["total_inserts_ever"])
		return b.String()
	}
	before := snapshot()

	// readPOSTs are the routes that take a POST but only read.
	readPOSTs := map[string]bool{"/v1/search": true, "/collection/{name}/search": true}
	bodies := map[string]string{
		"POST /v1/vectors":                 `{"id":9,"vector":[9,9,9,9],"metadata":{"x":1}}`,
		"POST /v1/vectors/batch":           `{"items":[{"id":9,"vector":[9,9,9,9]}]}`,
		"PUT /v1/vectors/{id}":             `{"vector":[9,9,9,9]}`,
		"PUT /v1/vectors/{id}/payload":     `{"x":1}`,
		"PATCH /v1/vectors/{id}/payload":   `{"x":1}`,
		"POST /v1/search":                  `{"vector":[1,2,3,4],"k":1}`,
		"POST /collection/{name}":          "",
		"POST /collection/{name}/insert":   `{"vector":[9,9,9,9]}`,
		"POST /collection/{name}/update":   `{"insert":[{"id":9,"vector":[9,9,9,9]}],"delete":[1]}`,
		"POST /collection/{name}/index":    `{"hnsw":{"metric":"euclidean","m":4,"m0":8,"ef_construction":8}}`,
		"POST /collection/{name}/search":   `{"vector":[1,2,3,4]}`,
		"POST /pq/{name}":                  `{"dim":4,"codebooks":["m","m"]}`,
		"POST /pq/{name}/train":            `{"collection":"c","m":2,"bits":8,"centroids":2}`,
		"POST /collection/{name}/mute":     "",
		"POST /collection/{name}/unmute":   "",
		"DELETE /collection/{name}/index":  "",
		"DELETE /collection/{name}/delete": "",
		"DELETE /v1/vectors/{id}":          "",
		"DELETE /collection/{name}":        "",
		"DELETE /matrix/{name}":            "",
		"DELETE /pq/{name}":                "",
		"POST /v1/build/bulk":              string(make([]byte, 4*4)),
	}
	fill := func(method, route string) (path, body string, headers []string) {
		name := "c"
		switch {
		case strings.HasPrefix(route, "/matrix/"):
			name = "m"
		case strings.HasPrefix(route, "/pq/"):
			name = "p"
		case route == "/collection/{name}" && method == "POST":
			name = "fresh" // a create would succeed with a new name
		case route == "/collection/{name}/index" && method == "POST":
			name = "plain" // has no index yet
		}
		path = strings.NewReplacer("{name}", name, "{id}", "1").Replace(route)
		if strings.HasPrefix(route, "/collection/") {
			path += "?id=1&dim=4&max_size=10"
		}
		if route == v1BulkPath {
			headers = []string{"X-LSMVec-N: 1", "X-LSMVec-Dim: 4"}
		}
		return path, bodies[method+" "+route], headers
	}
	routes := ts.s.router.List()
	methods := make([]string, 0, len(routes))
	for m := range routes {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	var writes, reads int
	for _, m := range methods {
		for _, route := range routes[m] {
			path, body, headers := fill(m, route)
			r := ts.do(m, path, body, append(headers, RO)...)
			if m == "GET" || m == "HEAD" || m == "POST" && readPOSTs[route] {
				reads++
				if r.status == 401 || r.status == 403 || r.status >= 500 {
					t.Errorf("read %s %s with a read-only key: %d %s", m, path, r.status, r.body)
				}
				continue
			}
			writes++
			if r.status != 403 || errorCode(r.body) != "forbidden" {
				t.Errorf("write %s %s with a read-only key: %d %s, want 403 forbidden", m, path, r.status, r.body)
			}
		}
	}
	if writes < 20 || reads < 10 {
		t.Fatalf("only %d write and %d read routes enumerated", writes, reads)
	}

	// gRPC: every method not listed as a read refuses the key before its
	// handler runs.
	var rpcs int
	for svc, info := range ts.s.grpcSrv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			if grpcReadMethods[full] {
				continue
			}
			rpcs++
			st, err := cc.NewStream(roCtx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, full)
			if err != nil {
				t.Fatalf("%s: %v", full, err)
			}
			_ = st.SendMsg(&emptypb.Empty{})
			_ = st.CloseSend()
			err = st.RecvMsg(&emptypb.Empty{})
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("gRPC %s with a read-only key: %v, want PermissionDenied", full, err)
			}
		}
	}
	if rpcs == 0 {
		t.Fatal("no gRPC write methods enumerated")
	}
	if err := uploadMatrix(roCtx, cc, hdrMsg("m2", 2, 1, 4), dataMsg(1, 1, 2)); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("UploadMatrix with a read-only key: %v", err)
	}
	if after := snapshot(); after != before {
		t.Fatalf("the read-only key changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	t.Logf("read-only key: %d write routes refused with 403, %d read routes served, %d gRPC write methods refused", writes, reads, rpcs)

	// The snapshot does see writes: the same calls with the read-write key
	// change it.
	for _, m := range methods {
		for _, route := range routes[m] {
			if m == "POST" || m == "PUT" || m == "PATCH" {
				path, body, headers := fill(m, route)
				ts.do(m, path, body, append(headers, RW)...)
			}
		}
	}
	if snapshot() == before {
		t.Fatal("the snapshot did not change under read-write writes: it cannot detect a leak")
	}
}

// TestKeyCompareConstantTime: a presented key is hashed to a fixed-length
// digest and compared with every configured digest by
// subtle.ConstantTimeCompare, with no early exit, whatever the key shares
// with a realKey one; and a coarse timing check finds right-prefix and
// wrong-prefix keys indistinguishable.
func TestKeyCompareConstantTime(t *testing.T) {
	realKey := "k3y-" + strings.Repeat("s", 40)
	a := newAuthenticator([]string{"other-rw-key", realKey}, []string{"read-only-key"})
	// The operands are [32]byte digests by type; count the comparisons.
	calls := 0
	a.compare = func(x, y [sha256.Size]byte) int {
		calls++
		return compareDigests(x, y)
	}
	presented := []string{
		realKey,                         // right key (the second of three)
		realKey[:len(realKey)-1] + "x",  // right prefix, last byte wrong
		"x" + realKey[1:],               // first byte wrong
		realKey[:10],                    // a prefix
		realKey + "x",                   // longer
		"",                              // empty
		strings.Repeat("z", 1<<16),      // long
		"other-rw-key", "read-only-key", // the other keys
	}
	for _, k := range presented {
		calls = 0
		_, _ = a.check([]byte("Bearer "+k), accessRead)
		if calls != 3 {
			t.Errorf("key %.20q: %d digest comparisons, want 3 (one per configured key, no early exit)", k, calls)
		}
	}

	// Coarse timing: interleaved batches of a right-prefix key and a
	// wrong-prefix key of the same length; the medians must agree within a
	// factor of 2 (a leak worth exploiting over a network is far larger
	// than what a loaded machine's noise can hide in a median, and the
	// bound is loose enough never to flake).
	b := newAuthenticator([]string{realKey}, nil)
	right := []byte("Bearer " + realKey[:len(realKey)-1] + "x")
	wrong := []byte("Bearer " + strings.Repeat("x", len(realKey)))
	const rounds, batch = 101, 200
	var tr, tw []time.Duration
	for i := range rounds {
		for j := range 2 {
			h := right
			if (i+j)%2 == 1 {
				h = wrong
			}
			start := time.Now()
			for range batch {
				_, _ = b.check(h, accessRead)
			}
			if bytes.Equal(h, right) {
				tr = append(tr, time.Since(start))
			} else {
				tw = append(tw, time.Since(start))
			}
		}
	}
	slices.Sort(tr)
	slices.Sort(tw)
	mr, mw := tr[len(tr)/2], tw[len(tw)/2]
	ratio := float64(mr) / float64(mw)
	t.Logf("check() median per call: right prefix %v, wrong prefix %v (ratio %.3f)", mr/batch, mw/batch, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("right-prefix and wrong-prefix keys take measurably different times: ratio %.3f", ratio)
	}
}

// TestParseErrorsDoNotEchoRequest: the 400 for a request fasthttp cannot
// parse describes the fault without quoting the request, whose headers
// hold the caller's API key.
func TestParseErrorsDoNotEchoRequest(t *testing.T) {
	ts := startServer(t, Options{APIKeys: []string{"k"}})
	const key = "Authorization: Bearer SECRETKEY\r\n"
	for _, req := range []string{
		"GET \\v1 HTTP/1.1\r\nHost: x\r\n" + key + "\r\n",
		"GET /v1/stats HTTP/1.1\r\nHost: x\r\n" + key + "Bad Header\r\n\r\n",
		"GET /v1/stats HTTP/1.1\r\nHost: x\r\n" + key + "Content-Length: zz\r\n\r\n",
		"POST /v1/vectors HTTP/1.1\r\nHost: x\r\n" + key + "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		resp, body, err := rawExchange(t, hostOf(ts), req, nil, 10*time.Second)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		if resp.StatusCode != 400 || bytes.Contains(body, []byte("SECRETKEY")) {
			t.Fatalf("%q: %d %s", req, resp.StatusCode, body)
		}
	}
}

// TestBulkDeadlineAfterAuth: the bulk build's long read deadline is granted
// only once the caller is authenticated. An anonymous client announcing a
// gigabyte bulk body and sending nothing is dropped after ReadTimeout; an
// authenticated upload may pause longer than ReadTimeout mid-body.
func TestBulkDeadlineAfterAuth(t *testing.T) {
	const readTimeout = time.Second
	ts := startServer(t, Options{APIKeys: []string{"rw"}, HeaderTimeout: readTimeout, ReadTimeout: readTimeout})
	addr := hostOf(ts)
	start := time.Now()
	_, _, err := rawExchange(t, addr, "POST /v1/build/bulk HTTP/1.1\r\nHost: x\r\nX-LSMVec-N: 1000000\r\nX-LSMVec-Dim: 256\r\nContent-Length: 1024000000\r\n\r\n", nil, 30*time.Second)
	d := time.Since(start)
	t.Logf("anonymous 1 GB bulk body, nothing sent: closed after %v (%v)", d, err)
	if d > readTimeout+5*time.Second {
		t.Fatalf("an anonymous bulk upload that sends nothing was held %v", d)
	}

	const n, dim = 1100, 2 // 8800 bytes: more than fasthttp reads with the headers
	body := make([]byte, 0, n*dim*4)
	for i := range n * dim {
		body = appendF32LE(body, float32(i))
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/build/bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer rw\r\nX-LSMVec-N: %d\r\nX-LSMVec-Dim: %d\r\nContent-Length: %d\r\n\r\n", n, dim, len(body))
	_, _ = c.Write(body[:8<<10+100])
	time.Sleep(readTimeout + readTimeout/2)
	_, _ = c.Write(body[8<<10+100:])
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("authenticated bulk upload with a pause: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("authenticated bulk upload with a %v pause: %d %s", readTimeout+readTimeout/2, resp.StatusCode, b)
	}
}

// TestTimeoutErrorIs408: a body read that hits its deadline inside a
// handler (the bulk build streams its body) is the client's 408, not a 500,
// and its message does not carry the connection's addresses.
func TestTimeoutErrorIs408(t *testing.T) {
	err := fmt.Errorf("cannot bulk load %q: %w", "default", &net.OpError{Op: "read", Net: "tcp",
		Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8080}, Err: os.ErrDeadlineExceeded})
	k, code, msg, _, known := describe(err)
	if !known || k.status != 408 || code != "timeout" || strings.Contains(msg, "10.1.2.3") {
		t.Fatalf("timeout: %d %s %q", k.status, code, msg)
	}
	if got := status.Code(grpcError(err)); got != codes.DeadlineExceeded {
		t.Fatalf("timeout over gRPC: %v", got)
	}
}
