//go:build !purego

package kernels

// The hand-written NEON kernels (neon_arm64.s). Like the amd64 ones they
// trust their arguments: len(b) >= len(a).

//go:noescape
func l2SqNEON(a, b []float32) float32

//go:noescape
func dotNEON(a, b []float32) float32

//go:noescape
func dotInt8NEON(a, b []int8) int32

//go:noescape
func l2SqInt8NEON(a, b []int8) int32
