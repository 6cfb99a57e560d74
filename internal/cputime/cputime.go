// Package cputime reads CPU clocks for the benchmarks: on a machine shared
// with other work, the CPU time a thread or the process used is steadier
// than wall time, which also counts the time spent waiting for a core.
package cputime

import "time"

// Process returns the user + system CPU time of the whole process.
func Process() time.Duration { return process() }

// Thread returns the CPU time of the calling OS thread (lock the goroutine
// to its thread first, with runtime.LockOSThread). Where the thread clock
// cannot be read it returns wall time since the process started.
func Thread() time.Duration { return thread() }
