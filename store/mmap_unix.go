//go:build linux || darwin || freebsd

package store

import "syscall"

const mmapSupported = true

// mmapFile maps n bytes of the file fd from off, read-only and shared, with
// random-access advice (a rerank reads scattered vectors: read-ahead would
// only fill the page cache).
func mmapFile(fd uintptr, off int64, n int) ([]byte, error) {
	b, err := syscall.Mmap(int(fd), off, n, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	_ = syscall.Madvise(b, syscall.MADV_RANDOM)
	return b, nil
}

func munmapFile(b []byte) error { return syscall.Munmap(b) }
