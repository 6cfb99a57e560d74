package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/lsmvec/lsmvec/server/grpcapi"
)

func TestAuth(t *testing.T) {
	var logs syncBuffer
	ts := startServer(t, Options{APIKeys: []string{"rw1", "rw2"}, ReadOnlyKeys: []string{"ro1"}, LogOutput: &logs})
	if strings.Contains(logs.String(), "NO API KEYS") {
		t.Fatal("warned about missing keys although keys are configured")
	}
	RW, RO := "Authorization: Bearer rw2", "Authorization: Bearer ro1"
	ts.expect(200, "", "GET", "/health", "")
	ts.expect(401, "unauthorized", "GET", "/collections", "")
	ts.expect(401, "unauthorized", "GET", "/collections", "", "Authorization: Bearer nope")
	ts.expect(401, "unauthorized", "GET", "/collections", "", "Authorization: rw1")
	ts.expect(401, "unauthorized", "GET", "/metrics", "")
	ts.expect(401, "unauthorized", "POST", "/collection/a/search", `{"vector":[1]}`)
	ts.expect(200, "", "GET", "/collections", "", RO)
	ts.expect(200, "", "GET", "/metrics", "", RO)
	ts.expect(403, "forbidden", "POST", "/collection/a?dim=2&max_size=5", "", RO)
	ts.expect(200, "", "POST", "/collection/a?dim=2&max_size=5", "", RW)
	ts.expect(200, "", "POST", "/collection/a/insert?id=1", `{"vector":[1,2]}`, "Authorization: Bearer rw1")
	ts.expect(403, "forbidden", "POST", "/collection/a/insert?id=1", `{"vector":[1,2]}`, RO)
	ts.expect(403, "forbidden", "DELETE", "/collection/a", "", RO)
	ts.expect(200, "", "GET", "/collection/a/vector/1", "", RO)
	ts.expect(200, "", "POST", "/collection/a/index", `{"hnsw":{"metric":"euclidean"}}`, RW)
	ts.expect(200, "", "POST", "/collection/a/search", `{"vector":[1,2]}`, RO) // search is a read

	// gRPC: the same keys from the "authorization" metadata.
	cc := dialGRPC(t, ts)
	upload := func(md ...string) error {
		ctx := metadata.AppendToOutgoingContext(context.Background(), md...)
		return uploadMatrix(ctx, cc, hdrMsg("m", 2, 1, 1), dataMsg(1, 1, 2))
	}
	if err := upload(); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("gRPC without key: %v", err)
	}
	if err := upload("authorization", "Bearer bad"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("gRPC with a bad key: %v", err)
	}
	if err := upload("authorization", "Bearer ro1"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("gRPC with a read-only key: %v", err)
	}
	if err := upload("authorization", "Bearer rw1"); err != nil {
		t.Fatalf("gRPC with a read-write key: %v", err)
	}
}

func TestOpenWarning(t *testing.T) {
	var logs syncBuffer
	ts := startServer(t, Options{LogOutput: &logs})
	if !strings.Contains(logs.String(), "NO API KEYS CONFIGURED") {
		t.Fatalf("no warning about an open server in %q", logs.String())
	}
	ts.expect(200, "", "GET", "/collections", "")
	// One access-log line per request.
	ts.expect(200, "", "GET", "/health", "")
	if n := strings.Count(logs.String(), "route=health"); n != 1 {
		t.Fatalf("%d access-log lines for one /health request:\n%s", n, logs.String())
	}
}

func TestRateLimitHTTP(t *testing.T) {
	ts := startServer(t, Options{APIKeys: []string{"a", "b"}, RateLimit: 0.01, RateBurst: 2})
	A, B := "Authorization: Bearer a", "Authorization: Bearer b"
	ts.expect(200, "", "GET", "/collections", "", A)
	ts.expect(200, "", "GET", "/collections", "", A)
	r := ts.expect(429, "rate_limited", "GET", "/collections", "", A)
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 100 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	ts.expect(200, "", "GET", "/collections", "", B) // another key has its own bucket
	ts.expect(200, "", "GET", "/health", "")         // health is never limited
	// Unauthenticated requests are refused before they cost a token.
	ts.expect(401, "", "GET", "/collections", "")

	// Anonymous callers (no keys): per client IP.
	open := startServer(t, Options{RateLimit: 0.01, RateBurst: 1})
	open.expect(200, "", "GET", "/collections", "")
	open.expect(429, "rate_limited", "GET", "/collections", "")
}

func TestBodyLimit(t *testing.T) {
	ts := startServer(t, Options{MaxBody: 1024})
	ts.expect(200, "", "POST", "/collection/a?dim=2&max_size=5", "")
	big := `{"vector":[` + strings.Repeat("1,", 600) + `1]}`
	ts.expect(413, "payload_too_large", "POST", "/collection/a/insert?id=1", big)
	ts.expect(200, "", "POST", "/collection/a/insert?id=1", `{"vector":[1,2]}`) // the server is fine after
}

func TestPanicRecovery(t *testing.T) {
	ts := startServer(t, Options{})
	ts.s.handle("GET", "/test/panic", "test_panic", accessPublic, func(*fasthttp.RequestCtx) { panic("boom") })
	ts.expect(500, "internal", "GET", "/test/panic", "")
	ts.expect(200, "", "GET", "/health", "")
}

func dialGRPC(t testing.TB, ts *testServer) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(ts.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// uploadMatrix sends msgs on one UploadMatrix stream and returns the
// stream's final error.
func uploadMatrix(ctx context.Context, cc *grpc.ClientConn, msgs ...*grpcapi.UploadMatrixRequest) error {
	_, err := uploadMatrixResp(ctx, cc, msgs...)
	return err
}

func uploadMatrixResp(ctx context.Context, cc *grpc.ClientConn, msgs ...*grpcapi.UploadMatrixRequest) (*grpcapi.UploadMatrixResponse, error) {
	st, err := grpcapi.NewMatrixServiceClient(cc).UploadMatrix(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := st.Send(m); err != nil {
			break // the server ended the stream; CloseAndRecv has its status
		}
	}
	return st.CloseAndRecv()
}

// TestShutdownFinishesInFlight starts a slow request, shuts down while it
// runs, and checks that it still completes with 200 and that the server
// accepts nothing afterwards.
func TestShutdownFinishesInFlight(t *testing.T) {
	db := openTestStore(t)
	defer db.Close()
	s, err := New(db, Options{LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	s.handle("GET", "/test/slow", "test_slow", accessPublic, func(ctx *fasthttp.RequestCtx) {
		close(entered)
		time.Sleep(300 * time.Millisecond)
		ctx.SetBodyString("done")
	})
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	gl, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- s.Serve(hl, gl) }()
	base := "http://" + hl.Addr().String()

	type result struct {
		status int
		body   string
		err    error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/test/slow")
		if err != nil {
			slow <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-entered
	start := time.Now()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("Shutdown returned after %v, before the in-flight request finished", d)
	}
	r := <-slow
	if r.err != nil || r.status != 200 || r.body != "done" {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if _, err := (&http.Client{Timeout: time.Second}).Get(base + "/health"); err == nil {
		t.Fatal("the server still accepts requests after Shutdown")
	}
}
