package server

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

// Request bodies are streamed (fasthttp.Server.StreamRequestBody) so that
// the bulk build reads its body, up to LSMVEC_MAX_BULK_BYTES (8 GiB), straight
// into the store in 4 MiB chunks, never holding it whole. With streaming on,
// fasthttp no longer refuses an oversized body itself, and it neither
// bounds a chunked body nor drains a body the handler left unread (the
// next request on the connection would be parsed from it). readBody,
// called by serveHTTP before routing, restores the one-limit-per-route
// rule for every other route: it refuses a body over its limit with 413
// (closing the connection, since the body stays unread) and reads the
// others whole, so handlers keep using PostBody.

// bulkReadTimeout is the read deadline of a request to a route with its own
// body limit (the bulk build): its body streams into the index build, which
// may take hours for gigabytes, far past Options.ReadTimeout. The route
// needs a read-write key.
const bulkReadTimeout = 24 * time.Hour

// maxBulkThreads bounds X-LSMVec-Threads.
const maxBulkThreads = 1024

// bodyBufPool holds the buffers readBody reads bodies into. A buffer is
// returned by serveHTTP after the handler.
var bodyBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// readBody reads a streamed request body whole, within MaxBody, and sets it
// as the request's body; the routes with their own limit (setBodyLimit: the
// bulk build) keep their stream, checked only against that limit. It
// reports false after writing the error response. The returned buffer, if
// not nil, goes back to bodyBufPool once the handler has returned.
func (s *Server) readBody(ctx *fasthttp.RequestCtx) (buf *[]byte, ok bool) {
	if !ctx.Request.IsBodyStream() {
		return nil, true
	}
	cl := ctx.Request.Header.ContentLength()
	limit := int(s.opts.MaxBody)
	if n, own := s.bodyLimits[b2s(ctx.Path())]; own {
		if cl > n {
			s.refuseBody(ctx, "request body exceeds the bulk size limit (LSMVEC_MAX_BULK_BYTES)")
			return nil, false
		}
		// The handler reads the stream, but a refusal before it runs (auth,
		// rate limit, method) or an early error leaves the body unread:
		// this connection serves no further request.
		ctx.SetConnectionClose()
		return nil, true
	}
	if cl > limit {
		s.refuseBody(ctx, "request body exceeds the size limit (LSMVEC_MAX_BODY)")
		return nil, false
	}
	bp := bodyBufPool.Get().(*[]byte)
	b := (*bp)[:0]
	r := ctx.RequestBodyStream()
	var err error
	if cl >= 0 {
		if cap(b) < cl {
			b = make([]byte, 0, cl)
		}
		b = b[:cl]
		_, err = io.ReadFull(r, b)
	} else { // chunked: read until EOF, refusing more than limit bytes
		for {
			if len(b) == cap(b) {
				b = slices.Grow(b, max(cap(b), 16<<10))
			}
			n, rerr := r.Read(b[len(b):cap(b)])
			b = b[:len(b)+n]
			if len(b) > limit {
				putBodyBuf(bp)
				s.refuseBody(ctx, "request body exceeds the size limit (LSMVEC_MAX_BODY)")
				return nil, false
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				err = rerr
				break
			}
		}
	}
	*bp = b
	if err != nil {
		putBodyBuf(bp)
		ctx.SetConnectionClose()
		writeErrorBody(ctx, fasthttp.StatusBadRequest, "bad_request", "cannot read request body: "+err.Error(), 0)
		return nil, false
	}
	ctx.Request.SetBodyRaw(b)
	return bp, true
}

func putBodyBuf(bp *[]byte) {
	if bp == nil || cap(*bp) > 4<<20 {
		return // do not pin huge buffers
	}
	*bp = (*bp)[:0]
	bodyBufPool.Put(bp)
}

// refuseBody answers 413 without reading the body, and closes the
// connection after the response (the unread body cannot be skipped).
func (s *Server) refuseBody(ctx *fasthttp.RequestCtx, msg string) {
	ctx.SetConnectionClose()
	writeErrorBody(ctx, fasthttp.StatusRequestEntityTooLarge, "payload_too_large", msg, 0)
}

// headerUint parses a request header holding a decimal integer in
// [lo, hi]; present is false when the header is absent.
func headerUint(ctx *fasthttp.RequestCtx, name string, lo, hi int) (v int, present bool, err error) {
	raw := ctx.Request.Header.Peek(name)
	if raw == nil {
		return 0, false, nil
	}
	raw = bytes.TrimSpace(raw)
	u, ok := parseU64(raw)
	if !ok || u < uint64(lo) || u > uint64(hi) {
		return 0, true, invalid("invalid_header", "header "+name+" must be an integer in ["+
			strconv.Itoa(lo)+", "+strconv.Itoa(hi)+"], got "+strconv.Quote(string(raw)))
	}
	return int(u), true, nil
}

// v1BulkBuild serves POST /v1/build/bulk: headers X-LSMVec-N, X-LSMVec-Dim
// and optionally X-LSMVec-Threads (0 or absent: every core); the body is
// exactly N·Dim·4 bytes of little-endian float32, optionally followed by a
// JSON array of N payload objects or nulls. Ids are 0..N-1. Only on an
// empty collection (409 db_not_empty). → 200 {"n", "payloads",
// "elapsed_ms", "vectors_per_sec", "threads"} once everything is durable.
//
// Headers, sizes and the collection are checked before any byte of the
// body is read; the body then streams into store.Collection.BulkLoad, which
// removes everything it wrote if the body turns out wrong (short, a
// non-finite value, bad payloads): 400 and nothing stored. The connection
// is closed after the response (readBody), since an error may leave the
// body unread. The elapsed time runs
// from the handler's start (headers received) to the durable end.
func (s *Server) v1BulkBuild(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	if err := s.v1BulkBuildErr(ctx, start); err != nil {
		s.writeError(ctx, err)
	}
}

func (s *Server) v1BulkBuildErr(ctx *fasthttp.RequestCtx, start time.Time) error {
	n, okN, err := headerUint(ctx, "X-LSMVec-N", 1, 1<<40)
	if err != nil {
		return err
	}
	dim, okDim, err := headerUint(ctx, "X-LSMVec-Dim", 1, store.MaxDim)
	if err != nil {
		return err
	}
	if !okN || !okDim {
		return invalid("invalid_header", "headers X-LSMVec-N (vectors) and X-LSMVec-Dim (dimension) are required")
	}
	threads, _, err := headerUint(ctx, "X-LSMVec-Threads", 0, maxBulkThreads)
	if err != nil {
		return err
	}
	if int64(n) > s.opts.MaxBulkBytes/int64(4*dim) {
		return newError(ErrTooLarge, "payload_too_large", strconv.Itoa(n)+" vectors of dimension "+
			strconv.Itoa(dim)+" exceed the bulk size limit (LSMVEC_MAX_BULK_BYTES)")
	}
	want := n * dim * 4
	if cl := ctx.Request.Header.ContentLength(); cl >= 0 && cl < want {
		return invalid("invalid_body", "the body has "+strconv.Itoa(cl)+" bytes; "+strconv.Itoa(n)+" vectors of dimension "+
			strconv.Itoa(dim)+" need "+strconv.Itoa(want)+" (N·Dim·4, little-endian float32), optionally followed by a JSON array of payloads")
	}
	c, err := s.v1Existing()
	if err != nil {
		return err
	}
	if c != nil {
		if c.Dim() != dim {
			return dimMismatch(dim, c.Dim())
		}
		info, err := c.Info()
		if err != nil {
			return err
		}
		if info.Size > 0 {
			return newError(ErrConflict, "db_not_empty", "the collection holds "+strconv.FormatInt(info.Size, 10)+
				" vectors; a bulk build needs an empty one")
		}
	} else if c, err = s.v1Ensure(dim); err != nil {
		return err
	}
	var r io.Reader = ctx.RequestBodyStream()
	if r == nil {
		r = bytes.NewReader(ctx.PostBody())
	} else if ctx.Request.Header.ContentLength() < 0 {
		r = &capReader{r: r, left: s.opts.MaxBulkBytes}
	}
	res, err := c.BulkLoad(r, n, threads)
	if err != nil {
		if errors.Is(err, store.ErrNotEmpty) {
			return &apiError{kind: ErrConflict, code: "db_not_empty", msg: err.Error(), cause: err}
		}
		return err
	}
	el := time.Since(start)
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"n":`...)
	b = strconv.AppendInt(b, int64(res.N), 10)
	b = append(b, `,"payloads":`...)
	b = strconv.AppendInt(b, int64(res.Payloads), 10)
	b = append(b, `,"elapsed_ms":`...)
	b = strconv.AppendFloat(b, float64(el.Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"vectors_per_sec":`...)
	b = strconv.AppendFloat(b, float64(res.N)/max(el.Seconds(), 1e-9), 'f', 1, 64)
	b = append(b, `,"threads":`...)
	b = strconv.AppendInt(b, int64(res.Threads), 10)
	b = append(b, '}')
	*bp = b
	writeJSONRaw(ctx, b)
	return nil
}

// capReader fails a chunked bulk body that runs past the bulk size limit.
type capReader struct {
	r    io.Reader
	left int64
}

var errBulkTooLarge = newError(ErrTooLarge, "payload_too_large", "request body exceeds the bulk size limit (LSMVEC_MAX_BULK_BYTES)")

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			return 0, errBulkTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
