// Package localserver runs an lsmvec server inside the calling process, for
// bench.Run's HTTP mode when no server URL is given: a store in a temporary
// folder, HTTP (both API families) on a loopback port chosen by the kernel,
// no gRPC. Client and server then share the process and its cores, as they
// would share a machine.
//
// It is a package of its own so that package bench does not depend on the
// server and the store: cmd/lsmvec-bench wires Start into
// bench.Config.LocalServer.
package localserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/bench"
	"github.com/lsmvec/lsmvec/server"
	"github.com/lsmvec/lsmvec/store"
)

// Server is a running in-process server. Its methods are safe for
// concurrent use; Close must be called once.
type Server struct {
	dir  string
	db   *store.DB
	srv  *server.Server
	url  string
	done chan error
}

var _ bench.Server = (*Server)(nil)

// quietLogger drops the store's info lines and keeps its errors.
type quietLogger struct{ w io.Writer }

func (quietLogger) Infof(string, ...any) {}
func (q quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(q.w, "store: ERROR "+format+"\n", args...)
}

// Start opens a store in a new temporary folder (removed by Close), with
// buildThreads index-build goroutines, and serves it on 127.0.0.1.
func Start(buildThreads int) (bench.Server, error) {
	dir, err := os.MkdirTemp("", "lsmvec-bench-*")
	if err != nil {
		return nil, fmt.Errorf("cannot start the in-process server: %w", err)
	}
	l := &Server{dir: dir, done: make(chan error, 1)}
	fail := func(err error) (bench.Server, error) {
		if l.db != nil {
			l.db.Close()
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("cannot start the in-process server: %w", err)
	}
	l.db, err = store.Open(store.Options{Dir: dir, BuildThreads: buildThreads, Logger: quietLogger{os.Stderr}})
	if err != nil {
		return fail(err)
	}
	l.srv, err = server.New(l.db, server.Options{DataDir: dir, LogLevel: "error", LogOutput: io.Discard})
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	l.url = "http://" + ln.Addr().String()
	go func() { l.done <- l.srv.Serve(ln, nil) }()
	// Wait until it answers, so that Serve has begun before any Close.
	for deadline := time.Now().Add(10 * time.Second); ; {
		st, _, err := fasthttp.GetTimeout(nil, l.url+"/health", time.Second)
		if err == nil && st == fasthttp.StatusOK {
			return l, nil
		}
		select {
		case serr := <-l.done:
			ln.Close()
			return fail(fmt.Errorf("cannot serve: %w", serr))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			l.srv.Shutdown(context.Background())
			<-l.done
			return fail(fmt.Errorf("no answer from %s/health: %v (status %d)", l.url, err, st))
		}
	}
}

// URL returns the server's base URL, http://127.0.0.1:PORT.
func (l *Server) URL() string { return l.url }

// MemoryBytes returns the index memory of a collection as the store counts
// it.
func (l *Server) MemoryBytes(collection string) (int64, error) {
	c, err := l.db.Collection(collection)
	if err != nil {
		return 0, fmt.Errorf("cannot get memory of %q: %w", collection, err)
	}
	st, err := c.Stats()
	if err != nil {
		return 0, fmt.Errorf("cannot get memory of %q: %w", collection, err)
	}
	return st.MemoryBytes, nil
}

// Close stops the server, closes the store and removes its folder.
func (l *Server) Close() error {
	err := l.srv.Shutdown(context.Background())
	if serr := <-l.done; serr != nil {
		err = errors.Join(err, serr)
	}
	err = errors.Join(err, l.db.Close(), os.RemoveAll(l.dir))
	if err != nil {
		return fmt.Errorf("cannot stop the in-process server: %w", err)
	}
	return nil
}
