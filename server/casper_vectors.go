package server

import (
	"math"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/lsmvec/lsmvec/store"
)

// vecPool holds float32 buffers for request vectors. A buffer must not be
// retained after it is put back.
var vecPool = sync.Pool{New: func() any { v := make([]float32, 0, 1024); return &v }}

// casperID parses a u32 id from query argument "id" (required).
func casperID(ctx *fasthttp.RequestCtx) (uint64, error) {
	id, ok, err := queryUint(ctx, "id", 32)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, invalid("invalid_argument", "query parameter id (u32) is required")
	}
	return id, nil
}

// jsonU32 reads v as an id: an integer in [0, 2^32).
func jsonU32(v *fastjson.Value) (uint64, bool) {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	f, err := v.Float64()
	if err != nil || f < 0 || f > math.MaxUint32 || f != math.Trunc(f) {
		return 0, false
	}
	return uint64(f), true
}

func (s *Server) casperInsert(ctx *fasthttp.RequestCtx) {
	c, err := s.collection(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	id, err := casperID(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	vp := vecPool.Get().(*[]float32)
	defer vecPool.Put(vp)
	*vp, err = parseSearchBody((*vp)[:0], ctx.PostBody())
	if err == nil {
		err = c.Put(id, *vp)
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	writeOK(ctx)
}

func (s *Server) casperDelete(ctx *fasthttp.RequestCtx) {
	c, err := s.collection(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	id, err := casperID(ctx)
	if err == nil {
		err = c.Delete(id)
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	writeOK(ctx)
}

// casperUpdate serves POST /collection/{name}/update:
// {"insert": [{"id", "vector"}, ...], "delete": [id, ...]}. The store
// validates the batch as a whole (duplicates, overlap, emptiness, vectors)
// and applies it atomically.
func (s *Server) casperUpdate(ctx *fasthttp.RequestCtx) {
	c, err := s.collection(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	p := parserPool.Get()
	defer parserPool.Put(p)
	v, err := p.ParseBytes(ctx.PostBody())
	if err != nil {
		s.writeError(ctx, invalid("invalid_json", "cannot parse body: "+err.Error()))
		return
	}
	if v.Type() != fastjson.TypeObject {
		s.writeError(ctx, invalid("invalid_json", "the body must be a JSON object"))
		return
	}
	var (
		inserts []store.Entry
		deletes []uint64
	)
	if iv := v.Get("insert"); iv != nil && iv.Type() != fastjson.TypeNull {
		arr, err := iv.Array()
		if err != nil {
			s.writeError(ctx, invalid("invalid_argument", "\"insert\" must be an array"))
			return
		}
		inserts = make([]store.Entry, 0, len(arr))
		ends := make([]int, 0, len(arr))
		var flat []float32
		for i, e := range arr {
			id, ok := jsonU32(e.Get("id"))
			if !ok {
				s.writeError(ctx, invalid("invalid_argument", "insert["+strconv.Itoa(i)+"].id must be a u32"))
				return
			}
			flat, err = parseVector(flat, e.Get("vector"))
			if err != nil {
				s.writeError(ctx, invalid("invalid_vector", "insert["+strconv.Itoa(i)+"]: "+err.Error()))
				return
			}
			ends = append(ends, len(flat))
			inserts = append(inserts, store.Entry{ID: id})
		}
		// Slice the vectors only now: flat moves while it grows.
		start := 0
		for i, end := range ends {
			inserts[i].Vector = flat[start:end:end]
			start = end
		}
	}
	if dv := v.Get("delete"); dv != nil && dv.Type() != fastjson.TypeNull {
		arr, err := dv.Array()
		if err != nil {
			s.writeError(ctx, invalid("invalid_argument", "\"delete\" must be an array"))
			return
		}
		deletes = make([]uint64, 0, len(arr))
		for i, e := range arr {
			id, ok := jsonU32(e)
			if !ok {
				s.writeError(ctx, invalid("invalid_argument", "delete["+strconv.Itoa(i)+"] must be a u32"))
				return
			}
			deletes = append(deletes, id)
		}
	}
	if len(inserts) == 0 && len(deletes) == 0 {
		s.writeError(ctx, invalid("invalid_argument", "at least one of \"insert\" and \"delete\" must be non-empty"))
		return
	}
	if err := checkJSON(ctx.PostBody()); err != nil {
		s.writeError(ctx, err) // valid for fastjson, not for RFC 8259
		return
	}
	if err := c.Update(inserts, deletes); err != nil {
		s.writeError(ctx, err)
		return
	}
	writeOK(ctx)
}

// casperGetVector serves GET /collection/{name}/vector/{id}: {"id", "vector"}.
func (s *Server) casperGetVector(ctx *fasthttp.RequestCtx) {
	c, err := s.collection(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	id, err := strconv.ParseUint(pathParam(ctx, "id"), 10, 32)
	if err != nil {
		s.writeError(ctx, invalid("invalid_argument", "the id must be a u32"))
		return
	}
	vp := vecPool.Get().(*[]float32)
	defer vecPool.Put(vp)
	*vp, err = c.Vector(id, (*vp)[:0])
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"vector":`...)
	b = appendFloat32s(b, *vp)
	b = append(b, '}')
	*bp = b
	writeJSONRaw(ctx, b)
}
