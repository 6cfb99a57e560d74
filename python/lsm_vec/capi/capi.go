//go:build cgo

// Command capi is the C ABI of lsm_vec, the embedded Python engine: built
// with `go build -buildmode=c-shared` into lsm_vec/_lsmvec.so, which the
// pure-Python package lsm_vec loads with ctypes. It lives next to the
// Python code it serves (python/lsm_vec/capi) so that the package builds
// from one folder; it is a `package main` only because c-shared demands
// one, and main does nothing.
//
// # Conventions
//
// Every exported function returns a status code (engine.go: codeOK = 0,
// otherwise the error's class) and takes, last, errbuf/errcap: a buffer
// the caller owns, into which a failing call writes a NUL-terminated,
// truncated message. Every one defers a recover, so a Go panic becomes
// codeInternal and its message instead of killing the host process
// (panics on the store's own background goroutines cannot be recovered
// this way; the store does not raise them on user input).
//
// # Ownership
//
// Go never allocates memory that C must free, and never hands C a Go
// pointer. The caller passes every buffer: inputs (vectors, JSON text,
// paths as pointer + length) are only read during the call and not
// retained; outputs (result ids and distances, vectors, payload and stats
// JSON) are written into caller buffers whose capacity the caller states.
// When a JSON output does not fit, the call returns codeBuffer and the
// length it needs in *outlen; nothing else was changed, so the caller
// retries with a larger buffer. A database is a runtime/cgo.Handle (an
// integer, never a pointer) returned by lsmvec_open and released by
// lsmvec_close; 0 and closed handles are codeClosed.
//
// # Concurrency
//
// All functions may be called from several threads at once (ctypes drops
// the GIL around each call); lsmvec_close waits for calls in flight on the
// same handle. Using a handle after lsmvec_close returned is codeClosed,
// not a crash.
package main

/*
#include <stdint.h>
#include <stddef.h>
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"unsafe"

	"github.com/lsmvec/lsmvec/store"
)

func main() {}

// writeMsg copies msg, truncated and NUL-terminated, into buf (capacity
// n bytes; nothing when buf is nil or n is 0).
func writeMsg(buf unsafe.Pointer, n uintptr, msg string) {
	if buf == nil || n == 0 {
		return
	}
	dst := unsafe.Slice((*byte)(buf), n)
	m := copy(dst[:n-1], msg)
	dst[m] = 0
}

// fail writes err's message and returns its code (codeOK for nil).
func fail(err error, buf *C.char, n C.size_t) C.int {
	if err == nil {
		return codeOK
	}
	writeMsg(unsafe.Pointer(buf), uintptr(n), err.Error())
	return C.int(codeOf(err))
}

// panicked turns a recovered panic value into codeInternal and a message.
func panicked(p any, buf unsafe.Pointer, n uintptr) int {
	writeMsg(buf, n, fmt.Sprintf("lsm_vec: internal error (recovered Go panic): %v", p))
	return codeInternal
}

// lookup returns the engine of handle h; errClosed for 0 and for a handle
// already released (cgo.Handle.Value panics on those).
func lookup(h C.uint64_t) (e *engine, err error) {
	if h == 0 {
		return nil, errClosed
	}
	defer func() {
		if recover() != nil {
			e, err = nil, errClosed
		}
	}()
	e, _ = cgo.Handle(uintptr(h)).Value().(*engine)
	if e == nil {
		return nil, errClosed
	}
	return e, nil
}

// floats views n floats of C memory at p as a slice (nil for n == 0).
func floats(p *C.float, n C.int64_t) ([]float32, error) {
	if n < 0 || (p == nil && n > 0) || n > 1<<40 {
		return nil, fmt.Errorf("cannot read vector: %d floats at %p: %w", int64(n), p, errInvalid)
	}
	if n == 0 {
		return nil, nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(p)), int(n)), nil
}

// bytesOf views n bytes of C memory at p (nil for n ≤ 0).
func bytesOf(p *C.char, n C.int64_t) []byte {
	if p == nil || n <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// putJSON copies js into buf (capacity bufcap) and stores its length in
// *outlen; codeBuffer (nothing copied) when it does not fit.
func putJSON(js []byte, buf *C.char, bufcap C.int64_t, outlen *C.int64_t) error {
	if outlen != nil {
		*outlen = C.int64_t(len(js))
	}
	if int64(len(js)) > int64(bufcap) || (buf == nil && len(js) > 0) {
		return fmt.Errorf("cannot return %d bytes in a buffer of %d: %w", len(js), int64(bufcap), errBuffer)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(buf)), len(js)), js)
	return nil
}

// guard turns a panic of the calling export into an error code and message
// in errbuf. Every export defers it directly, first thing: recover works only
// in the deferred function itself.
func guard(rc *C.int, errbuf *C.char, errcap C.size_t) {
	if p := recover(); p != nil {
		*rc = C.int(panicked(p, unsafe.Pointer(errbuf), uintptr(errcap)))
	}
}

//export lsmvec_open
func lsmvec_open(dir *C.char, dirlen C.int64_t, coll *C.char, colllen C.int64_t, dim C.int64_t, metric, m, m0, efc, efs C.int32_t,
	out *C.uint64_t, errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	if out == nil || dirlen < 0 || colllen < 0 {
		return fail(fmt.Errorf("cannot open database: bad arguments: %w", errInvalid), errbuf, errcap)
	}
	cfg := config{
		Dir:        string(bytesOf(dir, dirlen)),
		Collection: string(bytesOf(coll, colllen)),
		Dim:        int(dim), Metric: int(metric),
		M: int(m), M0: int(m0), EfC: int(efc), EfS: int(efs),
	}
	if dim < 0 || dim > store.MaxDim {
		cfg.Dim = -1 // openEngine reports it
	}
	e, err := openEngine(cfg)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	*out = C.uint64_t(cgo.NewHandle(e))
	return codeOK
}

//export lsmvec_close
func lsmvec_close(h C.uint64_t, errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	err = e.close()
	if err == nil || codeOf(err) != codeClosed {
		// Closed now (even when Close reported an error): release the
		// handle once, by the caller that closed it.
		defer func() { recover() }() // a concurrent close already deleted it
		cgo.Handle(uintptr(h)).Delete()
	}
	return fail(err, errbuf, errcap)
}

//export lsmvec_put
func lsmvec_put(h C.uint64_t, id C.uint64_t, vec *C.float, n C.int64_t, payload *C.char, plen C.int64_t, mustExist C.int32_t,
	errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	v, err := floats(vec, n)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	var p []byte // nil: keep the payload
	if plen >= 0 {
		if p = bytesOf(payload, plen); p == nil {
			p = []byte{} // empty text: invalid JSON, reported by the store
		}
	}
	return fail(e.put(uint64(id), v, p, mustExist != 0), errbuf, errcap)
}

//export lsmvec_delete
func lsmvec_delete(h C.uint64_t, id C.uint64_t, errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	return fail(e.delete(uint64(id)), errbuf, errcap)
}

//export lsmvec_get
func lsmvec_get(h C.uint64_t, id C.uint64_t, dst *C.float, n C.int64_t, errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	d, err := floats(dst, n)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	return fail(e.get(uint64(id), d), errbuf, errcap)
}

//export lsmvec_dim
func lsmvec_dim(h C.uint64_t, out *C.int64_t, errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	d, err := e.dim()
	if err == nil && out != nil {
		*out = C.int64_t(d)
	}
	return fail(err, errbuf, errcap)
}

// lsmvec_search is the hot path: it allocates nothing (without a filter)
// once warm; ids and dists hold k entries, *count receives how many were
// written.
//
//export lsmvec_search
func lsmvec_search(h C.uint64_t, q *C.float, n C.int64_t, k, ef C.int32_t, filt *C.char, flen C.int64_t,
	ids *C.uint64_t, dists *C.float, count *C.int32_t, errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	qv, err := floats(q, n)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	if k < 1 || ids == nil || dists == nil || count == nil {
		return fail(fmt.Errorf("cannot search: k %d < 1 or a nil result buffer: %w", k, errInvalid), errbuf, errcap)
	}
	f, err := compileFilter(bytesOf(filt, flen))
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	idv := unsafe.Slice((*uint64)(unsafe.Pointer(ids)), int(k))
	dv := unsafe.Slice((*float32)(unsafe.Pointer(dists)), int(k))
	got, err := e.search(qv, int(k), int(ef), f, idv, dv)
	*count = C.int32_t(got)
	return fail(err, errbuf, errcap)
}

// lsmvec_search_batch searches nq queries (row-major, dim floats each) on
// threads goroutines (≤ 0: GOMAXPROCS); query i's results go to
// ids[i·k:(i+1)·k] and dists[...], their number to counts[i].
//
//export lsmvec_search_batch
func lsmvec_search_batch(h C.uint64_t, qs *C.float, nq, dim C.int64_t, k, ef C.int32_t, filt *C.char, flen C.int64_t, threads C.int32_t,
	ids *C.uint64_t, dists *C.float, counts *C.int32_t, errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	if nq < 1 || dim < 1 || k < 1 || ids == nil || dists == nil || counts == nil || int64(nq)*int64(dim) > 1<<40 {
		return fail(fmt.Errorf("cannot search batch: %d queries of dim %d, k %d: %w", int64(nq), int64(dim), k, errInvalid), errbuf, errcap)
	}
	qv, err := floats(qs, nq*dim)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	f, err := compileFilter(bytesOf(filt, flen))
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	total := int(nq) * int(k)
	err = e.searchBatch(qv, int(dim), int(k), int(ef), f, int(threads),
		unsafe.Slice((*uint64)(unsafe.Pointer(ids)), total),
		unsafe.Slice((*float32)(unsafe.Pointer(dists)), total),
		unsafe.Slice((*int32)(unsafe.Pointer(counts)), int(nq)))
	return fail(err, errbuf, errcap)
}

// lsmvec_go_search_loop is a benchmark hook: it runs the queries through
// Collection.Search in a plain Go loop on threads goroutines (≤ 0:
// GOMAXPROCS; engine.goSearchLoop) so that a benchmark can compare
// Python's figures with Go's in the same process, thread for thread.
//
//export lsmvec_go_search_loop
func lsmvec_go_search_loop(h C.uint64_t, qs *C.float, nq, dim C.int64_t, k, ef, rounds, threads C.int32_t, seen *C.int64_t,
	errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	if nq < 1 || dim < 1 || int64(nq)*int64(dim) > 1<<40 {
		return fail(fmt.Errorf("cannot run search loop: %w", errInvalid), errbuf, errcap)
	}
	qv, err := floats(qs, nq*dim)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	s, err := e.goSearchLoop(qv, int(dim), int(nq), int(k), int(ef), int(rounds), int(threads))
	if seen != nil {
		*seen = C.int64_t(s)
	}
	return fail(err, errbuf, errcap)
}

//export lsmvec_payload_get
func lsmvec_payload_get(h C.uint64_t, id C.uint64_t, buf *C.char, bufcap C.int64_t, outlen *C.int64_t,
	errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	js, err := e.payload(uint64(id), nil)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	return fail(putJSON(js, buf, bufcap, outlen), errbuf, errcap)
}

//export lsmvec_payload_set
func lsmvec_payload_set(h C.uint64_t, id C.uint64_t, p *C.char, plen C.int64_t, errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	pb := bytesOf(p, plen)
	if pb == nil {
		pb = []byte{}
	}
	return fail(e.setPayload(uint64(id), pb), errbuf, errcap)
}

// lsmvec_payload_patch applies the merge patch and writes the new payload
// into buf. The patch is applied even when buf is too small (codeBuffer,
// *outlen set): the caller then reads the payload with lsmvec_payload_get.
// A buffer of store.MaxPayloadBytes (lsmvec_max_payload_bytes) always fits.
//
//export lsmvec_payload_patch
func lsmvec_payload_patch(h C.uint64_t, id C.uint64_t, p *C.char, plen C.int64_t, buf *C.char, bufcap C.int64_t, outlen *C.int64_t,
	errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	pb := bytesOf(p, plen)
	if pb == nil {
		pb = []byte{}
	}
	js, err := e.patchPayload(uint64(id), pb)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	return fail(putJSON(js, buf, bufcap, outlen), errbuf, errcap)
}

//export lsmvec_max_payload_bytes
func lsmvec_max_payload_bytes() C.int64_t { return store.MaxPayloadBytes }

// lsmvec_bulk loads n vectors (ids 0..n-1; n·dim floats at vecs) and,
// when plen > 0, the JSON array of n payloads (objects or nulls) into the
// empty collection; threads ≤ 0 selects the store's BuildThreads.
//
//export lsmvec_bulk
func lsmvec_bulk(h C.uint64_t, vecs *C.float, n, dim C.int64_t, payloads *C.char, plen C.int64_t, threads C.int32_t,
	outN, outPayloads *C.int64_t, errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	if n < 1 || dim < 1 || int64(n)*int64(dim) > 1<<40 {
		return fail(fmt.Errorf("cannot bulk build: %d vectors of dim %d: %w", int64(n), int64(dim), errInvalid), errbuf, errcap)
	}
	v, err := floats(vecs, n*dim)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*4)
	if threads < 0 {
		threads = 0
	}
	res, err := e.bulk(raw, int(n), int(dim), bytesOf(payloads, plen), int(threads))
	if outN != nil {
		*outN = C.int64_t(res.N)
	}
	if outPayloads != nil {
		*outPayloads = C.int64_t(res.Payloads)
	}
	return fail(err, errbuf, errcap)
}

//export lsmvec_stats
func lsmvec_stats(h C.uint64_t, buf *C.char, bufcap C.int64_t, outlen *C.int64_t, errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	e, err := lookup(h)
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	js, err := e.stats()
	if err != nil {
		return fail(err, errbuf, errcap)
	}
	return fail(putJSON(js, buf, bufcap, outlen), errbuf, errcap)
}

// lsmvec_debug_panic panics on purpose: the tests call it to prove that a
// Go panic reaches Python as an exception, not a crash.
//
//export lsmvec_debug_panic
func lsmvec_debug_panic(errbuf *C.char, errcap C.size_t) (rc C.int) {
	defer guard(&rc, errbuf, errcap)
	var m map[string]int
	m["boom"] = 1 // assignment to a nil map: a runtime panic
	return codeOK
}
