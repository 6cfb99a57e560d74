package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"

	"github.com/valyala/fasthttp"
	"google.golang.org/grpc"

	"github.com/lsmvec/lsmvec/pq"
	"github.com/lsmvec/lsmvec/server/grpcapi"
	"github.com/lsmvec/lsmvec/store"
)

// UploadMatrix implements matrix_service.MatrixService/UploadMatrix: it
// receives and validates the whole stream (receiveMatrix), then stores the
// matrix once, so a stream that breaks any rule stores nothing.
func (m *matrixService) UploadMatrix(stream grpc.ClientStreamingServer[grpcapi.UploadMatrixRequest, grpcapi.UploadMatrixResponse]) error {
	up, err := receiveMatrix(stream, m.s.opts.MaxBulkBytes)
	if err != nil {
		return err
	}
	info, err := m.s.db.PutMatrix(up.name, up.dim, up.data)
	if err != nil {
		return grpcError(err)
	}
	return stream.SendAndClose(&grpcapi.UploadMatrixResponse{
		TotalVectors: uint32(info.Rows),
		TotalChunks:  uint32(up.chunks),
	})
}

func (s *Server) casperListMatrices(ctx *fasthttp.RequestCtx) {
	ms := s.db.Matrices()
	if ms == nil {
		ms = []store.MatrixInfo{}
	}
	s.writeJSON(ctx, ms)
}

func (s *Server) casperGetMatrix(ctx *fasthttp.RequestCtx) {
	m, err := s.db.Matrix(pathParam(ctx, "name"))
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.writeJSON(ctx, m)
}

func (s *Server) casperDeleteMatrix(ctx *fasthttp.RequestCtx) {
	if err := s.db.DeleteMatrix(pathParam(ctx, "name")); err != nil {
		s.writeError(ctx, err)
		return
	}
	writeOK(ctx)
}

func (s *Server) casperListPQs(ctx *fasthttp.RequestCtx) {
	ps := s.db.PQs()
	if ps == nil {
		ps = []store.PQConfig{}
	}
	s.writeJSON(ctx, ps)
}

func (s *Server) casperGetPQ(ctx *fasthttp.RequestCtx) {
	p, err := s.db.PQ(pathParam(ctx, "name"))
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.writeJSON(ctx, p)
}

// casperCreatePQ serves POST /pq/{name} {"dim": D, "codebooks": [matrix names]}.
func (s *Server) casperCreatePQ(ctx *fasthttp.RequestCtx) {
	name := pathParam(ctx, "name")
	if !validName(name) {
		s.writeError(ctx, invalid("invalid_name", "PQ name must match [A-Za-z0-9_-]{1,128}"))
		return
	}
	var body struct {
		Dim       *int     `json:"dim"`
		Codebooks []string `json:"codebooks"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &body); err != nil {
		s.writeError(ctx, invalid("invalid_json", "cannot parse PQ body: "+err.Error()))
		return
	}
	switch {
	case body.Dim == nil || *body.Dim < 1 || *body.Dim > store.MaxDim:
		s.writeError(ctx, invalid("invalid_argument", "\"dim\" is required, in [1, "+strconv.Itoa(store.MaxDim)+"]"))
		return
	case len(body.Codebooks) == 0:
		s.writeError(ctx, invalid("invalid_argument", "\"codebooks\" must list at least one matrix name"))
		return
	case *body.Dim%len(body.Codebooks) != 0:
		s.writeError(ctx, invalid("invalid_argument", "\"dim\" must be a multiple of the number of codebooks"))
		return
	}
	for _, cb := range body.Codebooks {
		// A missing matrix is a bad argument of this request: 400, where
		// the store alone would say 404.
		if _, err := s.db.Matrix(cb); errors.Is(err, store.ErrNotFound) {
			s.writeError(ctx, invalid("matrix_not_found", "codebook matrix "+strconv.Quote(cb)+" does not exist"))
			return
		}
	}
	p, err := s.db.CreatePQ(store.PQConfig{Name: name, Dim: *body.Dim, Codebooks: body.Codebooks})
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.writeJSON(ctx, p)
}

func (s *Server) casperDeletePQ(ctx *fasthttp.RequestCtx) {
	if err := s.db.DeletePQ(pathParam(ctx, "name")); err != nil {
		s.writeError(ctx, err)
		return
	}
	writeOK(ctx)
}

// casperTrainBody is the body of POST /pq/{name}/train.
type casperTrainBody struct {
	// Collection supplies the training vectors (required).
	Collection string `json:"collection"`
	// M is the number of subquantizers (required; dim must be a multiple).
	M int `json:"m"`
	// Bits is the code width: 8 (default) or 16.
	Bits int `json:"bits"`
	// Centroids per subquantizer; default 2^bits capped at the sample size.
	Centroids int `json:"centroids"`
	// MaxSamples caps the vectors read and trained on; default 65 536.
	MaxSamples int `json:"max_samples"`
	// Iterations caps the k-means iterations; default 25.
	Iterations int `json:"iterations"`
	// Seed makes sampling and k-means reproducible; default 1.
	Seed *uint64 `json:"seed"`
}

// defaultTrainSamples bounds the vectors the training route reads.
const defaultTrainSamples = 1 << 16

// casperTrainPQ serves POST /pq/{name}/train: it samples the vectors of a
// collection, trains M codebooks with pq.Train (k-means per subspace), stores
// them as matrices "<name>_sub_<j>" and creates PQ configuration name over
// them. Names already taken are refused (409) before anything is written; if
// a later store call fails, the matrices written are removed again.
func (s *Server) casperTrainPQ(ctx *fasthttp.RequestCtx) {
	name := pathParam(ctx, "name")
	if !validName(name) || len(name) > 128-len("_sub_65535") {
		s.writeError(ctx, invalid("invalid_name", "PQ name must match [A-Za-z0-9_-]{1,118}"))
		return
	}
	var body casperTrainBody
	if err := json.Unmarshal(ctx.PostBody(), &body); err != nil {
		s.writeError(ctx, invalid("invalid_json", "cannot parse train body: "+err.Error()))
		return
	}
	if body.Bits == 0 {
		body.Bits = 8
	}
	if body.MaxSamples == 0 {
		body.MaxSamples = defaultTrainSamples
	}
	seed := uint64(1)
	if body.Seed != nil {
		seed = *body.Seed
	}
	switch {
	case body.Collection == "":
		s.writeError(ctx, invalid("invalid_argument", "\"collection\" is required"))
		return
	case body.Bits != 8 && body.Bits != 16:
		s.writeError(ctx, invalid("invalid_argument", "\"bits\" must be 8 or 16"))
		return
	case body.M < 1 || body.M > 65535:
		s.writeError(ctx, invalid("invalid_argument", "\"m\" (subquantizers) is required, in [1, 65535]"))
		return
	case body.MaxSamples < 1 || body.Centroids < 0 || body.Iterations < 0:
		s.writeError(ctx, invalid("invalid_argument", "max_samples must be >= 1; centroids and iterations >= 0"))
		return
	}
	c, err := s.db.Collection(body.Collection)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	dim := c.Dim()
	if dim%body.M != 0 {
		s.writeError(ctx, invalid("invalid_argument", fmt.Sprintf("dim %d is not a multiple of m %d", dim, body.M)))
		return
	}
	if _, err := s.db.PQ(name); err == nil {
		s.writeError(ctx, newError(ErrConflict, "already_exists", "PQ configuration "+strconv.Quote(name)+" exists"))
		return
	}
	subs := make([]string, body.M)
	for j := range subs {
		subs[j] = fmt.Sprintf("%s_sub_%d", name, j)
		if _, err := s.db.Matrix(subs[j]); err == nil {
			s.writeError(ctx, newError(ErrConflict, "already_exists", "matrix "+strconv.Quote(subs[j])+" exists"))
			return
		}
	}

	// Sample ids uniformly (seeded partial Fisher-Yates) and read them.
	ids, err := c.IDs(nil)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	n := min(len(ids), body.MaxSamples)
	for i := range n {
		j := i + rng.IntN(len(ids)-i)
		ids[i], ids[j] = ids[j], ids[i]
	}
	vecs := make([]float32, 0, n*dim)
	for _, id := range ids[:n] {
		v, err := c.Vector(id, vecs)
		switch {
		case err == nil:
			vecs = v
		case !errors.Is(err, store.ErrNotFound): // deleted meanwhile: skip it
			s.writeError(ctx, err)
			return
		}
	}
	cb, err := pq.Train(vecs, dim, body.M, body.Bits, pq.TrainOptions{
		Centroids: body.Centroids, MaxSamples: -1, Iterations: body.Iterations, Seed: seed,
	})
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	written := subs[:0:0]
	undo := func() {
		for _, m := range written {
			if err := s.db.DeleteMatrix(m); err != nil {
				s.log.Error("cannot remove a matrix of a failed PQ training", slog.String("matrix", m), slog.String("err", err.Error()))
			}
		}
	}
	for j, m := range subs {
		if _, err := s.db.PutMatrix(m, cb.SubDim(), cb.Centroids[j]); err != nil {
			undo()
			s.writeError(ctx, err)
			return
		}
		written = append(written, m)
	}
	p, err := s.db.CreatePQ(store.PQConfig{Name: name, Dim: dim, Codebooks: subs})
	if err != nil {
		undo()
		s.writeError(ctx, err)
		return
	}
	s.writeJSON(ctx, struct {
		store.PQConfig
		Bits      int `json:"bits"`
		Centroids int `json:"centroids"`
		Samples   int `json:"samples"`
	}{p, body.Bits, cb.Rows(0), len(vecs) / dim})
}
