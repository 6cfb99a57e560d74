package server

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lsmvec/lsmvec/pq"
	"github.com/lsmvec/lsmvec/store"
)

func TestErrorTable(t *testing.T) {
	wrap := func(e error) error { return fmt.Errorf("cannot do it: %w", e) }
	cases := []struct {
		err    error
		status int
		code   string
		grpc   codes.Code
	}{
		{invalid("invalid_vector", "bad"), 400, "invalid_vector", codes.InvalidArgument},
		{errMissingKey, 401, "unauthorized", codes.Unauthenticated},
		{errReadOnlyKey, 403, "forbidden", codes.PermissionDenied},
		{&apiError{kind: ErrRateLimited, msg: "slow down", retryAfter: 3}, 429, "rate_limited", codes.ResourceExhausted},
		{wrap(store.ErrNotFound), 404, "not_found", codes.NotFound},
		{wrap(store.ErrExists), 409, "already_exists", codes.AlreadyExists},
		{wrap(store.ErrMuted), 405, "muted", codes.FailedPrecondition},
		{wrap(store.ErrDimension), 400, "dim_mismatch", codes.InvalidArgument},
		{wrap(store.ErrCapacity), 400, "max_size_exceeded", codes.InvalidArgument},
		{wrap(store.ErrInvalid), 400, "invalid_argument", codes.InvalidArgument},
		{wrap(store.ErrInUse), 409, "in_use", codes.FailedPrecondition},
		{wrap(store.ErrNoIndex), 409, "no_index", codes.FailedPrecondition},
		{wrap(store.ErrNotEmpty), 409, "db_not_empty", codes.FailedPrecondition},
		{wrap(store.ErrTooLarge), 413, "payload_too_large", codes.InvalidArgument},
		{wrap(store.ErrClosed), 503, "not_ready", codes.Unavailable},
		{wrap(store.ErrDiskFull), 507, "insufficient_storage", codes.ResourceExhausted},
		{ErrTimeout, 408, "timeout", codes.DeadlineExceeded},
		{fmt.Errorf("cannot read body: %w", os.ErrDeadlineExceeded), 408, "timeout", codes.DeadlineExceeded},
		{wrap(pq.ErrTooFewVectors), 400, "too_few_vectors", codes.InvalidArgument},
		{errors.New("disk on fire at /secret/path"), 500, "internal", codes.Internal},
	}
	for _, c := range cases {
		k, code, msg, _, _ := describe(c.err)
		if k.status != c.status || code != c.code {
			t.Errorf("%v: %d %s, want %d %s", c.err, k.status, code, c.status, c.code)
		}
		if got := status.Code(grpcError(c.err)); got != c.grpc {
			t.Errorf("%v: gRPC %v, want %v", c.err, got, c.grpc)
		}
		if c.status == 500 && msg != "internal error" {
			t.Errorf("an internal error leaks its text: %q", msg)
		}
	}
	if _, _, _, ra, _ := describe(cases[3].err); ra != 3 {
		t.Errorf("retry-after %d, want 3", ra)
	}
	// The specific code survives wrapping by fmt.Errorf.
	if _, code, _, _, _ := describe(wrap(invalid("bad_filter", "x"))); code != "bad_filter" {
		t.Errorf("wrapped code %q", code)
	}
}
