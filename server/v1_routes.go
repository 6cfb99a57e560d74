package server

import (
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

// The /v1 family (SPEC.md, "LSM-Vec family"; the seed's lsmvec-api.txt)
// works on one collection, Options.Collection, created on first write with
// an HNSW index (Options.Metric, M, M0, EfConstruction, EfSearch) and
// dimension Options.Dim, or the first vector's length when Dim is 0.
//
// Ids are u64. A request may write one as a JSON number or as a decimal
// string ("42"); responses always write a JSON number, as the spec's
// examples do. JavaScript clients lose precision above 2^53 when they parse
// such numbers into doubles: they should parse responses with a big-integer
// aware JSON reader or keep their ids below 2^53. Python, Go and Java
// clients read the full range.

// v1Routes registers the /v1 family and GET /ready.
func (s *Server) v1Routes() {
	s.handle("POST", "/v1/vectors", "v1_insert", accessWrite, s.v1Insert)
	s.handle("POST", "/v1/vectors/batch", "v1_insert_batch", accessWrite, s.v1InsertBatch)
	s.handle("PUT", "/v1/vectors/{id}", "v1_upsert", accessWrite, s.v1Upsert)
	s.handle("GET", "/v1/vectors/{id}", "v1_get", accessRead, s.v1Get)
	s.handle("DELETE", "/v1/vectors/{id}", "v1_delete", accessWrite, s.v1Delete)
	s.handle("GET", "/v1/vectors/{id}/payload", "v1_get_payload", accessRead, s.v1GetPayload)
	s.handle("PUT", "/v1/vectors/{id}/payload", "v1_set_payload", accessWrite, s.v1SetPayload)
	s.handle("PATCH", "/v1/vectors/{id}/payload", "v1_patch_payload", accessWrite, s.v1PatchPayload)
	s.handle("POST", "/v1/search", "v1_search", accessRead, s.v1Search)
	s.handle("POST", v1BulkPath, "v1_bulk_build", accessWrite, s.v1BulkBuild)
	s.setBodyLimit(v1BulkPath, s.opts.MaxBulkBytes)
	s.handle("GET", "/v1/stats", "v1_stats", accessRead, s.v1Stats)
	s.handle("GET", "/ready", "ready", accessRead, s.ready)
}

const v1BulkPath = "/v1/build/bulk"

// v1Config returns the configuration the /v1 collection is created with.
func (s *Server) v1Config(dim int) store.CollectionConfig {
	return store.CollectionConfig{
		Name:   s.opts.Collection,
		Dim:    dim,
		Family: store.FamilyV1,
		Index: &store.IndexConfig{
			Metric:         s.opts.Metric,
			M:              s.opts.M,
			M0:             s.opts.M0,
			EfConstruction: s.opts.EfConstruction,
			EfSearch:       s.opts.EfSearch,
		},
	}
}

// v1Existing returns the /v1 collection, or nil (and no error) when it does
// not exist yet.
func (s *Server) v1Existing() (*store.Collection, error) {
	c, err := s.db.Collection(s.opts.Collection)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c.Family() != store.FamilyV1 {
		return nil, newError(ErrConflict, "wrong_family", "collection "+strconv.Quote(c.Name())+
			" was created through the Casper API and cannot serve /v1 (set LSMVEC_COLLECTION to another name)")
	}
	return c, nil
}

// v1Ensure returns the /v1 collection, creating it when absent with
// Options.Dim or, when that is 0, with dim (the length of the vector being
// written). A dim that contradicts Options.Dim is refused before anything
// is created.
func (s *Server) v1Ensure(dim int) (*store.Collection, error) {
	c, err := s.v1Existing()
	if err != nil || c != nil {
		return c, err
	}
	want := s.opts.Dim
	if want == 0 {
		want = dim
	} else if dim != want {
		return nil, dimMismatch(dim, want)
	}
	c, err = s.db.EnsureCollection(s.v1Config(want))
	if err != nil {
		return nil, err
	}
	if c.Family() != store.FamilyV1 {
		return s.v1Existing() // lost a race with a Casper create: report it
	}
	return c, nil
}

func dimMismatch(got, want int) error {
	return newError(ErrInvalidArgument, "dim_mismatch", "vector has dimension "+strconv.Itoa(got)+
		", the collection "+strconv.Itoa(want))
}

// parseU64 parses an id given as text (a path segment or the contents of a
// JSON string): decimal digits only, at most 2^64-1. No sign, no
// fraction, no exponent, not empty; leading zeros are allowed ("007" is 7).
func parseU64(s []byte) (uint64, bool) {
	if len(s) == 0 || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	v, err := strconv.ParseUint(b2s(s), 10, 64)
	return v, err == nil
}

// parseJSONID parses an id member's raw JSON text: a JSON number that is a
// plain non-negative integer (no fraction, no exponent: 1.0 and 1e3 are
// refused) or a string of decimal digits, at most 2^64-1.
func parseJSONID(raw []byte, what string) (uint64, error) {
	bad := func() error {
		return invalid("invalid_id", what+" must be a u64: a non-negative integer (JSON number or decimal string) at most 18446744073709551615")
	}
	if len(raw) == 0 {
		return 0, bad()
	}
	if raw[0] == '"' {
		if len(raw) < 2 {
			return 0, bad()
		}
		s := raw[1 : len(raw)-1]
		v, ok := parseU64(s) // an escape is never a digit: refused
		if !ok {
			return 0, bad()
		}
		return v, nil
	}
	if raw[0] == '0' && len(raw) > 1 {
		return 0, bad() // "0.5", "0e1"
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, bad() // '-', '.', 'e', or not a number at all
		}
	}
	v, ok := parseU64(raw)
	if !ok {
		return 0, bad()
	}
	return v, nil
}

// pathID parses the {id} path parameter.
func pathID(ctx *fasthttp.RequestCtx) (uint64, error) {
	raw := pathParam(ctx, "id")
	v, ok := parseU64([]byte(raw))
	if !ok {
		return 0, invalid("invalid_id", "the id in the path must be a u64 in decimal (0 to 18446744073709551615), got "+strconv.Quote(raw))
	}
	return v, nil
}

// appendV1ID appends {"id":N}.
func appendV1ID(dst []byte, id uint64) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	return append(dst, '}')
}

// ready serves GET /ready: 200 {"status":"ok"} while the store is open and
// accepting writes and the /v1 collection, if it exists, is loaded; 503
// otherwise (the store closed or failed, or the server shutting down).
// store.Open returns only after every index is loaded (checkpoint plus log
// replay), so a Server exists only over loaded indexes; the check here
// catches the states after that.
func (s *Server) ready(ctx *fasthttp.RequestCtx) {
	s.mu.Lock()
	down := s.mu.shutdown
	s.mu.Unlock()
	if down {
		s.writeError(ctx, newError(ErrNotReady, "", "the server is shutting down"))
		return
	}
	if err := s.db.Err(); err != nil {
		s.writeError(ctx, notReady(err))
		return
	}
	c, err := s.v1Existing()
	if err == nil && c != nil {
		_, err = c.Stats()
	}
	if err != nil && !errors.Is(err, ErrConflict) {
		s.writeError(ctx, notReady(err))
		return
	}
	writeOK(ctx)
}

// notReady wraps err as a 503, whatever its own kind.
func notReady(err error) error {
	code := "not_ready"
	if errors.Is(err, store.ErrFailed) {
		code = "store_failed"
	}
	msg := "not ready: the store is closed"
	if code == "store_failed" {
		msg = "not ready: the store failed after an I/O error and refuses writes until it is reopened"
	} else if errors.Is(err, store.ErrNotFound) {
		msg = "not ready: the collection is being dropped"
	}
	return &apiError{kind: ErrNotReady, code: code, msg: msg, cause: err}
}
