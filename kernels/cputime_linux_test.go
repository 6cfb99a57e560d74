package kernels

import (
	"syscall"
	"unsafe"
)

// threadCPU returns the CPU time in ns the calling OS thread has used
// (CLOCK_THREAD_CPUTIME_ID), or -1 if it cannot be read.
func threadCPU() int64 {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return -1
	}
	return ts.Nano()
}
