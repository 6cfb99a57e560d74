//go:build race

package pq

// raceEnabled shrinks the heavier tests under the race detector, which
// slows them by an order of magnitude; the concurrency tests keep their size.
const raceEnabled = true
