package store

import "errors"

// Sentinel errors. Every error the store returns wraps at most one of these
// (test with errors.Is); server/errors.go maps them to HTTP and gRPC statuses
// in one place.
var (
	// ErrNotFound: the collection, vector, matrix or PQ configuration does not
	// exist.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a collection or index of that name already exists.
	ErrExists = errors.New("store: already exists")
	// ErrMuted: a write to a muted collection.
	ErrMuted = errors.New("store: collection is muted")
	// ErrDimension: a vector's length differs from the collection's dimension.
	ErrDimension = errors.New("store: dimension mismatch")
	// ErrCapacity: the write would take the collection past its max_size.
	ErrCapacity = errors.New("store: max_size exceeded")
	// ErrInvalid: an argument is out of range or malformed (NaN, bad name,
	// duplicate ids in a batch, bad JSON payload, ...).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrInUse: the object is referenced by another one (a matrix by a PQ
	// configuration, a PQ configuration by an index) and cannot be removed.
	ErrInUse = errors.New("store: in use")
	// ErrNoIndex: a search on a collection without an index.
	ErrNoIndex = errors.New("store: collection has no index")
	// ErrNotEmpty: a bulk load into a collection that holds vectors.
	ErrNotEmpty = errors.New("store: collection is not empty")
	// ErrTooLarge: a payload larger than MaxPayloadBytes.
	ErrTooLarge = errors.New("store: payload too large")
	// ErrNotSupported: a valid request the store cannot serve yet (quantized
	// indexes until package pq provides their storage).
	ErrNotSupported = errors.New("store: not supported yet")
	// ErrDiskFull: the write would take the free space of the data
	// directory's file system below Options.MinFreeBytes. Nothing was
	// written; reads keep working, and writes succeed again once space is
	// freed (the check is repeated on every write).
	ErrDiskFull = errors.New("store: disk full")
	// ErrClosed: the DB was closed.
	ErrClosed = errors.New("store: closed")
	// ErrFailed: an earlier durable write failed (I/O error); the DB refuses
	// writes until it is closed and reopened, which recovers the last durable
	// state. Reads keep working.
	ErrFailed = errors.New("store: failed after an I/O error; reopen the database")
)
