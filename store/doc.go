// Package store is lsmvec's durable database: collections of vectors with
// optional JSON payloads and an HNSW index each, matrices and PQ
// configurations, all kept in one embedded Pebble instance, plus one
// checkpoint file per index so that a restart loads the graph instead of
// rebuilding it.
//
// Durability: a write method returns nil only after its Pebble batch is
// synced (pebble.Sync). Concurrent writers share fsyncs: their batches are
// merged into one commit (group commit, groupcommit.go). A failed commit leaves the DB refusing
// writes (ErrFailed) until it is reopened, which recovers the last durable
// state.
//
// Recovery: every write to an indexed collection carries a per-collection
// log sequence, recorded under a log key in the same batch as the vector.
// Checkpoints (in the background after Options.CheckpointWrites writes or
// Options.CheckpointInterval, and on Close) write the graph with
// hnsw.WriteTo and drop the log records they cover; Open loads the newest
// checkpoint and reapplies the final state of each id logged after it.
// docs/architecture.md ("## store") has the key schema and the algorithm.
//
// Errors wrap the sentinels in errors.go. Every exported method is safe for
// concurrent use unless its comment says otherwise.
package store
