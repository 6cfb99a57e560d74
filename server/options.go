package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"
)

// Options configures a Server. The zero value is usable after EnsureDefaults;
// cmd/lsmvec fills it from flags and their LSMVEC_* environment twins.
//
// An Options value is read by New and never retained by reference: later
// changes to the caller's copy have no effect on a running Server.
type Options struct {
	// HTTPAddr is the listen address of the HTTP server (both API families).
	// The default is ":8080".
	HTTPAddr string
	// GRPCAddr is the listen address of the gRPC server. The default is
	// ":50051".
	GRPCAddr string
	// DataDir is the store's data directory. The server does not open it
	// itself (the caller opens the store); it is kept for logging. The
	// default is "./data".
	DataDir string

	// APIKeys are the read-write API keys. When both APIKeys and ReadOnlyKeys
	// are empty, every route is open and New logs a warning.
	APIKeys []string
	// ReadOnlyKeys may search and read, never write (403).
	ReadOnlyKeys []string

	// RateLimit is the per-key request rate in requests per second. Zero
	// disables rate limiting. Requests without a key are limited per client
	// IP address.
	RateLimit float64
	// RateBurst is the token-bucket size. The default is max(1, ceil(RateLimit)).
	RateBurst int

	// MaxBody is the largest request body accepted, in bytes; a larger
	// Content-Length is refused with 413 before the body is read. The default
	// is 64 MiB.
	MaxBody int64
	// MaxBulkBytes is the body limit of the bulk-build route and the largest
	// matrix a gRPC upload may hold. The default is 8 GiB.
	MaxBulkBytes int64

	// Collection is the collection the /v1 API works on. The default is
	// "default".
	Collection string
	// Dim is the /v1 collection's dimension; zero means "from the first
	// vector written".
	Dim int
	// Metric is the /v1 collection's metric: "l2", "cosine" or "ip". The
	// default is "l2".
	Metric string
	// M, M0, EfConstruction and EfSearch are the /v1 graph parameters. The
	// defaults are 16, 32, 200 and 64.
	M, M0, EfConstruction, EfSearch int

	// HTTPThreads sets GOMAXPROCS when > 0 (applied by cmd/lsmvec).
	HTTPThreads int

	// LogLevel is "debug", "info", "warn" or "error". The default is "info";
	// each request is logged at info.
	LogLevel string
	// LogFormat is "text" or "json". The default is "text".
	LogFormat string
	// LogOutput receives the log when Logger is nil. The default is os.Stderr.
	LogOutput io.Writer
	// Logger, when set, is used as is and LogLevel, LogFormat and LogOutput
	// are ignored.
	Logger *slog.Logger

	// HeaderTimeout bounds the read of a request's line and headers, from
	// its first byte (or from the connection's accept), so that a client
	// sending its headers slowly (slowloris) or not at all holds a
	// connection this long at most. A request whose Content-Length is over
	// its route's body limit gets no longer for the bytes read before it is
	// refused. The default is 10 seconds.
	HeaderTimeout time.Duration
	// ReadTimeout bounds the read of a whole request, body included, from
	// the end of its headers; the bulk build, once authenticated, gets at
	// least 24 hours. WriteTimeout bounds the response's write. The
	// defaults are 5 minutes each (large bodies are slow).
	ReadTimeout, WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. The default
	// is 2 minutes.
	IdleTimeout time.Duration
	// MaxHeaderBytes is the largest request line plus headers; a larger
	// one is refused with 431. It is also each connection's read buffer.
	// The default is 8 KiB.
	MaxHeaderBytes int
	// MaxConns is the most connections served at once; more are answered
	// 503 and closed. The default is 16384.
	MaxConns int
	// MaxConnsPerIP is the most connections served at once per client IP
	// address (429 past it); zero means unlimited, the default, since the
	// clients behind a proxy or a NAT share one address.
	MaxConnsPerIP int
	// MinFreeBytes is the free disk space under DataDir that writes keep
	// (store.Options.MinFreeBytes; cmd/lsmvec passes it to store.Open):
	// a write that would leave less is refused with 507. Zero means the
	// store's default (4 memtables, 256 MiB); negative turns the check off.
	MinFreeBytes int64
	// ShutdownTimeout bounds how long Shutdown waits for in-flight requests
	// before it closes connections. The default is 30 seconds.
	ShutdownTimeout time.Duration
}

// Default values of Options fields, applied by EnsureDefaults.
const (
	DefaultHTTPAddr       = ":8080"
	DefaultGRPCAddr       = ":50051"
	DefaultDataDir        = "./data"
	DefaultMaxBody        = 64 << 20
	DefaultMaxBulkBytes   = 8 << 30
	DefaultCollection     = "default"
	DefaultMetric         = "l2"
	DefaultM              = 16
	DefaultM0             = 32
	DefaultEfConstr       = 200
	DefaultEfSearch       = 64
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultMaxHeaderBytes = 8 << 10
	DefaultMaxConns       = 16384
)

// EnsureDefaults fills every zero field with its default and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.HTTPAddr == "" {
		o.HTTPAddr = DefaultHTTPAddr
	}
	if o.GRPCAddr == "" {
		o.GRPCAddr = DefaultGRPCAddr
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.RateBurst == 0 && o.RateLimit > 0 {
		o.RateBurst = int(math.Max(1, math.Ceil(o.RateLimit)))
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxBulkBytes == 0 {
		o.MaxBulkBytes = DefaultMaxBulkBytes
	}
	if o.Collection == "" {
		o.Collection = DefaultCollection
	}
	if o.Metric == "" {
		o.Metric = DefaultMetric
	}
	if o.M == 0 {
		o.M = DefaultM
	}
	if o.M0 == 0 {
		o.M0 = DefaultM0
	}
	if o.EfConstruction == 0 {
		o.EfConstruction = DefaultEfConstr
	}
	if o.EfSearch == 0 {
		o.EfSearch = DefaultEfSearch
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.LogFormat == "" {
		o.LogFormat = "text"
	}
	if o.LogOutput == nil {
		o.LogOutput = os.Stderr
	}
	if o.HeaderTimeout == 0 {
		o.HeaderTimeout = DefaultHeaderTimeout
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 5 * time.Minute
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 5 * time.Minute
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	return o
}

// ErrInvalidOptions is wrapped by every error Validate returns.
var ErrInvalidOptions = errors.New("server: invalid options")

// Validate reports the first field that is out of range. Call it after
// EnsureDefaults.
func (o *Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("cannot validate options: %w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	switch {
	case o.RateLimit < 0 || math.IsNaN(o.RateLimit) || math.IsInf(o.RateLimit, 0):
		return bad("rate limit %v must be a finite number >= 0", o.RateLimit)
	case o.RateBurst < 0:
		return bad("rate burst %d must be >= 0", o.RateBurst)
	case o.MaxBody <= 0:
		return bad("max body %d must be > 0", o.MaxBody)
	case o.MaxBulkBytes <= 0:
		return bad("max bulk bytes %d must be > 0", o.MaxBulkBytes)
	case o.MaxBody > math.MaxInt || o.MaxBulkBytes > math.MaxInt:
		return bad("body limits must fit in an int")
	case !validName(o.Collection):
		return bad("collection name %q must match [A-Za-z0-9_-]{1,128}", o.Collection)
	case o.Dim < 0:
		return bad("dim %d must be >= 0", o.Dim)
	case o.Metric != "l2" && o.Metric != "cosine" && o.Metric != "ip":
		return bad("metric %q must be l2, cosine or ip", o.Metric)
	case o.M < 2 || o.M > 128:
		return bad("m %d must be in [2, 128]", o.M)
	case o.M0 < o.M || o.M0 > 512:
		return bad("m0 %d must be in [m, 512]", o.M0)
	case o.EfConstruction < o.M:
		return bad("ef_construction %d must be >= m", o.EfConstruction)
	case o.EfSearch < 1:
		return bad("ef_search %d must be >= 1", o.EfSearch)
	case o.HTTPThreads < 0:
		return bad("http threads %d must be >= 0", o.HTTPThreads)
	case o.ReadTimeout < 0 || o.WriteTimeout < 0 || o.IdleTimeout < 0 || o.ShutdownTimeout < 0 || o.HeaderTimeout < 0:
		return bad("timeouts must be >= 0")
	case o.MaxHeaderBytes < 1024 || o.MaxHeaderBytes > 1<<20:
		return bad("max header bytes %d must be in [1 KiB, 1 MiB]", o.MaxHeaderBytes)
	case o.MaxConns < 1 || o.MaxConnsPerIP < 0:
		return bad("max conns %d must be >= 1 and max conns per IP %d >= 0", o.MaxConns, o.MaxConnsPerIP)
	}
	if _, err := parseLogLevel(o.LogLevel); err != nil {
		return bad("%v", err)
	}
	if o.LogFormat != "text" && o.LogFormat != "json" {
		return bad("log format %q must be text or json", o.LogFormat)
	}
	for _, k := range append(append([]string(nil), o.APIKeys...), o.ReadOnlyKeys...) {
		if k == "" || strings.TrimSpace(k) != k {
			return bad("API keys must be non-empty and carry no surrounding spaces")
		}
	}
	return nil
}

// NewLogger builds the logger Options describe (LogLevel, LogFormat,
// LogOutput), or returns Options.Logger when set.
func (o *Options) NewLogger() (*slog.Logger, error) {
	if o.Logger != nil {
		return o.Logger, nil
	}
	lvl, err := parseLogLevel(o.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("cannot build logger: %w", err)
	}
	out := o.LogOutput
	if out == nil {
		out = os.Stderr
	}
	ho := &slog.HandlerOptions{Level: lvl}
	if o.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(out, ho)), nil
	}
	return slog.New(slog.NewTextHandler(out, ho)), nil
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%w: log level %q must be debug, info, warn or error", ErrInvalidOptions, s)
	}
	return l, nil
}

// validName reports whether s is a valid collection, matrix or PQ name:
// [A-Za-z0-9_-]{1,128}.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
