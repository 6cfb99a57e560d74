package httpload

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// startFastHTTP serves h on a loopback port until the test ends.
func startFastHTTP(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// echo answers the request body reversed, with the status of the query
// argument "status" (200 when absent).
// It allocates nothing once warm (TestDoAllocs counts the whole process).
func echo(ctx *fasthttp.RequestCtx) {
	ctx.SetBody(ctx.PostBody())
	b := ctx.Response.Body()
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	if s, err := ctx.QueryArgs().GetUint("status"); err == nil {
		ctx.SetStatusCode(s)
	}
}

func TestDoAndPipeline(t *testing.T) {
	addr := startFastHTTP(t, echo)
	c, err := Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// One request in flight, bodies from empty to larger than the buffer.
	for _, n := range []int{0, 1, 100, 64 << 10, 200 << 10, 3} {
		body := bytes.Repeat([]byte("ab"), n)[:n]
		for i := range body {
			body[i] = byte('a' + i%26)
		}
		req := AppendRequest(nil, "POST", addr, "/x?n="+strconv.Itoa(n), "application/json", body)
		st, got, err := c.Do(req)
		if err != nil {
			t.Fatalf("body of %d bytes: %v", n, err)
		}
		if st != 200 || len(got) != n {
			t.Fatalf("body of %d bytes: status %d, %d bytes back", n, st, len(got))
		}
		for i := range got {
			if got[i] != body[n-1-i] {
				t.Fatalf("body of %d bytes: byte %d is %q, want %q", n, i, got[i], body[n-1-i])
			}
		}
	}

	// Pipelined: 16 requests written before any response is read come back
	// in order, with their own statuses.
	var reqs [][]byte
	for i := range 16 {
		st := 200 + i%3
		reqs = append(reqs, AppendRequest(nil, "POST", addr, "/p?status="+strconv.Itoa(st), "text/plain", []byte(strconv.Itoa(1000+i))))
	}
	for _, r := range reqs {
		if err := c.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	for i := range reqs {
		st, got, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		want := []byte(strconv.Itoa(1000 + i))
		for a, b := 0, len(want)-1; a < b; a, b = a+1, b-1 {
			want[a], want[b] = want[b], want[a]
		}
		if st != 200+i%3 || !bytes.Equal(got, want) {
			t.Fatalf("pipelined response %d: status %d body %q, want %d %q", i, st, got, 200+i%3, want)
		}
	}

	// A GET without a body.
	st, got, err := c.Do(AppendRequest(nil, "GET", addr, "/g?status=404", "", nil))
	if err != nil || st != 404 || len(got) != 0 {
		t.Fatalf("GET: %d %q %v", st, got, err)
	}
}

func TestAppendRequest(t *testing.T) {
	got := string(AppendRequest([]byte("x"), "POST", "h:1", "/a?b=c", "application/json", []byte(`{}`)))
	want := "xPOST /a?b=c HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := string(AppendRequest(nil, "GET", "h", "/", "", nil)); got != "GET / HTTP/1.1\r\nHost: h\r\n\r\n" {
		t.Fatalf("GET: %q", got)
	}
}

// rawServer answers every connection's first request with resp, then
// closes it.
func rawServer(t *testing.T, resp string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				io.WriteString(c, resp)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestBadResponses(t *testing.T) {
	for _, tc := range []struct {
		name, resp string
		proto      bool // ErrProtocol, else a read error
	}{
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", true},
		{"no length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc", true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", true},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", true},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", true},
		{"bad status", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", true},
		{"bad header", "HTTP/1.1 200 OK\r\nnocolon\r\nContent-Length: 0\r\n\r\n", true},
		{"huge head", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxHead+1) + "\r\n\r\n", true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false},
		{"closed", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServer(t, tc.resp)
			c, err := Dial(addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			st, body, err := c.Do(AppendRequest(nil, "GET", addr, "/", "", nil))
			if err == nil {
				t.Fatalf("got status %d body %q, want an error", st, body)
			}
			if errors.Is(err, ErrProtocol) != tc.proto {
				t.Fatalf("error %v: ErrProtocol %v, want %v", err, errors.Is(err, ErrProtocol), tc.proto)
			}
		})
	}
}

func TestReadTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(2 * time.Second) // never answers in time
		}
	}()
	c, err := Dial(ln.Addr().String(), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _, err = c.Do(AppendRequest(nil, "GET", "x", "/", "", nil))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("timed out after %v, want about 100ms", d)
	}
}

// TestDoAllocs pins the steady state: a request and its response allocate
// nothing on the client (nor in the fasthttp server answering it, which
// runs in this process too).
func TestDoAllocs(t *testing.T) {
	addr := startFastHTTP(t, echo)
	c, err := Dial(addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := AppendRequest(nil, "POST", addr, "/", "application/json", bytes.Repeat([]byte("7,"), 1000))
	if _, _, err := c.Do(req); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(200, func() {
		if _, _, err := c.Do(req); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Do allocates %v times per call, want 0", n)
	}
}

// The benchmarks below put a figure on what one request costs the machine
// before any server code runs (docs/benchmarks.md, "Server"):
//
//	go test -run '^$' -bench . -benchtime 20000x ./bench/httpload

// BenchmarkSyscall is the cheapest system call there is (getppid): the
// kernel entry and exit every read and write pays on top of its work.
func BenchmarkSyscall(b *testing.B) {
	for b.Loop() {
		syscall.Getppid()
	}
}

// BenchmarkLoopbackRoundTrip is the transport floor of one request with
// one in flight: a goroutine writes a 3 KB request over loopback TCP, a
// server goroutine reads it and writes 100 bytes back, the first reads
// them (2 writes and 2 reads, plus the reads that find nothing yet and the
// netpoller's wake-ups), with no HTTP at all.
func BenchmarkLoopbackRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		got := 0
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			for got += n; got >= 3000; got -= 3000 {
				if _, err := c.Write(buf[:100]); err != nil {
					return
				}
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req, buf := make([]byte, 3000), make([]byte, 4096)
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < 100; {
			n, err := c.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}

// BenchmarkDo is one request and response of this client against a
// fasthttp server echoing a 2 KB body, both in this process.
func BenchmarkDo(b *testing.B) {
	srv := &fasthttp.Server{Handler: echo}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown()
	addr := ln.Addr().String()
	c, err := Dial(addr, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := AppendRequest(nil, "POST", addr, "/", "application/json", bytes.Repeat([]byte("7,"), 1000))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Do(req); err != nil {
			b.Fatal(err)
		}
	}
}
