//go:build race

package filter

// raceEnabled: sync.Pool drops items at random under the race detector.
const raceEnabled = true
