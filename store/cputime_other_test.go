//go:build !linux

package store

import "time"

var processStart = time.Now()

// threadCPU falls back to wall time where the thread clock is not read.
func threadCPU() time.Duration { return time.Since(processStart) }
