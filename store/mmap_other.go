//go:build !(linux || darwin || freebsd)

package store

import "errors"

// Without mmap the vector file is read with ReadAt.
const mmapSupported = false

func mmapFile(fd uintptr, off int64, n int) ([]byte, error) {
	return nil, errors.New("store: mmap not supported")
}

func munmapFile(b []byte) error { return nil }
