package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/store"
)

// casperInfo is the Casper collection description (GET /collection/{name}).
type casperInfo struct {
	Name      string           `json:"name"`
	Dimension int              `json:"dimension"`
	Mutable   bool             `json:"mutable"`
	HasIndex  bool             `json:"has_index"`
	MaxSize   int64            `json:"max_size"`
	Size      int64            `json:"size"`
	Index     *casperIndexInfo `json:"index"`
}

type casperIndexInfo struct {
	HNSW          casperHNSW `json:"hnsw"`
	Normalization bool       `json:"normalization"`
}

// casperHNSW is the "hnsw" object of both the index request and the info.
type casperHNSW struct {
	Metric         string `json:"metric"`
	Quantization   string `json:"quantization"`
	M              int    `json:"m"`
	M0             int    `json:"m0"`
	EfConstruction int    `json:"ef_construction"`
	EfSearch       int    `json:"ef_search,omitempty"`
	PQName         string `json:"pq_name,omitempty"`
}

func toCasperInfo(ci store.CollectionInfo) casperInfo {
	out := casperInfo{
		Name: ci.Name, Dimension: ci.Dim, Mutable: !ci.Muted, HasIndex: ci.Index != nil,
		MaxSize: ci.MaxSize, Size: ci.Size,
	}
	if ic := ci.Index; ic != nil {
		out.Index = &casperIndexInfo{
			HNSW: casperHNSW{
				Metric: ic.Metric, Quantization: ic.Quantization, M: ic.M, M0: ic.M0,
				EfConstruction: ic.EfConstruction, EfSearch: ic.EfSearch, PQName: ic.PQName,
			},
			Normalization: ic.Normalization,
		}
	}
	return out
}

// writeJSON encodes v with encoding/json (used off the hot paths, where
// clarity beats speed) and writes it with status 200.
func (s *Server) writeJSON(ctx *fasthttp.RequestCtx, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSONRaw(ctx, b)
}

func (s *Server) casperListCollections(ctx *fasthttp.RequestCtx) {
	infos := s.db.Collections()
	out := struct {
		Collections []casperInfo `json:"collections"`
	}{Collections: make([]casperInfo, 0, len(infos))}
	for _, ci := range infos {
		out.Collections = append(out.Collections, toCasperInfo(ci))
	}
	s.writeJSON(ctx, out)
}

func (s *Server) casperCreateCollection(ctx *fasthttp.RequestCtx) {
	name := pathParam(ctx, "name")
	if !validName(name) {
		s.writeError(ctx, invalid("invalid_name", "collection name must match [A-Za-z0-9_-]{1,128}"))
		return
	}
	dim, ok, err := queryUint(ctx, "dim", 32)
	if err == nil && (!ok || dim < 1 || dim > store.MaxDim) {
		err = invalid("invalid_argument", "query parameter dim is required, in [1, "+strconv.Itoa(store.MaxDim)+"]")
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	maxSize, ok, err := queryUint(ctx, "max_size", 63)
	if err == nil && (!ok || maxSize < 1) {
		err = invalid("invalid_argument", "query parameter max_size is required and must be >= 1")
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	c, err := s.db.CreateCollection(store.CollectionConfig{
		Name: name, Dim: int(dim), MaxSize: int64(maxSize), Family: store.FamilyCasper,
	})
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	info, err := c.Info()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.writeJSON(ctx, toCasperInfo(info))
}

func (s *Server) casperGetCollection(ctx *fasthttp.RequestCtx) {
	c, err := s.collection(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	info, err := c.Info()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.writeJSON(ctx, toCasperInfo(info))
}

func (s *Server) casperDeleteCollection(ctx *fasthttp.RequestCtx) {
	if err := s.db.DropCollection(pathParam(ctx, "name")); err != nil {
		s.writeError(ctx, err)
		return
	}
	writeOK(ctx)
}

func (s *Server) casperMute(muted bool) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		c, err := s.collection(ctx)
		if err == nil {
			err = c.SetMuted(muted)
		}
		if err != nil {
			s.writeError(ctx, err)
			return
		}
		writeOK(ctx)
	}
}

// casperIndexParams is the HNSW parameter object of an index request; in
// the older form it also carries normalization.
type casperIndexParams struct {
	Metric         string `json:"metric"`
	Quantization   string `json:"quantization"`
	M              int    `json:"m"`
	M0             int    `json:"m0"`
	EfConstruction int    `json:"ef_construction"`
	PQName         string `json:"pq_name"`
	Normalization  *bool  `json:"normalization"`
}

// casperIndexBody accepts both index request forms:
// {"hnsw": {...}, "normalization": bool?} and
// {"index": "hnsw", "config": {..., "normalization"?}}.
type casperIndexBody struct {
	HNSW          *casperIndexParams `json:"hnsw"`
	Normalization *bool              `json:"normalization"`
	Index         *string            `json:"index"`
	Config        *casperIndexParams `json:"config"`
}

// parseIndexBody turns an index request body into the store's config.
func parseIndexBody(body []byte) (store.IndexConfig, error) {
	var b casperIndexBody
	if len(bytes.TrimSpace(body)) == 0 {
		return store.IndexConfig{}, invalid("invalid_json", "the body must be {\"hnsw\": {...}} or {\"index\": \"hnsw\", \"config\": {...}}")
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return store.IndexConfig{}, invalid("invalid_json", "cannot parse index body: "+err.Error())
	}
	var p *casperIndexParams
	norm := b.Normalization
	switch {
	case b.HNSW != nil && (b.Index != nil || b.Config != nil):
		return store.IndexConfig{}, invalid("invalid_argument", "use either \"hnsw\" or \"index\"+\"config\", not both")
	case b.HNSW != nil:
		p = b.HNSW
		if p.Normalization != nil && norm == nil {
			norm = p.Normalization
		}
	case b.Index != nil || b.Config != nil:
		if b.Index == nil || *b.Index != "hnsw" {
			return store.IndexConfig{}, invalid("invalid_argument", "\"index\" must be \"hnsw\"")
		}
		if b.Config == nil {
			return store.IndexConfig{}, invalid("invalid_argument", "missing \"config\"")
		}
		p = b.Config
		if p.Normalization != nil {
			norm = p.Normalization
		}
	default:
		return store.IndexConfig{}, invalid("invalid_argument", "the body must be {\"hnsw\": {...}} or {\"index\": \"hnsw\", \"config\": {...}}")
	}
	cfg := store.IndexConfig{
		Metric: p.Metric, Quantization: p.Quantization, M: p.M, M0: p.M0,
		EfConstruction: p.EfConstruction, PQName: p.PQName,
		Normalization: norm != nil && *norm,
	}
	// The store validates everything again; these checks give the
	// SPEC's ranges clear messages and catch values the store would read as
	// "default" (0) or negative.
	switch {
	case p.M != 0 && (p.M < 2 || p.M > 128):
		return cfg, invalid("invalid_index_params", "m must be in [2, 128]")
	case p.M0 != 0 && (p.M0 < max(p.M, 2) || p.M0 > 512):
		return cfg, invalid("invalid_index_params", "m0 must be in [m, 512]")
	case p.EfConstruction != 0 && p.EfConstruction < max(p.M, 2):
		return cfg, invalid("invalid_index_params", "ef_construction must be >= m")
	case p.M < 0 || p.M0 < 0 || p.EfConstruction < 0:
		return cfg, invalid("invalid_index_params", "m, m0 and ef_construction must be positive")
	}
	return cfg, nil
}

func (s *Server) casperCreateIndex(ctx *fasthttp.RequestCtx) {
	c, err := s.collection(ctx)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	cfg, err := parseIndexBody(ctx.PostBody())
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if cfg.PQName != "" {
		// A missing PQ is a bad argument of this request, not a missing
		// collection: 400, where the store alone would say 404.
		if _, err := s.db.PQ(cfg.PQName); errors.Is(err, store.ErrNotFound) {
			s.writeError(ctx, invalid("pq_not_found", "PQ configuration "+strconv.Quote(cfg.PQName)+" does not exist"))
			return
		}
	}
	if err := c.CreateIndex(cfg); err != nil {
		if errors.Is(err, store.ErrInvalid) {
			err = &apiError{kind: ErrInvalidArgument, code: "invalid_index_params", msg: err.Error(), cause: err}
		}
		s.writeError(ctx, err)
		return
	}
	info, err := c.Info()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.writeJSON(ctx, toCasperInfo(info))
}

func (s *Server) casperDeleteIndex(ctx *fasthttp.RequestCtx) {
	c, err := s.collection(ctx)
	if err == nil {
		err = c.DropIndex()
	}
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	writeOK(ctx)
}
