package server

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

// bulkReadTimeout is the read deadline of a request to a route with its own
// body limit (the bulk build): its body streams into the index build, which
// may take hours for gigabytes, far past Options.ReadTimeout. The route
// needs a read-write key.
const bulkReadTimeout = 24 * time.Hour

// maxBulkThreads bounds X-LSMVec-Threads.
const maxBulkThreads = 1024

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
