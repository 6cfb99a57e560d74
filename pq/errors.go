package pq

import "errors"

// Sentinel errors. Functions wrap them with context ("cannot <do X>: %w"); test
// with errors.Is.
var (
	// ErrInvalidArgument reports a malformed configuration or input: wrong
	// dimensions, empty data, a parameter out of range.
	ErrInvalidArgument = errors.New("pq: invalid argument")
	// ErrTooManyCentroids reports a codebook with more rows than its code
	// width can address (256 for pq8, 65 536 for pq16).
	ErrTooManyCentroids = errors.New("pq: too many centroids for the code width")
	// ErrCosine reports a request for product quantization with the cosine
	// metric, which PQ does not support (normalize the vectors and use inner
	// product instead).
	ErrCosine = errors.New("pq: cosine metric not supported by product quantization")
	// ErrTooFewVectors reports training data with fewer vectors than
	// centroids.
	ErrTooFewVectors = errors.New("pq: fewer training vectors than centroids")
	// ErrNotFinite reports a NaN or infinite value in training data or in a
	// codebook.
	ErrNotFinite = errors.New("pq: value is not finite")
)
