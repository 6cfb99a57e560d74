// Package server is lsmvec's network front end: the Casper and /v1 HTTP APIs
// on one fasthttp router, and gRPC (matrix_service.MatrixService) on a second
// port. It holds no state of its own: everything stateful lives in package
// store. Auth, rate limits, body limits, request logging, metrics and panic
// recovery wrap every route; errors.go is the one place errors become HTTP
// statuses and gRPC codes.
//
// Route files: casper_*.go for the Casper family, v1_*.go for /v1; each
// family registers its routes from Server.routes.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
	"google.golang.org/grpc"

	"github.com/lsmvec/lsmvec/store"
)

// Server serves the HTTP and gRPC APIs over a store. Create it with New,
// start it with Serve (or ListenAndServe) and stop it with Shutdown; the
// caller owns the store and closes it after Shutdown returns. A Server is
// safe for concurrent use.
type Server struct {
	db      *store.DB
	opts    Options
	log     *slog.Logger
	auth    *authenticator
	limiter *rateLimiter // nil: no rate limit
	metrics *metricsSet
	router  *router.Router
	handler fasthttp.RequestHandler // the router behind the top-level dispatch
	// searchHandler is the wrapped Casper search, dispatched before the
	// router (whose path parameters allocate).
	searchHandler fasthttp.RequestHandler

	httpSrv *fasthttp.Server
	grpcSrv *grpc.Server

	// bodyLimits are per-path body limits above MaxBody (the bulk route);
	// written only during New.
	bodyLimits map[string]int

	mu struct {
		sync.Mutex
		serving  bool
		shutdown bool
	}
}

// New returns a Server over db configured by opts (defaults filled in, then
// validated). It logs a warning when no API keys are configured. db stays
// owned by the caller, who closes it after Shutdown.
func New(db *store.DB, opts Options) (*Server, error) {
	if db == nil {
		return nil, fmt.Errorf("cannot create server: %w: nil store", ErrInvalidOptions)
	}
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("cannot create server: %w", err)
	}
	opts.APIKeys = append([]string(nil), opts.APIKeys...)
	opts.ReadOnlyKeys = append([]string(nil), opts.ReadOnlyKeys...)
	lg, err := opts.NewLogger()
	if err != nil {
		return nil, fmt.Errorf("cannot create server: %w", err)
	}
	s := &Server{
		db:         db,
		opts:       opts,
		log:        lg,
		auth:       newAuthenticator(opts.APIKeys, opts.ReadOnlyKeys),
		metrics:    newMetricsSet(db),
		router:     router.New(),
		bodyLimits: map[string]int{},
	}
	s.limiter = newRateLimiter(opts.RateLimit, opts.RateBurst, s.auth.numKeys())
	if s.auth.open() {
		s.log.Warn("NO API KEYS CONFIGURED: every route is open to anyone who can reach this port; set LSMVEC_API_KEYS (and LSMVEC_READONLY_KEYS)")
	}

	r := s.router
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleOPTIONS = false
	r.NotFound = func(ctx *fasthttp.RequestCtx) {
		s.writeError(ctx, newError(ErrNotFound, "route_not_found", "no route for "+string(ctx.Method())+" "+string(ctx.Path())))
	}
	r.MethodNotAllowed = func(ctx *fasthttp.RequestCtx) {
		s.writeError(ctx, newError(ErrMethod, "", "method "+string(ctx.Method())+" is not allowed on "+string(ctx.Path())))
	}
	r.PanicHandler = func(ctx *fasthttp.RequestCtx, v any) { s.recovered(ctx, v) }
	s.routes()
	s.handler = r.Handler

	s.httpSrv = &fasthttp.Server{
		Name:               "lsmvec",
		Handler:            s.serveHTTP,
		ErrorHandler:       s.httpTransportError,
		HeaderReceived:     s.headerReceived,
		ExpectHandler:      s.expectContinue,
		MaxRequestBodySize: int(opts.MaxBody),
		// fasthttp's ReadTimeout runs from a request's first byte to the end
		// of its headers; headerReceived then sets the body's deadline.
		ReadTimeout:    opts.HeaderTimeout,
		WriteTimeout:   opts.WriteTimeout,
		IdleTimeout:    opts.IdleTimeout,
		ReadBufferSize: opts.MaxHeaderBytes,
		Concurrency:    opts.MaxConns,
		MaxConnsPerIP:  opts.MaxConnsPerIP,
		// Left on, fasthttp would read a multipart/form-data body of any
		// size into memory and temporary files before any handler, auth
		// or body limit runs.
		DisablePreParseMultipartForm: true,
		// Parse errors must not quote the request (its headers hold the
		// API key) into the 400 or the log.
		SecureErrorLogMessage: true,
		CloseOnShutdown:       true,
		NoDefaultServerHeader: true,
		// The bulk build streams its body; readBody keeps MaxBody for the
		// other routes (v1_bulk.go).
		StreamRequestBody: true,
		Logger:            fasthttpLogger{s.log},
	}
	s.grpcSrv = s.newGRPCServer()
	return s, nil
}

// routes registers every HTTP route. Each API family adds its own in its
// files (casper_*.go, v1_*.go).
func (s *Server) routes() {
	s.handle("GET", "/health", "health", accessPublic, writeOK)
	s.handle("GET", "/metrics", "metrics", accessRead, s.serveMetrics)
	s.casperRoutes()
	s.v1Routes()
}

// handle registers h for method and path under the metrics and log name
// name, behind the middleware chain: panic recovery, auth for need, the rate
// limit, metrics and the access log.
func (s *Server) handle(method, path, name string, need access, h fasthttp.RequestHandler) {
	s.router.Handle(method, path, s.wrap(name, need, h))
}

// wrap returns h behind the middleware chain (see handle).
func (s *Server) wrap(name string, need access, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	rm := s.metrics.route(name)
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				s.recovered(ctx, v)
			}
			s.finish(ctx, rm, start)
		}()
		if err := s.admit(ctx, need); err != nil {
			s.writeError(ctx, err)
			return
		}
		if ctx.Request.IsBodyStream() {
			// Only routes with their own body limit (the bulk build) keep
			// their stream past readBody; now that the caller is known,
			// its body may take longer than ReadTimeout.
			if c := ctx.Conn(); c != nil {
				_ = c.SetReadDeadline(time.Now().Add(max(s.opts.ReadTimeout, bulkReadTimeout)))
			}
		}
		h(ctx)
	}
}

// admit authenticates the request and takes a rate-limit token.
func (s *Server) admit(ctx *fasthttp.RequestCtx, need access) error {
	p, err := s.auth.check(ctx.Request.Header.Peek("Authorization"), need)
	if err != nil {
		return err
	}
	if s.limiter != nil && need != accessPublic {
		if ok, wait := s.limiter.allow(p.key, ctx.RemoteIP()); !ok {
			return &apiError{kind: ErrRateLimited, msg: "rate limit exceeded; retry later", retryAfter: wait}
		}
	}
	return nil
}

// finish records the request's metrics and writes its access-log line.
func (s *Server) finish(ctx *fasthttp.RequestCtx, rm *routeMetrics, start time.Time) {
	d := time.Since(start)
	status := ctx.Response.StatusCode()
	rm.observe(status, d.Seconds())
	if s.log.Enabled(ctx, slog.LevelInfo) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "http",
			slog.String("route", rm.name),
			slog.String("method", methodString(ctx.Method())),
			slog.String("path", string(ctx.Path())),
			slog.Int("status", status),
			slog.Duration("dur", d))
	}
}

// methodString returns the method as a string, without allocating for the
// usual ones.
func methodString(m []byte) string {
	switch string(m) {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "HEAD":
		return "HEAD"
	}
	return string(m)
}

// recovered turns a panic in a handler into a 500 and logs it with its
// stack.
func (s *Server) recovered(ctx *fasthttp.RequestCtx, v any) {
	s.log.Error("panic in handler", slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.Path())), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
	writeErrorBody(ctx, fasthttp.StatusInternalServerError, "internal", "internal error", 0)
}

// serveHTTP is the fasthttp handler: a panic guard around the router.
func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) {
	var bp *[]byte // a body read by readBody, returned to its pool at the end
	defer func() {
		if v := recover(); v != nil {
			s.recovered(ctx, v)
		}
		if bp != nil {
			ctx.Request.ResetBody() // detach the pooled buffer first
			putBodyBuf(bp)
		}
	}()
	var ok bool
	if bp, ok = s.readBody(ctx); !ok {
		return
	}
	if ctx.IsPost() && casperSearchName(ctx.Path()) != nil {
		s.searchHandler(ctx)
		return
	}
	s.handler(ctx)
	if bp == nil {
		// A streamed route (the bulk build) refused before or while its
		// handler read the body: drain the rest so the client reads the
		// answer (a no-op when the handler read it all).
		lingerBody(ctx)
	}
}

// headerReceived sets the deadline of the request's body, ReadTimeout,
// and raises the body limit for the routes that have their own (the bulk
// build); every other request keeps MaxBody. A body that will be refused
// for its declared size gets no more time than the headers had: fasthttp
// reads its first bytes (up to 8 KiB) before any handler, and a client
// that announces gigabytes and sends nothing must not hold the connection.
// The bulk build's long deadline is set only once its caller is
// authenticated (wrap). The raw request URI is matched here; readBody
// checks the normalized path again.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	limit := int(s.opts.MaxBody)
	if len(s.bodyLimits) > 0 {
		uri := h.RequestURI()
		if i := bytes.IndexByte(uri, '?'); i >= 0 {
			uri = uri[:i]
		}
		if n, ok := s.bodyLimits[string(uri)]; ok {
			limit = n
		}
	}
	cfg := fasthttp.RequestConfig{MaxRequestBodySize: limit, ReadTimeout: s.opts.ReadTimeout}
	if h.ContentLength() > limit {
		cfg.ReadTimeout = min(s.opts.HeaderTimeout, s.opts.ReadTimeout)
	}
	return cfg
}

// expectContinue answers a request carrying "Expect: 100-continue": a body
// over its route's limit is refused with 413 before the client sends it;
// any other gets "100 Continue".
func (s *Server) expectContinue(ctx *fasthttp.RequestCtx) int {
	if ctx.Request.Header.ContentLength() > s.bodyLimit(ctx.Path()) {
		writeErrorBody(ctx, fasthttp.StatusRequestEntityTooLarge, "payload_too_large",
			"request body exceeds the size limit", 0)
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusContinue
}

// bodyLimit is the body limit of requests to path (normalized, no query).
func (s *Server) bodyLimit(path []byte) int {
	if n, ok := s.bodyLimits[b2s(path)]; ok {
		return n
	}
	return int(s.opts.MaxBody)
}

// setBodyLimit gives requests to path (no query string) a body limit of n
// bytes instead of MaxBody. Call it only while registering routes.
func (s *Server) setBodyLimit(path string, n int64) { s.bodyLimits[path] = int(n) }

// httpTransportError answers errors fasthttp meets before a handler runs:
// a body over the limit (413, sent before the body is read when
// Content-Length announces it), malformed requests, timeouts.
func (s *Server) httpTransportError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		writeErrorBody(ctx, fasthttp.StatusRequestEntityTooLarge, "payload_too_large",
			"request body exceeds the size limit (LSMVEC_MAX_BODY)", 0)
		return
	}
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) {
		writeErrorBody(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "header_too_large",
			"request line and headers exceed the size limit", 0)
		return
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		writeErrorBody(ctx, fasthttp.StatusRequestTimeout, "timeout", "request timed out", 0)
		return
	}
	writeErrorBody(ctx, fasthttp.StatusBadRequest, "bad_request", "cannot parse request: "+err.Error(), 0)
}

// Handler returns the HTTP handler (the full middleware and router chain),
// for tests and for embedding in another fasthttp server.
func (s *Server) Handler() fasthttp.RequestHandler { return s.serveHTTP }

// Serve serves HTTP on httpLn and gRPC on grpcLn (either may be nil to skip
// it) until Shutdown. It returns nil after a clean Shutdown, or the first
// error of either server.
func (s *Server) Serve(httpLn, grpcLn net.Listener) error {
	s.mu.Lock()
	if s.mu.serving || s.mu.shutdown {
		s.mu.Unlock()
		return fmt.Errorf("cannot serve: %w", errServed)
	}
	s.mu.serving = true
	s.mu.Unlock()

	errc := make(chan error, 2)
	n := 0
	if httpLn != nil {
		n++
		s.log.Info("serving HTTP", slog.String("addr", httpLn.Addr().String()))
		go func() { errc <- s.httpSrv.Serve(httpLn) }()
	}
	if grpcLn != nil {
		n++
		s.log.Info("serving gRPC", slog.String("addr", grpcLn.Addr().String()))
		go func() { errc <- s.grpcSrv.Serve(grpcLn) }()
	}
	var first error
	for range n {
		err := <-errc
		if err != nil && !errors.Is(err, grpc.ErrServerStopped) && first == nil {
			s.mu.Lock()
			down := s.mu.shutdown
			s.mu.Unlock()
			if !down {
				first = err
				// One front end failed: stop the other so Serve returns.
				go s.Shutdown(context.Background())
			}
		}
	}
	return first
}

var errServed = errors.New("server: Serve called twice or after Shutdown")

// ListenAndServe listens on Options.HTTPAddr and Options.GRPCAddr and
// serves until Shutdown.
func (s *Server) ListenAndServe() error {
	hl, err := net.Listen("tcp", s.opts.HTTPAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", s.opts.HTTPAddr, err)
	}
	gl, err := net.Listen("tcp", s.opts.GRPCAddr)
	if err != nil {
		hl.Close()
		return fmt.Errorf("cannot listen on %s: %w", s.opts.GRPCAddr, err)
	}
	return s.Serve(hl, gl)
}

// Shutdown stops accepting connections and waits for in-flight HTTP
// requests and gRPC calls to finish, up to ctx's deadline or
// Options.ShutdownTimeout, whichever comes first; then it closes what is
// left. The caller closes the store afterwards.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.mu.shutdown {
		s.mu.Unlock()
		return nil
	}
	s.mu.shutdown = true
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, s.opts.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		done := make(chan struct{})
		go func() { s.grpcSrv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpcSrv.Stop()
		}
	}()
	err := s.httpSrv.ShutdownWithContext(ctx)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("cannot shut down HTTP cleanly: %w", err)
	}
	return nil
}

// fasthttpLogger sends fasthttp's own log lines to slog.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn("fasthttp: " + fmt.Sprintf(format, args...))
}
