package soak

import "errors"

// Errors returned by the package, wrapped with context; test them with
// errors.Is.
var (
	// ErrInvalidConfig reports a Config (or command-line flags) outside its
	// documented ranges.
	ErrInvalidConfig = errors.New("soak: invalid configuration")
	// ErrServerExited reports a server process that exited when the harness
	// did not stop it, or that never became ready.
	ErrServerExited = errors.New("soak: server exited")
	// ErrNotReady reports a server that did not answer GET /ready with 200
	// in time.
	ErrNotReady = errors.New("soak: server not ready")
	// ErrChecksFailed reports a run that completed but failed one of its
	// checks (5xx, lost or corrupted writes, RSS growth, errors); the Result
	// lists them.
	ErrChecksFailed = errors.New("soak: checks failed")
)
