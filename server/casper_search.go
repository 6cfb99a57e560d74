package server

import (
	"encoding/binary"
	"math"
	"strconv"
	"sync"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

// Search limits (SPEC.md): limit defaults to 10 and may not exceed 10 000;
// ef_search defaults to max(limit, 64) (the index's ef_search) and is raised
// to limit when smaller.
const (
	defaultSearchLimit = 10
	maxSearchLimit     = 10000
	maxEfSearch        = 1 << 16
)

// searchScratch is the per-request memory of a search, pooled so that a
// search allocates nothing once warm. It must not be retained after it is
// put back.
type searchScratch struct {
	vec []float32
	res []store.Result
	out []byte
}

var searchPool = sync.Pool{New: func() any { return new(searchScratch) }}

var (
	outputBin  = []byte("bin")
	outputJSON = []byte("json")
)

// casperSearch serves POST /collection/{name}/search?limit=&output=&ef_search=
// with body {"vector": [...]}. It is the hot path: no reflection, no
// allocation once warm (pinned by TestSearchHandlerAllocs).
func (s *Server) casperSearch(ctx *fasthttp.RequestCtx) {
	name := casperSearchName(ctx.Path())
	if name == nil {
		s.writeError(ctx, newError(ErrNotFound, "route_not_found", "no route for "+string(ctx.Path())))
		return
	}
	limit, ok, err := queryUint(ctx, "limit", 32)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if !ok {
		limit = defaultSearchLimit
	}
	if limit < 1 || limit > maxSearchLimit {
		s.writeError(ctx, invalid("invalid_argument", "limit must be in [1, 10000]"))
		return
	}
	ef, ok, err := queryUint(ctx, "ef_search", 32)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if ok && (ef < 1 || ef > maxEfSearch) {
		s.writeError(ctx, invalid("invalid_argument", "ef_search must be in [1, 65536]"))
		return
	}
	if ok {
		ef = max(ef, limit)
	}
	bin := false
	switch out := ctx.QueryArgs().Peek("output"); {
	case len(out) == 0 || string(out) == string(outputJSON):
	case string(out) == string(outputBin):
		bin = true
	default:
		s.writeError(ctx, invalid("invalid_argument", "output must be json or bin"))
		return
	}

	sc := searchPool.Get().(*searchScratch)
	defer searchPool.Put(sc)
	sc.vec, err = parseSearchBody(sc.vec[:0], ctx.PostBody())
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	c, err := s.db.Collection(b2s(name))
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	sc.res, err = c.Search(sc.vec, int(limit), int(ef), nil, sc.res[:0])
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if bin {
		sc.out = AppendSearchBin(sc.out[:0], sc.res)
		ctx.SetContentType("application/octet-stream")
	} else {
		sc.out = AppendSearchJSON(sc.out[:0], sc.res)
		ctx.SetContentType("application/json")
	}
	ctx.SetBody(sc.out)
	if cap(sc.out) > 4<<20 || cap(sc.vec) > 1<<20 {
		*sc = searchScratch{} // do not pin huge buffers in the pool
	}
}

// AppendSearchJSON appends results as the Casper JSON search response,
// [[id, distance], ...], to dst and returns the extended slice. Ids are
// written as u32 (Casper ids); distances as the shortest decimal that
// round-trips the float32. It retains neither slice and is safe for
// concurrent use.
func AppendSearchJSON(dst []byte, res []store.Result) []byte {
	dst = append(dst, '[')
	for i, r := range res {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = strconv.AppendUint(dst, uint64(uint32(r.ID)), 10)
		dst = append(dst, ',')
		dst = appendFloat32(dst, r.Distance)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// AppendSearchBin appends results as the Casper binary search response to
// dst: u32 LE count, then count × (u32 LE id, f32 LE distance). It retains
// neither slice and is safe for concurrent use.
func AppendSearchBin(dst []byte, res []store.Result) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(res)))
	for _, r := range res {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(r.ID))
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(r.Distance))
	}
	return dst
}

// b2s views b as a string without copying. The string must not be used
// after b changes (for request bytes: after the handler returns) and must
// not be retained.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
