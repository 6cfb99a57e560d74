package bench

import "errors"

// Errors returned by the package, wrapped with context; test them with
// errors.Is.
var (
	// ErrInvalidConfig reports a Config (or command-line flags) outside
	// their documented ranges.
	ErrInvalidConfig = errors.New("bench: invalid configuration")
	// ErrNotAvailable reports a mode this build or this server cannot run
	// (for instance pq8 over a server without the PQ training route).
	ErrNotAvailable = errors.New("bench: not available")
	// ErrMalformedOutput reports output of another program (hnswlib-ref,
	// /proc, a server's reply) that does not have the expected form.
	ErrMalformedOutput = errors.New("bench: malformed output")
	// ErrServer reports an HTTP server's error reply.
	ErrServer = errors.New("bench: server error")
)
