//go:build purego || !(amd64 || arm64)

package kernels

// asmImpls is empty: this build runs the generic code only.
var asmImpls []asmImpl
