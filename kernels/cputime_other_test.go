//go:build !linux

package kernels

// threadCPU is not available here: the benchmarks report wall time only.
func threadCPU() int64 { return -1 }
