package server

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/valyala/fasthttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lsmvec/lsmvec/pq"
	"github.com/lsmvec/lsmvec/store"
	"github.com/lsmvec/lsmvec/store/filter"
)

// This file is the one place where errors become HTTP statuses and gRPC
// codes. Handlers return (or write) errors; kindOf classifies them by
// errors.Is against the server's sentinels and the store's.

// Error kinds. Every error a route reports wraps one of them (or one of the
// store's sentinels, mapped in kinds below); anything else is a 500.
var (
	ErrInvalidArgument = errors.New("server: invalid argument")
	ErrUnauthorized    = errors.New("server: unauthorized")
	ErrForbidden       = errors.New("server: forbidden")
	ErrNotFound        = errors.New("server: not found")
	ErrMethod          = errors.New("server: method not allowed")
	ErrMuted           = errors.New("server: collection is muted")
	ErrConflict        = errors.New("server: conflict")
	ErrTooLarge        = errors.New("server: payload too large")
	ErrRateLimited     = errors.New("server: rate limited")
	ErrNotReady        = errors.New("server: not ready")
	ErrTimeout         = errors.New("server: request timed out")
	ErrInternal        = errors.New("server: internal error")
)

// kind is one row of the error table: a sentinel and what it becomes.
type kind struct {
	err    error
	status int
	grpc   codes.Code
	code   string // default snake_case code when the error carries none
}

// kinds is checked in order; the first sentinel that errors.Is matches wins.
var kinds = []kind{
	{ErrInvalidArgument, fasthttp.StatusBadRequest, codes.InvalidArgument, "invalid_argument"},
	{ErrUnauthorized, fasthttp.StatusUnauthorized, codes.Unauthenticated, "unauthorized"},
	{ErrForbidden, fasthttp.StatusForbidden, codes.PermissionDenied, "forbidden"},
	{ErrNotFound, fasthttp.StatusNotFound, codes.NotFound, "not_found"},
	{ErrMethod, fasthttp.StatusMethodNotAllowed, codes.Unimplemented, "method_not_allowed"},
	{ErrMuted, fasthttp.StatusMethodNotAllowed, codes.FailedPrecondition, "muted"},
	{ErrConflict, fasthttp.StatusConflict, codes.AlreadyExists, "conflict"},
	{ErrTooLarge, fasthttp.StatusRequestEntityTooLarge, codes.ResourceExhausted, "payload_too_large"},
	{ErrRateLimited, fasthttp.StatusTooManyRequests, codes.ResourceExhausted, "rate_limited"},
	{ErrNotReady, fasthttp.StatusServiceUnavailable, codes.Unavailable, "not_ready"},
	{ErrTimeout, fasthttp.StatusRequestTimeout, codes.DeadlineExceeded, "timeout"},
	{ErrInternal, fasthttp.StatusInternalServerError, codes.Internal, "internal"},
}

var internalKind = kinds[len(kinds)-1]

// storeKinds maps the sentinels of the store (and of pq, which the PQ
// training route calls); it is checked after kinds.
var storeKinds = []kind{
	{store.ErrNotFound, fasthttp.StatusNotFound, codes.NotFound, "not_found"},
	{store.ErrExists, fasthttp.StatusConflict, codes.AlreadyExists, "already_exists"},
	{store.ErrMuted, fasthttp.StatusMethodNotAllowed, codes.FailedPrecondition, "muted"},
	{store.ErrDimension, fasthttp.StatusBadRequest, codes.InvalidArgument, "dim_mismatch"},
	{store.ErrCapacity, fasthttp.StatusBadRequest, codes.InvalidArgument, "max_size_exceeded"},
	{store.ErrInvalid, fasthttp.StatusBadRequest, codes.InvalidArgument, "invalid_argument"},
	{store.ErrInUse, fasthttp.StatusConflict, codes.FailedPrecondition, "in_use"},
	{store.ErrNoIndex, fasthttp.StatusConflict, codes.FailedPrecondition, "no_index"},
	{store.ErrNotEmpty, fasthttp.StatusConflict, codes.FailedPrecondition, "db_not_empty"},
	{store.ErrTooLarge, fasthttp.StatusRequestEntityTooLarge, codes.InvalidArgument, "payload_too_large"},
	{store.ErrNotSupported, fasthttp.StatusBadRequest, codes.Unimplemented, "not_supported"},
	// Writes refused below the disk reserve (store/diskspace.go); they
	// succeed again once space is freed, and reads keep working.
	{store.ErrDiskFull, fasthttp.StatusInsufficientStorage, codes.ResourceExhausted, "insufficient_storage"},
	{store.ErrClosed, fasthttp.StatusServiceUnavailable, codes.Unavailable, "not_ready"},
	{store.ErrFailed, fasthttp.StatusServiceUnavailable, codes.Unavailable, "store_failed"},
	{pq.ErrInvalidArgument, fasthttp.StatusBadRequest, codes.InvalidArgument, "invalid_argument"},
	{pq.ErrTooManyCentroids, fasthttp.StatusBadRequest, codes.InvalidArgument, "invalid_argument"},
	{pq.ErrCosine, fasthttp.StatusBadRequest, codes.InvalidArgument, "invalid_argument"},
	{pq.ErrTooFewVectors, fasthttp.StatusBadRequest, codes.InvalidArgument, "too_few_vectors"},
	{pq.ErrNotFinite, fasthttp.StatusBadRequest, codes.InvalidArgument, "invalid_vector"},
	{filter.ErrBadFilter, fasthttp.StatusBadRequest, codes.InvalidArgument, "bad_filter"},
}

// apiError is an error with a client-facing message and code. It unwraps to
// its kind sentinel (and to the cause, when there is one).
type apiError struct {
	kind       error
	code       string // "" means the kind's default
	msg        string
	cause      error
	retryAfter int // seconds; 429 only
}

func (e *apiError) Error() string { return e.msg }

// Unwrap lets errors.Is see both the kind and the cause.
func (e *apiError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

// newError returns an error of the given kind with a specific code ("" for
// the kind's default) and message.
func newError(kindErr error, code, msg string) error {
	return &apiError{kind: kindErr, code: code, msg: msg}
}

// invalid is shorthand for a 400 with a specific code.
func invalid(code, msg string) error {
	return &apiError{kind: ErrInvalidArgument, code: code, msg: msg}
}

// kindOf classifies err. The boolean is false for errors no row matches
// (reported as 500 with a generic message).
func kindOf(err error) (kind, bool) {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k, true
		}
	}
	for _, k := range storeKinds {
		if errors.Is(err, k.err) {
			return k, true
		}
	}
	// A streamed body (the bulk build) that stopped arriving before the
	// read deadline: the client's fault, not the server's.
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return timeoutKind, true
	}
	return internalKind, false
}

var timeoutKind = func() kind {
	for _, k := range kinds {
		if k.err == ErrTimeout {
			return k
		}
	}
	panic("BUG: no ErrTimeout row")
}()

// describe returns the status, code, client message and retry-after seconds
// for err. Unclassified errors get a generic message: their text may hold
// file paths or other internals, and is logged instead.
func describe(err error) (k kind, code, msg string, retryAfter int, known bool) {
	k, known = kindOf(err)
	code, msg = k.code, err.Error()
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.code != "" {
			code = ae.code
		}
		retryAfter = ae.retryAfter
	}
	switch {
	case !known || k.err == ErrInternal:
		msg = "internal error"
	case k.err == ErrTimeout && ae == nil:
		msg = "the request body did not arrive within the read timeout" // the cause names addresses
	}
	return k, code, msg, retryAfter, known
}

// writeError writes err as the JSON error body with its status. It logs
// errors that map to 500.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, err error) {
	k, code, msg, retryAfter, known := describe(err)
	if !known || k.status >= 500 {
		s.log.LogAttrs(ctx, slog.LevelError, "request failed",
			slog.String("method", string(ctx.Method())), slog.String("path", string(ctx.Path())),
			slog.String("err", err.Error()))
	}
	writeErrorBody(ctx, k.status, code, msg, retryAfter)
}

func writeErrorBody(ctx *fasthttp.RequestCtx, status int, code, msg string, retryAfter int) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	if retryAfter > 0 {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	b := make([]byte, 0, len(msg)+len(code)+32)
	b = append(b, `{"error":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, code)
	b = append(b, '}')
	ctx.SetBody(b)
}

// grpcError converts err to a gRPC status error with the same table.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	k, _, msg, _, _ := describe(err)
	return status.Error(k.grpc, msg)
}
