// Package bench measures lsmvec the way users meet it: recall against exact
// answers, queries per second on one and on N threads, latency percentiles,
// build time, load rate and memory, for each vector storage (f32, i8, pq8),
// in-process or over the Casper HTTP API, side by side with hnswlib when the
// reference binary is present. It renders what it measured as Markdown
// tables, a recall-versus-QPS PNG plot and JSON.
//
// The command-line front end is cmd/lsmvec-bench; `go test -bench
// ./bench/...` runs the micro-benchmarks of the index, the store, the HTTP
// search route and the payload filter (bench_test.go). Data set loaders and
// exact ground truth live in the subpackage dataset; this package adds
// ground-truth caching for user files (GroundTruthCached).
//
// Run, RunHNSWLib, the renderers and the ground-truth cache are safe for
// concurrent use with one another; a Report is owned by its caller.
package bench
