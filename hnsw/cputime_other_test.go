//go:build !linux

package hnsw

import "time"

// threadCPU is 0 where the thread clock is not read: callers fall back to
// wall time.
func threadCPU() time.Duration { return 0 }
