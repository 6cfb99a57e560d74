// Command lsmvec is the lsmvec vector database server: flags and LSMVEC_*
// environment variables become server.Options, the store is opened, and the
// HTTP and gRPC servers run until SIGTERM or SIGINT, which stops accepting,
// lets in-flight requests finish, closes (flushes) the store and exits 0.
// `lsmvec -h` lists every flag with its environment twin.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/lsmvec/lsmvec/kernels"
	"github.com/lsmvec/lsmvec/server"
	"github.com/lsmvec/lsmvec/store"
)

func main() {
	os.Exit(run(os.Args[1:], environ, os.Stderr))
}

// run is main without the exit, for tests: it returns the exit code.
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "lsmvec: %v\n", err)
		return 2
	}
	opts := cfg.opts
	opts.LogOutput = stderr
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(stderr, "lsmvec: %v\n", err)
		return 2
	}
	if cfg.healthcheck {
		return healthcheck(opts.HTTPAddr, stderr)
	}
	lg, err := opts.NewLogger()
	if err != nil {
		fmt.Fprintf(stderr, "lsmvec: %v\n", err)
		return 2
	}
	opts.Logger = lg
	if opts.HTTPThreads > 0 {
		runtime.GOMAXPROCS(opts.HTTPThreads)
	}
	lg.Info("starting lsmvec", slog.String("data", opts.DataDir), slog.String("http", opts.HTTPAddr),
		slog.String("grpc", opts.GRPCAddr), slog.String("kernels", kernels.Impl()),
		slog.Int("gomaxprocs", runtime.GOMAXPROCS(0)))

	db, err := store.Open(store.Options{Dir: opts.DataDir, Logger: storeLogger{lg}, MinFreeBytes: opts.MinFreeBytes})
	if err != nil {
		lg.Error("cannot open the store", slog.String("err", err.Error()))
		return 1
	}
	srv, err := server.New(db, opts)
	if err != nil {
		lg.Error("cannot create the server", slog.String("err", err.Error()))
		closeStore(db, lg)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()

	code := 0
	select {
	case err := <-errc:
		// ListenAndServe returns only on a failure here (nobody called
		// Shutdown yet).
		lg.Error("server failed", slog.String("err", err.Error()))
		code = 1
	case <-ctx.Done():
		lg.Info("signal received: shutting down")
		stop() // a second signal kills the process the default way
		if err := srv.Shutdown(context.Background()); err != nil {
			lg.Warn("shutdown", slog.String("err", err.Error()))
		}
		if err := <-errc; err != nil {
			lg.Warn("server stopped with an error", slog.String("err", err.Error()))
		}
	}
	if !closeStore(db, lg) {
		code = 1
	}
	lg.Info("stopped", slog.Int("exit", code))
	return code
}

func closeStore(db *store.DB, lg *slog.Logger) bool {
	if err := db.Close(); err != nil {
		lg.Error("cannot close the store", slog.String("err", err.Error()))
		return false
	}
	return true
}

// healthcheck probes GET /health on the local HTTP port: the image has no
// curl, so its HEALTHCHECK runs `lsmvec -healthcheck`.
func healthcheck(httpAddr string, stderr io.Writer) int {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		fmt.Fprintf(stderr, "lsmvec: cannot parse HTTP address %q: %v\n", httpAddr, err)
		return 1
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/health")
	if err != nil {
		fmt.Fprintf(stderr, "lsmvec: health check failed: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "lsmvec: health check failed: status %d\n", resp.StatusCode)
		return 1
	}
	return 0
}

// storeLogger sends the store's log lines to slog.
type storeLogger struct{ l *slog.Logger }

func (s storeLogger) Infof(format string, args ...any) { s.l.Info(fmt.Sprintf(format, args...)) }
func (s storeLogger) Errorf(format string, args ...any) {
	s.l.Error(fmt.Sprintf(format, args...))
}
