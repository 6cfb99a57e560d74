//go:build linux

package hnsw

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPU returns the CPU time of the calling OS thread (lock the
// goroutine to its thread first): on a shared machine it leaves out the
// time the thread waited for a core.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	// 3 is CLOCK_THREAD_CPUTIME_ID.
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
