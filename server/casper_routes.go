package server

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

// casperRoutes registers the Casper family (SPEC.md, "Casper family"; the
// seed's casper-api.txt). Routes that take no body ignore whatever body and
// Content-Type arrive.
func (s *Server) casperRoutes() {
	s.handle("GET", "/collections", "casper_list_collections", accessRead, s.casperListCollections)
	s.handle("POST", "/collection/{name}", "casper_create_collection", accessWrite, s.casperCreateCollection)
	s.handle("GET", "/collection/{name}", "casper_get_collection", accessRead, s.casperGetCollection)
	s.handle("DELETE", "/collection/{name}", "casper_delete_collection", accessWrite, s.casperDeleteCollection)
	s.handle("POST", "/collection/{name}/insert", "casper_insert", accessWrite, s.casperInsert)
	s.handle("DELETE", "/collection/{name}/delete", "casper_delete", accessWrite, s.casperDelete)
	s.handle("POST", "/collection/{name}/update", "casper_update", accessWrite, s.casperUpdate)
	s.handle("POST", "/collection/{name}/mute", "casper_mute", accessWrite, s.casperMute(true))
	s.handle("POST", "/collection/{name}/unmute", "casper_unmute", accessWrite, s.casperMute(false))
	s.handle("POST", "/collection/{name}/index", "casper_create_index", accessWrite, s.casperCreateIndex)
	s.handle("DELETE", "/collection/{name}/index", "casper_delete_index", accessWrite, s.casperDeleteIndex)
	s.searchHandler = s.wrap("casper_search", accessRead, s.casperSearch)
	s.router.Handle("POST", "/collection/{name}/search", s.searchHandler)
	s.handle("GET", "/collection/{name}/vector/{id}", "casper_get_vector", accessRead, s.casperGetVector)

	s.handle("GET", "/matrix/list", "casper_list_matrices", accessRead, s.casperListMatrices)
	s.handle("GET", "/matrix/{name}", "casper_get_matrix", accessRead, s.casperGetMatrix)
	s.handle("DELETE", "/matrix/{name}", "casper_delete_matrix", accessWrite, s.casperDeleteMatrix)

	s.handle("GET", "/pq/list", "casper_list_pqs", accessRead, s.casperListPQs)
	s.handle("POST", "/pq/{name}", "casper_create_pq", accessWrite, s.casperCreatePQ)
	s.handle("GET", "/pq/{name}", "casper_get_pq", accessRead, s.casperGetPQ)
	s.handle("DELETE", "/pq/{name}", "casper_delete_pq", accessWrite, s.casperDeletePQ)
	s.handle("POST", "/pq/{name}/train", "casper_train_pq", accessWrite, s.casperTrainPQ)
}

var (
	collectionPrefix = []byte("/collection/")
	searchSuffix     = []byte("/search")
)

// casperSearchName returns the collection name of a POST
// /collection/{name}/search path, or nil. The top-level dispatch uses it to
// send searches past the router, whose path parameters allocate.
func casperSearchName(path []byte) []byte {
	if !bytes.HasPrefix(path, collectionPrefix) || !bytes.HasSuffix(path, searchSuffix) {
		return nil
	}
	name := path[len(collectionPrefix) : len(path)-len(searchSuffix)]
	if len(name) == 0 || bytes.IndexByte(name, '/') >= 0 {
		return nil
	}
	return name
}

// pathParam returns the router's path parameter key.
func pathParam(ctx *fasthttp.RequestCtx, key string) string {
	v, _ := ctx.UserValue(key).(string)
	return v
}

// collection returns the collection named by the {name} path parameter.
func (s *Server) collection(ctx *fasthttp.RequestCtx) (*store.Collection, error) {
	return s.db.Collection(pathParam(ctx, "name"))
}

// queryUint parses query argument key as an unsigned integer of at most
// bits bits. present is false when the argument is absent or empty.
func queryUint(ctx *fasthttp.RequestCtx, key string, bits int) (v uint64, present bool, err error) {
	raw := ctx.QueryArgs().Peek(key)
	if len(raw) == 0 {
		return 0, false, nil
	}
	v, err = strconv.ParseUint(b2s(raw), 10, bits)
	if err != nil {
		return 0, true, invalid("invalid_argument", "query parameter "+key+" must be an unsigned integer below 2^"+strconv.Itoa(bits))
	}
	return v, true, nil
}

// writeJSONRaw writes a ready JSON body with status 200.
func writeJSONRaw(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

var okBody = []byte(`{"status":"ok"}`)

func writeOK(ctx *fasthttp.RequestCtx) { writeJSONRaw(ctx, okBody) }
