package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lsmvec/lsmvec/server/grpcapi"
)

func TestCasperMatrixAndPQ(t *testing.T) {
	ts := startServer(t, Options{})
	cc := dialGRPC(t, ts)
	ctx := context.Background()
	J := "Content-Type: application/json"

	ts.expect(200, "", "GET", "/matrix/list", "")
	if r := ts.do("GET", "/matrix/list", ""); string(r.body) != "[]" {
		t.Fatalf("empty matrix list: %s", r.body)
	}

	// Bad streams: INVALID_ARGUMENT and nothing stored.
	bad := map[string][]*grpcapi.UploadMatrixRequest{
		"wrong chunk count":    {hdrMsg("bad", 2, 3, 2), dataMsg(1, 1, 2), dataMsg(2, 3, 4)},
		"extra chunk":          {hdrMsg("bad", 2, 1, 2), dataMsg(1, 1, 2), dataMsg(2, 3, 4)},
		"ragged chunk":         {hdrMsg("bad", 2, 2, 2), dataMsg(1, 1, 2), dataMsg(2, 3, 4, 5)},
		"too many per chunk":   {hdrMsg("bad", 2, 1, 1), dataMsg(1, 1, 2, 3, 4)},
		"no header":            {dataMsg(1, 1, 2)},
		"two headers":          {hdrMsg("bad", 2, 1, 2), hdrMsg("bad", 2, 1, 2), dataMsg(1, 1, 2)},
		"zero dimension":       {hdrMsg("bad", 0, 1, 2), dataMsg(1, 1, 2)},
		"invalid name":         {hdrMsg("b d", 2, 1, 2), dataMsg(1, 1, 2)},
		"late second header":   {hdrMsg("bad", 2, 2, 2), dataMsg(1, 1, 2), hdrMsg("bad", 2, 2, 2), dataMsg(2, 1, 2)},
		"empty stream":         {},
		"header only, 1 chunk": {hdrMsg("bad", 2, 1, 2)},
	}
	for name, msgs := range bad {
		if err := uploadMatrix(ctx, cc, msgs...); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", name, err)
		}
	}
	if r := ts.do("GET", "/matrix/list", ""); string(r.body) != "[]" {
		t.Fatalf("bad streams stored something: %s", r.body)
	}
	ts.expect(404, "not_found", "GET", "/matrix/bad", "")

	// Two codebooks of 2 columns (a PQ over dim 4), one vector per message
	// with chunk_index starting at 0: accepted.
	sub0 := []*grpcapi.UploadMatrixRequest{hdrMsg("cb0", 2, 3, 1), dataMsg(0, 0, 0), dataMsg(1, 1, 1), dataMsg(2, 2, 2)}
	resp, err := uploadMatrixResp(ctx, cc, sub0...)
	if err != nil || resp.GetTotalVectors() != 3 || resp.GetTotalChunks() != 3 {
		t.Fatalf("upload cb0: %v %v", resp, err)
	}
	if err := uploadMatrix(ctx, cc, hdrMsg("cb1", 2, 1, 4), dataMsg(1, 0, 0, 1, 1, 2, 2, 3, 3)); err != nil {
		t.Fatalf("upload cb1: %v", err)
	}
	r := ts.expect(200, "", "GET", "/matrix/list", "")
	var ms []map[string]any
	if err := json.Unmarshal(r.body, &ms); err != nil || len(ms) != 2 {
		t.Fatalf("matrix list %s", r.body)
	}
	r = ts.expect(200, "", "GET", "/matrix/cb1", "")
	if string(r.body) != `{"name":"cb1","dim":2,"len":4,"enabled":true}` {
		t.Fatalf("matrix cb1: %s", r.body)
	}

	// PQ configurations.
	ts.expect(400, "", "POST", "/pq/p", `{"dim":4}`, J)
	ts.expect(400, "", "POST", "/pq/p", `{"dim":5,"codebooks":["cb0","cb1"]}`, J)
	ts.expect(400, "", "POST", "/pq/p", `{"codebooks":["cb0","cb1"]}`, J)
	ts.expect(400, "", "POST", "/pq/p", `{"dim":4,"codebooks":["cb0","missing"]}`, J)
	ts.expect(400, "", "POST", "/pq/p", `not json`, J)
	ts.expect(400, "", "POST", "/pq/p", `{"dim":6,"codebooks":["cb0","cb1"]}`, J) // cb dim 2 != 6/2
	r = ts.expect(200, "", "POST", "/pq/p", `{"dim":4,"codebooks":["cb0","cb1"]}`, J)
	if string(r.body) != `{"name":"p","dim":4,"codebooks":["cb0","cb1"],"enabled":true}` {
		t.Fatalf("create PQ: %s", r.body)
	}
	ts.expect(409, "", "POST", "/pq/p", `{"dim":4,"codebooks":["cb0","cb1"]}`, J)
	ts.expect(200, "", "GET", "/pq/p", "")
	ts.expect(404, "not_found", "GET", "/pq/q", "")
	r = ts.expect(200, "", "GET", "/pq/list", "")
	if string(r.body) != `[{"name":"p","dim":4,"codebooks":["cb0","cb1"],"enabled":true}]` {
		t.Fatalf("PQ list: %s", r.body)
	}
	// A matrix a PQ uses cannot be deleted, nor replaced by another shape.
	ts.expect(409, "in_use", "DELETE", "/matrix/cb0", "")
	if err := uploadMatrix(ctx, cc, hdrMsg("cb0", 3, 1, 1), dataMsg(1, 1, 2, 3)); status.Code(err) == codes.OK {
		t.Fatal("replaced a matrix a PQ uses with one of another dimension")
	}
	if r := ts.expect(200, "", "GET", "/matrix/cb0", ""); string(r.body) != `{"name":"cb0","dim":2,"len":3,"enabled":true}` {
		t.Fatalf("cb0 changed: %s", r.body)
	}

	// Index with PQ: cosine refused; wrong dim refused.
	ts.expect(200, "", "POST", "/collection/c4?dim=4&max_size=10", "")
	ts.expect(200, "", "POST", "/collection/c6?dim=6&max_size=10", "")
	ts.expect(400, "", "POST", "/collection/c4/index", `{"hnsw":{"metric":"cosine","quantization":"pq8","m":16,"m0":32,"ef_construction":200,"pq_name":"p"}}`, J)
	ts.expect(400, "", "POST", "/collection/c6/index", `{"hnsw":{"metric":"euclidean","quantization":"pq8","m":16,"m0":32,"ef_construction":200,"pq_name":"p"}}`, J)

	// Delete PQ, then the matrices.
	ts.expect(200, "", "DELETE", "/pq/p", "", J)
	ts.expect(404, "", "DELETE", "/pq/p", "")
	ts.expect(200, "", "DELETE", "/matrix/cb0", "", J)
	ts.expect(404, "", "DELETE", "/matrix/cb0", "")
}

func TestCasperTrainPQ(t *testing.T) {
	ts := startServer(t, Options{})
	seed := uint64(5)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	ts.expect(200, "", "POST", "/collection/src?dim=8&max_size=1000", "")
	var sb strings.Builder
	sb.WriteString(`{"insert":[`)
	for i := range 300 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"vector":[`, i)
		for j := range 8 {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%g", rng.Float32())
		}
		sb.WriteString("]}")
	}
	sb.WriteString("]}")
	ts.expect(200, "", "POST", "/collection/src/update", sb.String())

	ts.expect(400, "", "POST", "/pq/t/train", `{"m":2}`)
	ts.expect(400, "", "POST", "/pq/t/train", `{"collection":"src","m":3}`) // 8 % 3
	ts.expect(400, "", "POST", "/pq/t/train", `{"collection":"src","m":2,"bits":4}`)
	ts.expect(400, "", "POST", "/pq/t/train", `{"collection":"src","m":2,"centroids":1000}`) // > 2^8
	ts.expect(404, "not_found", "POST", "/pq/t/train", `{"collection":"nope","m":2}`)
	if r := ts.do("GET", "/matrix/list", ""); string(r.body) != "[]" {
		t.Fatalf("failed trainings left matrices: %s", r.body)
	}
	r := ts.expect(200, "", "POST", "/pq/t/train", `{"collection":"src","m":2,"centroids":16,"seed":3}`)
	var got struct {
		Name      string   `json:"name"`
		Dim       int      `json:"dim"`
		Codebooks []string `json:"codebooks"`
		Centroids int      `json:"centroids"`
		Samples   int      `json:"samples"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || got.Name != "t" || got.Dim != 8 ||
		strings.Join(got.Codebooks, ",") != "t_sub_0,t_sub_1" || got.Centroids != 16 || got.Samples != 300 {
		t.Fatalf("train: %s (%v)", r.body, err)
	}
	r = ts.expect(200, "", "GET", "/matrix/t_sub_1", "")
	if string(r.body) != `{"name":"t_sub_1","dim":4,"len":16,"enabled":true}` {
		t.Fatalf("trained matrix: %s", r.body)
	}
	ts.expect(200, "", "GET", "/pq/t", "")
	ts.expect(409, "", "POST", "/pq/t/train", `{"collection":"src","m":2}`)
}
