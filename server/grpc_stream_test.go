package server

import (
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lsmvec/lsmvec/server/grpcapi"
)

// fakeUpload is a scripted client stream for receiveMatrix: Recv returns the
// messages in order, then io.EOF.
type fakeUpload struct {
	grpc.ServerStream
	msgs []*grpcapi.UploadMatrixRequest
}

func (f *fakeUpload) Recv() (*grpcapi.UploadMatrixRequest, error) {
	if len(f.msgs) == 0 {
		return nil, io.EOF
	}
	m := f.msgs[0]
	f.msgs = f.msgs[1:]
	return m, nil
}

func (f *fakeUpload) SendAndClose(*grpcapi.UploadMatrixResponse) error { return nil }

func hdrMsg(name string, dim, total, maxPer uint32) *grpcapi.UploadMatrixRequest {
	return &grpcapi.UploadMatrixRequest{Payload: &grpcapi.UploadMatrixRequest_Header{Header: &grpcapi.MatrixHeader{
		Name: name, Dimension: dim, TotalChunks: total, MaxVectorsPerChunk: maxPer}}}
}

func dataMsg(idx uint32, v ...float32) *grpcapi.UploadMatrixRequest {
	return &grpcapi.UploadMatrixRequest{Payload: &grpcapi.UploadMatrixRequest_Data{Data: &grpcapi.MatrixData{
		ChunkIndex: idx, Vector: v}}}
}

func TestReceiveMatrix(t *testing.T) {
	nan := float32(0)
	nan = nan / nan
	cases := []struct {
		name string
		msgs []*grpcapi.UploadMatrixRequest
		err  string // "" = valid
		rows int
	}{
		{"ok from 1", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 2, 2, 2), dataMsg(1, 1, 2, 3, 4), dataMsg(2, 5, 6)}, "", 3},
		{"ok from 0", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 2, 2, 2), dataMsg(0, 1, 2), dataMsg(1, 5, 6)}, "", 2},
		{"chunk_index ignored", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 1, 3, 1), dataMsg(7, 1), dataMsg(7, 2), dataMsg(0, 3)}, "", 3},
		{"no header", []*grpcapi.UploadMatrixRequest{dataMsg(1, 1, 2)}, "before the header", 0},
		{"empty stream", nil, "no header", 0},
		{"two headers", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 2, 1, 2), hdrMsg("m", 2, 1, 2), dataMsg(1, 1, 2)}, "second header", 0},
		{"header after data", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 2, 2, 2), dataMsg(1, 1, 2), hdrMsg("m", 2, 2, 2)}, "second header", 0},
		{"dim 0", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 0, 1, 2)}, "dimension", 0},
		{"bad name", []*grpcapi.UploadMatrixRequest{hdrMsg("a/b", 2, 1, 2)}, "name", 0},
		{"empty name", []*grpcapi.UploadMatrixRequest{hdrMsg("", 2, 1, 2)}, "name", 0},
		{"max per chunk 0", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 2, 1, 0)}, "max_vectors_per_chunk", 0},
		{"ragged chunk", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 2, 1, 4), dataMsg(1, 1, 2, 3)}, "not a multiple", 0},
		{"too many per chunk", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 1, 1, 2), dataMsg(1, 1, 2, 3)}, "more than max_vectors_per_chunk", 0},
		{"too few chunks", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 1, 3, 2), dataMsg(1, 1), dataMsg(2, 2)}, "received 2 chunks", 0},
		{"too many chunks", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 1, 1, 2), dataMsg(1, 1), dataMsg(2, 2)}, "more chunks than total_chunks", 0},
		{"no vectors", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 1, 1, 2), dataMsg(1)}, "no vectors", 0},
		{"zero chunks", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 1, 0, 2)}, "no vectors", 0},
		{"NaN", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 1, 1, 2), dataMsg(1, nan)}, "not finite", 0},
		{"empty message", []*grpcapi.UploadMatrixRequest{hdrMsg("m", 1, 1, 2), {}}, "neither header nor data", 0},
	}
	for _, c := range cases {
		m, err := receiveMatrix(&fakeUpload{msgs: c.msgs}, 1<<20)
		if c.err == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			} else if m.rows() != c.rows || m.name != "m" {
				t.Errorf("%s: got %d rows of %q, want %d", c.name, m.rows(), m.name, c.rows)
			}
			continue
		}
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want INVALID_ARGUMENT with %q", c.name, err, c.err)
		}
	}
	// The byte cap.
	_, err := receiveMatrix(&fakeUpload{msgs: []*grpcapi.UploadMatrixRequest{hdrMsg("m", 4, 1, 10), dataMsg(1, make([]float32, 40)...)}}, 100)
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("oversized matrix: %v", err)
	}
}
