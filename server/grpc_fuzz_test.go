package server

import (
	"encoding/binary"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/lsmvec/lsmvec/server/grpcapi"
)

// wireUpload is a client stream for UploadMatrix whose messages arrive as
// wire bytes: Recv decodes each with proto.Unmarshal, as grpc-go does, and
// returns the decoding error (the stream's end) for bytes that are not an
// UploadMatrixRequest. SendAndClose records the response.
type wireUpload struct {
	grpc.ServerStream
	msgs [][]byte
	resp *grpcapi.UploadMatrixResponse
}

func (w *wireUpload) Recv() (*grpcapi.UploadMatrixRequest, error) {
	if len(w.msgs) == 0 {
		return nil, io.EOF
	}
	m := new(grpcapi.UploadMatrixRequest)
	err := proto.Unmarshal(w.msgs[0], m)
	w.msgs = w.msgs[1:]
	if err != nil {
		return nil, status.Error(codes.Internal, "grpc: failed to unmarshal the received message: "+err.Error())
	}
	return m, nil
}

func (w *wireUpload) SendAndClose(r *grpcapi.UploadMatrixResponse) error {
	w.resp = r
	return nil
}

// fuzzReader hands out the fuzz input a few bytes at a time (zeros past
// the end).
type fuzzReader struct{ b []byte }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) bytes(n int) []byte {
	n = min(n, len(r.b))
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *fuzzReader) u32() uint32 {
	var b [4]byte
	copy(b[:], r.bytes(4))
	return binary.LittleEndian.Uint32(b[:])
}

// decodeUploadStream turns fuzz bytes into the wire messages of one
// UploadMatrix stream. Each message starts with a byte whose low two bits
// pick its kind: a header (name, dimension, total_chunks,
// max_vectors_per_chunk; small values mostly, any u32 when a flag bit
// says so), a data chunk (chunk_index and float32 values: small integers,
// or raw bits that may be NaN or Inf), an empty message, or raw bytes for
// proto.Unmarshal.
func decodeUploadStream(data []byte) [][]byte {
	r := &fuzzReader{b: data}
	var msgs [][]byte
	for len(r.b) > 0 && len(msgs) < 64 {
		op := r.byte()
		num := func(wide bool) uint32 {
			if wide {
				return r.u32()
			}
			return uint32(r.byte() % 8)
		}
		var m *grpcapi.UploadMatrixRequest
		switch op & 3 {
		case 0:
			// Valid UTF-8, as proto3 requires of a string (invalid bytes
			// reach Recv through the raw messages below).
			name := strings.ToValidUTF8(string(r.bytes(int(r.byte()%8))), "?")
			if op&4 != 0 {
				name = "m0"
			}
			m = &grpcapi.UploadMatrixRequest{Payload: &grpcapi.UploadMatrixRequest_Header{Header: &grpcapi.MatrixHeader{
				Name: name, Dimension: num(op&8 != 0), TotalChunks: num(op&16 != 0), MaxVectorsPerChunk: num(op&32 != 0)}}}
		case 1:
			n := int(r.byte() % 24)
			v := make([]float32, n)
			for i := range v {
				if op&4 != 0 {
					v[i] = math.Float32frombits(r.u32())
				} else {
					v[i] = float32(int8(r.byte()))
				}
			}
			m = &grpcapi.UploadMatrixRequest{Payload: &grpcapi.UploadMatrixRequest_Data{Data: &grpcapi.MatrixData{
				ChunkIndex: num(op&8 != 0), Vector: v}}}
		case 2:
			m = &grpcapi.UploadMatrixRequest{}
		case 3:
			msgs = append(msgs, append([]byte(nil), r.bytes(int(r.byte()%32))...))
			continue
		}
		b, err := proto.Marshal(m)
		if err != nil {
			panic("BUG: cannot marshal a request: " + err.Error())
		}
		msgs = append(msgs, b)
	}
	return msgs
}

// refUpload is the reference for receiveMatrix, written from its
// contract: exactly one header, first; a valid name; dimension in [1,
// 65536]; max_vectors_per_chunk > 0; every chunk a multiple of dimension
// with at most max_vectors_per_chunk rows, finite; exactly total_chunks
// chunks; at least one row; at most maxBytes of floats. broke is true
// when the stream ended on a message that does not decode, before any
// violation.
func refUpload(msgs [][]byte, maxBytes int) (name string, dim int, data []float32, chunks int, ok, broke bool) {
	var hdr *grpcapi.MatrixHeader
	for _, b := range msgs {
		m := new(grpcapi.UploadMatrixRequest)
		if proto.Unmarshal(b, m) != nil {
			return "", 0, nil, 0, false, true
		}
		if h := m.GetHeader(); h != nil {
			if hdr != nil || !validName(h.Name) || h.Dimension < 1 || h.Dimension > 65536 || h.MaxVectorsPerChunk == 0 {
				return "", 0, nil, 0, false, false
			}
			hdr = h
			continue
		}
		if m.GetPayload() == nil {
			return "", 0, nil, 0, false, false
		}
		// A data message (possibly with a nil MatrixData: no floats).
		v := m.GetData().GetVector()
		if hdr == nil || len(v)%int(hdr.Dimension) != 0 || len(v)/int(hdr.Dimension) > int(hdr.MaxVectorsPerChunk) {
			return "", 0, nil, 0, false, false
		}
		chunks++
		if chunks > int(hdr.TotalChunks) || (len(data)+len(v))*4 > maxBytes {
			return "", 0, nil, 0, false, false
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return "", 0, nil, 0, false, false
			}
		}
		data = append(data, v...)
	}
	if hdr == nil || chunks != int(hdr.TotalChunks) || len(data) == 0 {
		return "", 0, nil, 0, false, false
	}
	return hdr.Name, int(hdr.Dimension), data, chunks, true, false
}

// FuzzUploadMatrix fuzzes the gRPC UploadMatrix stream (a sequence of
// header and data messages, decoded from wire bytes) through the service
// method over a real store holding matrix "m0". The verdict must be the
// reference's; a refused stream is INVALID_ARGUMENT (or the decode error
// that ended it) and stores nothing; an accepted one stores exactly the
// rows sent, in order, and reports their counts.
func FuzzUploadMatrix(f *testing.F) {
	hdr := func(nameLen byte, name string, dim, total, maxPer byte) []byte {
		return append(append([]byte{0, nameLen}, name...), dim, total, maxPer)
	}
	data := func(idx byte, vals ...byte) []byte { return append(append([]byte{1, byte(len(vals))}, vals...), idx) }
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	f.Add(cat(hdr(1, "a", 2, 2, 2), data(0, 1, 2, 3, 4), data(0, 5, 6)))
	f.Add(cat([]byte{4, 0, 3, 1, 1}, data(0, 1, 2, 3)))                                       // replaces m0
	f.Add(cat([]byte{4 | 8, 0, 2, 0, 0, 0, 1, 1}, data(0, 1, 2)))                             // dimension 2 as a u32
	f.Add(cat(hdr(1, "a", 2, 1, 2), []byte{1 | 4, 2, 0xff, 0xff, 0xc0, 0x7f, 0, 0, 0, 0, 0})) // NaN
	f.Add(cat(data(0, 1), hdr(1, "a", 1, 1, 1)))                                              // data first
	f.Add(cat(hdr(1, "a", 1, 1, 1), hdr(1, "b", 1, 1, 1), data(0, 1)))                        // two headers
	f.Add(cat(hdr(1, "a", 2, 1, 2), data(0, 1, 2, 3)))                                        // ragged
	f.Add(cat(hdr(1, "a", 1, 1, 1), data(0, 1, 2)))                                           // rows > max
	f.Add(cat(hdr(1, "a", 1, 2, 1), data(0, 1)))                                              // too few chunks
	f.Add(cat(hdr(1, "a", 1, 1, 1), data(0, 1), data(0, 2)))                                  // too many chunks
	f.Add(cat(hdr(1, "a", 1, 0, 1)))                                                          // no rows
	f.Add(cat(hdr(1, "/", 1, 1, 1), data(0, 1)))                                              // bad name
	f.Add(cat(hdr(0, "", 1, 1, 1), data(0, 1)))                                               // empty name
	f.Add(cat(hdr(1, "a", 0, 1, 1), data(0, 1)))                                              // dimension 0
	f.Add(cat(hdr(1, "a", 1, 1, 0), data(0, 1)))                                              // max per chunk 0
	f.Add(cat(hdr(1, "a", 1, 2, 1), []byte{2}, data(0, 1)))                                   // empty message
	f.Add(cat(hdr(1, "a", 1, 1, 1), []byte{3, 3, 0x0a, 0x05, 0x01}))                          // truncated wire bytes
	f.Add(cat(hdr(1, "a", 1, 1, 1), []byte{3, 2, 0x12, 0x00}))                                // data with no floats
	f.Add([]byte{})

	const maxBytes = 256
	s, db := memServer(f, Options{MaxBulkBytes: maxBytes})
	svc := &matrixService{s: s}
	base := []float32{1, 2, 3, 4, 5, 6}
	if _, err := db.PutMatrix("m0", 3, base); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		msgs := decodeUploadStream(in)
		before := db.Matrices()
		w := &wireUpload{msgs: msgs}
		err := svc.UploadMatrix(w)
		name, dim, rows, chunks, ok, broke := refUpload(msgs, maxBytes)
		if (err == nil) != ok {
			t.Fatalf("stream %x: UploadMatrix: %v; reference accepts: %v", msgs, err, ok)
		}
		if err != nil {
			want := codes.InvalidArgument
			if broke {
				want = codes.Internal // the decode error that ended the stream, passed through
			}
			if code := status.Code(err); code != want {
				t.Fatalf("stream %x: code %v (%v), want %v", msgs, code, err, want)
			}
			if after := db.Matrices(); !reflect.DeepEqual(after, before) {
				t.Fatalf("stream %x: refused (%v) but the matrices changed: %+v, was %+v", msgs, err, after, before)
			}
			return
		}
		if w.resp == nil || int(w.resp.TotalVectors) != len(rows)/dim || int(w.resp.TotalChunks) != chunks {
			t.Fatalf("stream %x: response %v, want %d vectors in %d chunks", msgs, w.resp, len(rows)/dim, chunks)
		}
		got, info, err := db.MatrixData(name, nil)
		if err != nil || info.Dim != dim || !sameFloats(got, rows) {
			t.Fatalf("stream %x: stored %q dim %d %v (%v), want dim %d %v", msgs, name, info.Dim, got, err, dim, rows)
		}
		// Back to the base state.
		if name == "m0" {
			_, err = db.PutMatrix("m0", 3, base)
		} else {
			err = db.DeleteMatrix(name)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
}
