package server

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

// maxBatchItems bounds POST /v1/vectors/batch.
const maxBatchItems = 100000

// v1Item is one parsed {"id", "vector", "metadata"?} object. vec and meta
// alias the request body or the caller's scratch; they must not be retained
// after the handler returns.
type v1Item struct {
	id      uint64
	vec     []float32
	meta    []byte // the payload's raw JSON; nil when absent or null
	hasMeta bool   // "metadata" present and not null
}

// parseV1Item parses one item object, appending its vector to vecs (the
// returned slice; the item's vec is vecs[len(vecs) before:]). Members other
// than id, vector and metadata are ignored; a member given twice is an
// error. metadata null counts as absent (the payload is kept).
func parseV1Item(obj []byte, vecs []float32, it *v1Item, where string) ([]float32, error) {
	*it = v1Item{}
	var seenID, seenVec, seenMeta bool
	n0 := len(vecs)
	err := forEachMember(obj, func(key, val []byte) error {
		switch {
		case keyIs(key, "id"):
			if seenID {
				return invalid("invalid_argument", where+"\"id\" is given twice")
			}
			seenID = true
			id, err := parseJSONID(val, where+"\"id\"")
			it.id = id
			return err
		case keyIs(key, "vector"):
			if seenVec {
				return invalid("invalid_argument", where+"\"vector\" is given twice")
			}
			seenVec = true
			var err error
			vecs, err = parseVectorRaw(vecs, val)
			if err != nil {
				return prefixError(err, where)
			}
			return nil
		case keyIs(key, "metadata"):
			if seenMeta {
				return invalid("invalid_argument", where+"\"metadata\" is given twice")
			}
			seenMeta = true
			if isJSONNull(val) {
				return nil
			}
			if err := checkPayloadRaw(val, where+"\"metadata\""); err != nil {
				return err
			}
			it.meta, it.hasMeta = val, true
		}
		return nil
	})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return vecs[:n0], err
		}
		if errors.Is(err, errNotObject) && where != "" {
			return vecs[:n0], invalid("invalid_argument", where+"must be a JSON object")
		}
		return vecs[:n0], jsonBodyError(err)
	}
	switch {
	case !seenID:
		return vecs[:n0], invalid("invalid_id", where+"missing \"id\"")
	case !seenVec:
		return vecs[:n0], invalid("invalid_vector", where+"missing \"vector\"")
	case len(vecs) == n0:
		return vecs[:n0], errEmptyVector(where)
	}
	it.vec = vecs[n0:len(vecs):len(vecs)]
	return vecs, nil
}

func errEmptyVector(where string) error {
	return invalid("invalid_vector", where+"\"vector\" is empty")
}

// prefixError prefixes an apiError's message with where.
func prefixError(err error, where string) error {
	var ae *apiError
	if where == "" || !errors.As(err, &ae) {
		return err
	}
	cp := *ae
	cp.msg = where + cp.msg
	return &cp
}

// checkPayloadRaw checks a payload's raw JSON (already validated as JSON):
// an object of at most store.MaxPayloadBytes bytes.
func checkPayloadRaw(val []byte, what string) error {
	if len(val) == 0 || val[0] != '{' {
		return invalid("invalid_payload", what+" must be a JSON object")
	}
	if len(val) > store.MaxPayloadBytes {
		return newError(ErrTooLarge, "payload_too_large", what+" has "+strconv.Itoa(len(val))+
			" bytes; a payload may have at most "+strconv.Itoa(store.MaxPayloadBytes))
	}
	return nil
}

// parseVectorRaw appends the float32 elements of the raw JSON array text
// raw to dst: a single pass over the numbers, falling back to fastjson for
// anything unusual (and for the error message).
func parseVectorRaw(dst []float32, raw []byte) ([]float32, error) {
	n0 := len(dst)
	if out, ok := parseFloatArray(dst, raw); ok {
		return out, nil
	}
	p := parserPool.Get()
	defer parserPool.Put(p)
	v, err := p.ParseBytes(raw)
	if err != nil {
		return dst[:n0], invalid("invalid_vector", "\"vector\" must be an array of numbers")
	}
	return parseVector(dst[:n0], v)
}

// parseFloatArray reads exactly `[n, n, ...]` (JSON whitespace allowed)
// and appends the numbers as finite float32 (see parseNumberAt). It reports
// false for anything else, with dst's contents past its original length
// unspecified.
func parseFloatArray(dst []float32, b []byte) ([]float32, bool) {
	n0 := len(dst)
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return dst[:n0], false
	}
	dst, i, ok := appendNumberList(dst, n0, b, skipWS(b, i+1))
	if !ok {
		return dst[:n0], false
	}
	return dst, skipWS(b, i) == len(b)
}

// v1Insert serves POST /v1/vectors {"id", "vector", "metadata"?} → 201
// {"id"}. An existing id is replaced; metadata present replaces the
// payload, absent (or null) keeps it. The vector and the payload are
// written in one durable batch.
func (s *Server) v1Insert(ctx *fasthttp.RequestCtx) {
	vp := vecPool.Get().(*[]float32)
	defer vecPool.Put(vp)
	var it v1Item
	var err error
	*vp, err = parseV1Item(ctx.PostBody(), (*vp)[:0], &it, "")
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	c, err := s.v1Ensure(len(it.vec))
	if err == nil {
		if it.hasMeta {
			err = c.PutWithPayload(it.id, it.vec, it.meta)
		} else {
			err = c.Put(it.id, it.vec)
		}
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.writeV1ID(ctx, fasthttp.StatusCreated, it.id)
}

func (s *Server) writeV1ID(ctx *fasthttp.RequestCtx, status int, id uint64) {
	var b [48]byte
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(appendV1ID(b[:0], id))
}

// v1InsertBatch serves POST /v1/vectors/batch {"items": [{"id", "vector",
// "metadata"?}, ...]} → 200 {"ids": [...]} in item order. The whole batch is
// validated first (every item as for POST /v1/vectors, no id twice, every
// vector of the collection's dimension, at most maxBatchItems items) and
// then applied in one atomic, durable write: all of it or none of it.
func (s *Server) v1InsertBatch(ctx *fasthttp.RequestCtx) {
	var (
		items   []v1Item
		flat    []float32
		seenArr bool
	)
	err := forEachMember(ctx.PostBody(), func(key, val []byte) error {
		if !keyIs(key, "items") {
			return nil
		}
		if seenArr {
			return invalid("invalid_argument", "\"items\" is given twice")
		}
		seenArr = true
		var ends []int
		err := forEachElement(val, func(i int, elem []byte) error {
			if i >= maxBatchItems {
				return invalid("too_many_items", "a batch may hold at most "+strconv.Itoa(maxBatchItems)+" items")
			}
			var it v1Item
			var err error
			flat, err = parseV1Item(elem, flat, &it, "items["+strconv.Itoa(i)+"]: ")
			if err != nil {
				return err
			}
			items = append(items, it)
			ends = append(ends, len(flat))
			return nil
		})
		if errors.Is(err, errNotArray) {
			return invalid("invalid_argument", "\"items\" must be an array")
		}
		// Slice the vectors only now: flat moves while it grows.
		start := 0
		for i, end := range ends {
			items[i].vec = flat[start:end:end]
			start = end
		}
		return err
	})
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			err = jsonBodyError(err)
		}
		s.writeError(ctx, err)
		return
	}
	if !seenArr || len(items) == 0 {
		s.writeError(ctx, invalid("invalid_argument", "\"items\" must be a non-empty array"))
		return
	}
	dim := len(items[0].vec)
	seen := make(map[uint64]int, len(items))
	for i, it := range items {
		if j, dup := seen[it.id]; dup {
			s.writeError(ctx, invalid("duplicate_id", "items["+strconv.Itoa(j)+"] and items["+strconv.Itoa(i)+"] have the same id "+strconv.FormatUint(it.id, 10)))
			return
		}
		seen[it.id] = i
		if len(it.vec) != dim {
			s.writeError(ctx, invalid("dim_mismatch", "items["+strconv.Itoa(i)+"] has dimension "+strconv.Itoa(len(it.vec))+", items[0] "+strconv.Itoa(dim)))
			return
		}
		if err := checkFinite(it.vec); err != nil {
			s.writeError(ctx, prefixError(err, "items["+strconv.Itoa(i)+"]: "))
			return
		}
	}
	c, err := s.v1Ensure(dim)
	if err == nil && c.Dim() != dim {
		err = dimMismatch(dim, c.Dim())
	}
	if err == nil {
		err = v1ApplyBatch(c, items)
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"ids":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, it.id, 10)
	}
	b = append(b, "]}"...)
	*bp = b
	writeJSONRaw(ctx, b)
}

// v1Get serves GET /v1/vectors/{id} → {"id", "vector"} with the exact
// floats stored; 404 when absent.
func (s *Server) v1Get(ctx *fasthttp.RequestCtx) {
	id, err := pathID(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	c, err := s.v1Existing()
	if err == nil && c == nil {
		err = vectorNotFound(id)
	}
	vp := vecPool.Get().(*[]float32)
	defer vecPool.Put(vp)
	if err == nil {
		*vp, err = c.Vector(id, (*vp)[:0])
	}
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

func vectorNotFound(id uint64) error {
	return newError(ErrNotFound, "", "vector "+strconv.FormatUint(id, 10)+" does not exist")
}

// v1Upsert serves PUT /v1/vectors/{id} {"vector"} → 200 {"id"}: insert or
// replace the vector; the payload is untouched.
func (s *Server) v1Upsert(ctx *fasthttp.RequestCtx) {
	id, err := pathID(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	vp := vecPool.Get().(*[]float32)
	defer vecPool.Put(vp)
	*vp, err = parseSearchBody((*vp)[:0], ctx.PostBody())
	if err == nil && len(*vp) == 0 {
		err = errEmptyVector("")
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	c, err := s.v1Ensure(len(*vp))
	if err == nil {
		err = c.Put(id, *vp)
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.writeV1ID(ctx, fasthttp.StatusOK, id)
}

// v1Delete serves DELETE /v1/vectors/{id} → 204, also when the id (or the
// collection) does not exist: a retried delete succeeds.
func (s *Server) v1Delete(ctx *fasthttp.RequestCtx) {
	id, err := pathID(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	c, err := s.v1Existing()
	if err == nil && c != nil {
		if err = c.Delete(id); errors.Is(err, store.ErrNotFound) {
			err = nil // the id was absent (or the collection just dropped)
		}
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// payloadTarget returns the collection and id of a payload route; 404 when
// the collection does not exist.
func (s *Server) payloadTarget(ctx *fasthttp.RequestCtx) (*store.Collection, uint64, error) {
	id, err := pathID(ctx)
	if err != nil {
		return nil, 0, err
	}
	c, err := s.v1Existing()
	if err == nil && c == nil {
		err = vectorNotFound(id)
	}
	return c, id, err
}

// v1GetPayload serves GET /v1/vectors/{id}/payload → the payload object
// ({} when none); 404 when the vector does not exist.
func (s *Server) v1GetPayload(ctx *fasthttp.RequestCtx) {
	c, id, err := s.payloadTarget(ctx)
	bp := getBuf()
	defer putBuf(bp)
	if err == nil {
		*bp, err = c.Payload(id, (*bp)[:0])
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSONRaw(ctx, *bp)
}

// readPayloadBody returns the request body checked as one JSON object of
// at most store.MaxPayloadBytes. Only JSON whitespace is trimmed
// (bytes.TrimSpace also took \v, \f, U+0085 and U+00A0, which FuzzV1Write's
// reference refuses; its seeds pin this).
func readPayloadBody(ctx *fasthttp.RequestCtx) ([]byte, error) {
	body := bytes.Trim(ctx.PostBody(), " \t\r\n")
	if len(body) > store.MaxPayloadBytes {
		return nil, checkPayloadRaw(body, "the payload")
	}
	end, err := skipJSONValue(body, 0)
	if err == nil && end != len(body) {
		err = syntaxAt(end)
	}
	if err != nil {
		return nil, jsonBodyError(err)
	}
	return body, checkPayloadRaw(body, "the payload")
}

// v1SetPayload serves PUT /v1/vectors/{id}/payload with the new payload
// object as the body → 200 and the stored payload; 404 when the vector does
// not exist.
func (s *Server) v1SetPayload(ctx *fasthttp.RequestCtx) {
	c, id, err := s.payloadTarget(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	p, err := readPayloadBody(ctx)
	if err == nil {
		err = c.SetPayload(id, p)
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSONRaw(ctx, p)
}

// v1PatchPayload serves PATCH /v1/vectors/{id}/payload with an RFC 7396
// merge patch (a JSON object; null members remove keys) as the body → 200
// and the patched payload; 404 when the vector does not exist. Patches that
// are not objects would replace the whole payload with a non-object, which
// a payload cannot be: 400.
func (s *Server) v1PatchPayload(ctx *fasthttp.RequestCtx) {
	c, id, err := s.payloadTarget(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	p, err := readPayloadBody(ctx)
	var out []byte
	if err == nil {
		out, err = c.PatchPayload(id, p)
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSONRaw(ctx, out)
}
