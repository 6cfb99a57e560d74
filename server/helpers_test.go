package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/store"
)

type quietStoreLogger struct{ t testing.TB }

func (quietStoreLogger) Infof(string, ...any)                {}
func (q quietStoreLogger) Errorf(format string, args ...any) { q.t.Logf("store: "+format, args...) }

// testServer is a real Server over a real store in a temporary directory,
// listening on loopback ports chosen by the kernel.
type testServer struct {
	t        testing.TB
	s        *Server
	db       *store.DB
	base     string
	grpcAddr string
	client   *http.Client
}

func openTestStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Dir: t.TempDir(), Logger: quietStoreLogger{t}})
	if err != nil {
		t.Fatalf("cannot open store: %v", err)
	}
	return db
}

func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	return startServerOn(t, nil, opts)
}

// startServerOn starts a server over db (a fresh store in a temporary
// directory when nil); the server's cleanup closes db.
func startServerOn(t testing.TB, db *store.DB, opts Options) *testServer {
	t.Helper()
	if db == nil {
		db = openTestStore(t)
	}
	// Cleanups run last first: the server stops, then the store closes.
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("store Close: %v", err)
		}
	})
	return serveStore(t, db, opts).testServer
}

// liveServer is a Server over a given store on loopback ports, which the
// test can stop (and restart on the same store directory).
type liveServer struct {
	*testServer
	stopOnce sync.Once
	stopErr  error
	stop     func() error
}

// serveStore serves db with opts until the returned server is stopped (at
// the latest when the test ends). It does not close db.
func serveStore(t testing.TB, db *store.DB, opts Options) *liveServer {
	t.Helper()
	if opts.LogOutput == nil {
		opts.LogOutput = io.Discard
	}
	s, err := New(db, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(hl, gl) }()
	ls := &liveServer{testServer: &testServer{t: t, s: s, db: db, base: "http://" + hl.Addr().String(),
		grpcAddr: gl.Addr().String(), client: &http.Client{Timeout: 60 * time.Second}}}
	ls.stop = func() error {
		ls.stopOnce.Do(func() {
			if err := s.Shutdown(context.Background()); err != nil {
				ls.stopErr = err
			}
			if err := <-done; err != nil && ls.stopErr == nil {
				ls.stopErr = err
			}
		})
		return ls.stopErr
	}
	t.Cleanup(func() {
		if err := ls.stop(); err != nil {
			t.Errorf("stop server: %v", err)
		}
	})
	return ls
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r response) json(t testing.TB) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return v
}

// do sends a request; headers are "Name: value" strings.
func (ts *testServer) do(method, path, body string, headers ...string) response {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.base+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// expect sends a request and checks its status, and for an error status
// the JSON error shape and code (code "" = any).
func (ts *testServer) expect(status int, code, method, path, body string, headers ...string) response {
	ts.t.Helper()
	r := ts.do(method, path, body, headers...)
	if r.status != status {
		ts.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.body)
	}
	if status >= 400 {
		var e struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Error == "" || e.Code == "" {
			ts.t.Fatalf("%s %s: error body %q is not {\"error\",\"code\"}: %v", method, path, r.body, err)
		}
		if code != "" && e.Code != code {
			ts.t.Fatalf("%s %s: code %q, want %q (%s)", method, path, e.Code, code, e.Error)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			ts.t.Fatalf("%s %s: error Content-Type %q", method, path, ct)
		}
	}
	return r
}

// syncBuffer is a bytes.Buffer safe for the server's logging goroutines and
// the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
