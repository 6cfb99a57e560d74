//go:build race

package hnsw

// raceEnabled reports a -race build: sync.Pool drops items on purpose and
// everything runs ~10x slower, so allocation counts and data set builds are
// skipped.
const raceEnabled = true
