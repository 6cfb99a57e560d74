package server

import (
	"errors"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
	"github.com/lsmvec/lsmvec/store/filter"
)

// v1SearchReq is a parsed POST /v1/search body. vec aliases pooled scratch;
// filter aliases the request body.
type v1SearchReq struct {
	vec    []float32
	k, ef  int
	filter []byte // raw filter text; nil when absent or null
}

// parseV1Search parses {"vector", "k"?, "ef_search"?, "filter"?} into r,
// appending the vector to r.vec. Other members are ignored; a member given
// twice is an error. k defaults to 10 and must be in [1, 10000]; ef_search,
// when given, must be in [1, 65536]. It allocates nothing once r.vec has
// grown.
func parseV1Search(body []byte, r *v1SearchReq) error {
	r.k, r.ef, r.filter = defaultSearchLimit, 0, nil
	n0 := len(r.vec)
	var seenVec, seenK, seenEf, seenFilter bool
	err := forEachMember(body, func(key, val []byte) error {
		switch {
		case keyIs(key, "vector"):
			if seenVec {
				return errTwice("vector")
			}
			seenVec = true
			var err error
			r.vec, err = parseVectorRaw(r.vec[:n0], val)
			return err
		case keyIs(key, "k"):
			if seenK {
				return errTwice("k")
			}
			seenK = true
			if isJSONNull(val) {
				return nil
			}
			k, ok := jsonSmallInt(val)
			if !ok || k < 1 || k > maxSearchLimit {
				return errKRange
			}
			r.k = k
		case keyIs(key, "ef_search"):
			if seenEf {
				return errTwice("ef_search")
			}
			seenEf = true
			if isJSONNull(val) {
				return nil
			}
			ef, ok := jsonSmallInt(val)
			if !ok || ef < 1 || ef > maxEfSearch {
				return errEfRange
			}
			r.ef = ef
		case keyIs(key, "filter"):
			if seenFilter {
				return errTwice("filter")
			}
			seenFilter = true
			if !isJSONNull(val) {
				r.filter = val
			}
		}
		return nil
	})
	if err != nil {
		var ae *apiError
		switch {
		case errors.As(err, &ae):
			return err
		case errors.Is(err, errJSONDepth):
			// Only a filter nests deeply in a search body.
			return invalid("bad_filter", "cannot compile filter: nesting deeper than "+strconv.Itoa(filter.MaxFilterDepth))
		}
		return jsonBodyError(err)
	}
	if !seenVec {
		return invalid("invalid_vector", "missing \"vector\"")
	}
	if len(r.vec) == n0 {
		return errEmptyVector("")
	}
	if r.ef > 0 {
		r.ef = max(r.ef, r.k)
	}
	return nil
}

var (
	errKRange  = invalid("invalid_argument", "k must be an integer in [1, 10000]")
	errEfRange = invalid("invalid_argument", "ef_search must be an integer in [1, 65536]")
)

func errTwice(member string) error {
	return invalid("invalid_argument", strconv.Quote(member)+" is given twice")
}

// jsonSmallInt parses raw JSON text that is a plain non-negative integer
// below 2^31 (no sign, fraction or exponent; 10.0 is refused).
func jsonSmallInt(raw []byte) (int, bool) {
	if len(raw) == 0 || len(raw) > 10 || raw[0] == '0' && len(raw) > 1 {
		return 0, false
	}
	n := 0
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n < 1<<31
}

// v1SearchScratch is the pooled memory of a /v1 search.
type v1SearchScratch struct {
	req v1SearchReq
	res []store.Result
	out []byte
}

var v1SearchPool = sync.Pool{New: func() any { return new(v1SearchScratch) }}

// v1Search serves POST /v1/search {"vector", "k"=10, "ef_search"?,
// "filter"?} → {"results": [{"id", "distance"}, ...]}, ascending by
// distance; an empty (or not yet created) collection gives []. The filter is
// compiled once per request (store/filter: 8 KiB, depth 32, else 400
// bad_filter) and the search returns k results whenever k live vectors
// match. Without a filter it allocates nothing once warm.
func (s *Server) v1Search(ctx *fasthttp.RequestCtx) {
	sc := v1SearchPool.Get().(*v1SearchScratch)
	defer func() {
		if cap(sc.out) > 4<<20 || cap(sc.req.vec) > 1<<20 {
			*sc = v1SearchScratch{} // do not pin huge buffers in the pool
		}
		sc.req.filter = nil // aliases the request body
		v1SearchPool.Put(sc)
	}()
	sc.req.vec = sc.req.vec[:0]
	if err := parseV1Search(ctx.PostBody(), &sc.req); err != nil {
		s.writeError(ctx, err)
		return
	}
	var f *filter.Filter
	if sc.req.filter != nil {
		var err error
		if f, err = filter.Compile(sc.req.filter); err != nil {
			s.writeError(ctx, err)
			return
		}
	}
	c, err := s.v1Existing()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	sc.res = sc.res[:0]
	if c != nil {
		sc.res, err = c.SearchWhere(sc.req.vec, sc.req.k, sc.req.ef, f, sc.res)
	} else if s.opts.Dim != 0 && len(sc.req.vec) != s.opts.Dim {
		err = dimMismatch(len(sc.req.vec), s.opts.Dim)
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	sc.out = AppendV1SearchJSON(sc.out[:0], sc.res)
	ctx.SetContentType("application/json")
	ctx.SetBody(sc.out)
}

// AppendV1SearchJSON appends results as the /v1 search response,
// {"results":[{"id":N,"distance":D},...]}, to dst and returns the extended
// slice. Ids are JSON numbers (full u64); distances the shortest decimal
// that round-trips the float32. It retains neither slice and is safe for
// concurrent use.
func AppendV1SearchJSON(dst []byte, res []store.Result) []byte {
	dst = append(dst, `{"results":[`...)
	for i, r := range res {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = strconv.AppendUint(dst, r.ID, 10)
		dst = append(dst, `,"distance":`...)
		dst = appendFloat32(dst, r.Distance)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}
