// Package suite holds lsmvec's `go test -bench` suites over the parts users
// call: HNSW insert and search, the store's durable write path with 1 and 8
// writers, Casper HTTP search with JSON and binary output, and payload
// filter evaluation. It has no code of its own; run
//
//	go test -run '^$' -bench . -benchmem -count 6 ./bench/suite | tee new.txt
//	benchstat old.txt new.txt
//
// (`make bench` runs it with the kernels' benchmarks). Distance kernels
// have their own benchmarks in package kernels.
package suite
