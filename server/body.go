package server

import (
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
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
	// Read Content-Length bytes, or a chunked body to its end but at most
	// limit+1 bytes (one more tells it is over). The buffer grows with the
	// bytes that arrive, never ahead of them by more than bodyGrowAhead: a
	// client that announces MaxBody and sends nothing must not make the
	// server allocate MaxBody.
	want := cl
	if cl < 0 {
		want = limit + 1
	}
	var err error
	for len(b) < want {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(want-len(b), max(cap(b), bodyGrowAhead)))
		}
		n, rerr := r.Read(b[len(b):min(cap(b), want)])
		b = b[:len(b)+n]
		if rerr == io.EOF {
			if cl >= 0 && len(b) < cl {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	if err == nil && len(b) > limit { // only a chunked body gets here
		putBodyBuf(bp)
		s.refuseBody(ctx, "request body exceeds the size limit (LSMVEC_MAX_BODY)")
		return nil, false
	}
	*bp = b
	if err != nil {
		putBodyBuf(bp)
		ctx.SetConnectionClose()
		var te interface{ Timeout() bool }
		if errors.As(err, &te) && te.Timeout() {
			writeErrorBody(ctx, fasthttp.StatusRequestTimeout, "timeout", "request body not received within the read timeout", 0)
			return nil, false
		}
		writeErrorBody(ctx, fasthttp.StatusBadRequest, "bad_request", "cannot read request body: "+err.Error(), 0)
		return nil, false
	}
	ctx.Request.SetBodyRaw(b)
	return bp, true
}

// bodyGrowAhead is how far readBody's buffer may grow ahead of the bytes
// received when a Content-Length announces more.
const bodyGrowAhead = 64 << 10

func putBodyBuf(bp *[]byte) {
	if bp == nil || cap(*bp) > 4<<20 {
		return // do not pin huge buffers
	}
	*bp = (*bp)[:0]
	bodyBufPool.Put(bp)
}

// refuseBody answers 413 and closes the connection after the response
// (the unread body cannot be skipped). A body not far over the limit is
// drained first, so that the client reads the 413 (see lingerBody).
func (s *Server) refuseBody(ctx *fasthttp.RequestCtx, msg string) {
	ctx.SetConnectionClose()
	if ctx.Request.Header.ContentLength() <= lingerMaxBytes {
		lingerBody(ctx)
	}
	writeErrorBody(ctx, fasthttp.StatusRequestEntityTooLarge, "payload_too_large", msg, 0)
}

// A response sent while the client is still writing its body, followed by
// a close, makes the kernel answer the client's next segments with a TCP
// reset; the reset can reach the client before it has read the response,
// which it then never sees ("connection reset by peer" instead of 401 or
// 413). lingerBody reads and discards what is left of a streamed body, up
// to lingerMaxBytes and for at most lingerTimeout, before the response is
// written, as HTTP servers do on an early refusal. A longer or slower body
// is abandoned: the connection closes and that client may see the reset.
const (
	lingerMaxBytes = 4 << 20
	lingerTimeout  = 2 * time.Second
)

func lingerBody(ctx *fasthttp.RequestCtx) {
	if !ctx.Request.IsBodyStream() {
		return
	}
	if c := ctx.Conn(); c != nil {
		_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
	}
	_, _ = io.CopyN(io.Discard, ctx.RequestBodyStream(), lingerMaxBytes)
}
