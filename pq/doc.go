// Package pq holds the vector quantizers of lsmvec: the scalar (int8)
// quantizer, product quantization with 8- and 16-bit codes, the k-means
// trainer that builds PQ codebooks, and the per-query tables and prepared
// queries that turn a code into an approximate distance with the kernels
// package (ADC8, ADC16, DotF32Int8).
//
// Distances follow the product contract: for L2 the quantities here are
// squared Euclidean distances; for inner product they are 1 − ⟨q,x⟩; for
// cosine (int8 only; PQ refuses it with ErrCosine) 1 − cos(q,x).
//
// A Codebook or ScalarQuantizer is immutable once built and safe for
// concurrent use. Prepared queries and tables are owned by one goroutine at a
// time. Functions that fill a caller's buffer never retain it.
package pq
