//go:build !linux

package pq

import "time"

// On other systems the CPU clocks read 0 and the tests report wall time only.
func threadCPU() time.Duration  { return 0 }
func processCPU() time.Duration { return 0 }
