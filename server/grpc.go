package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/lsmvec/lsmvec/server/grpcapi"
)

// grpcReadMethods are the full gRPC method names a read-only key may call;
// every other method needs a read-write key.
var grpcReadMethods = map[string]bool{}

func (s *Server) newGRPCServer() *grpc.Server {
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(int(min(s.opts.MaxBody, math.MaxInt32))),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	)
	grpcapi.RegisterMatrixServiceServer(gs, &matrixService{s: s})
	return gs
}

// admitRPC authenticates a call from its "authorization" metadata and takes
// a rate-limit token, like admit does for HTTP.
func (s *Server) admitRPC(ctx context.Context, method string) error {
	need := accessWrite
	if grpcReadMethods[method] {
		need = accessRead
	}
	var header []byte
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			header = []byte(v[0])
		}
	}
	p, err := s.auth.check(header, need)
	if err != nil {
		return grpcError(err)
	}
	if s.limiter != nil {
		var ip net.IP
		if pr, ok := peer.FromContext(ctx); ok {
			if ta, ok := pr.Addr.(*net.TCPAddr); ok {
				ip = ta.IP
			}
		}
		if ok, wait := s.limiter.allow(p.key, ip); !ok {
			return status.Error(codes.ResourceExhausted, fmt.Sprintf("rate limit exceeded; retry in %d s", wait))
		}
	}
	return nil
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			err = s.recoveredRPC(info.FullMethod, v)
		}
		s.logRPC(ctx, info.FullMethod, start, err)
	}()
	if err := s.admitRPC(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	resp, err = h(ctx, req)
	return resp, grpcError(err)
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			err = s.recoveredRPC(info.FullMethod, v)
		}
		s.logRPC(ss.Context(), info.FullMethod, start, err)
	}()
	if err := s.admitRPC(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return grpcError(h(srv, ss))
}

func (s *Server) recoveredRPC(method string, v any) error {
	s.log.Error("panic in gRPC handler", slog.String("method", method), slog.Any("panic", v),
		slog.String("stack", string(debug.Stack())))
	return status.Error(codes.Internal, "internal error")
}

func (s *Server) logRPC(ctx context.Context, method string, start time.Time, err error) {
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "grpc",
		slog.String("method", method),
		slog.String("code", status.Code(err).String()),
		slog.Duration("dur", time.Since(start)))
}

// matrixService implements matrix_service.MatrixService over the store.
type matrixService struct {
	grpcapi.UnimplementedMatrixServiceServer
	s *Server
}

// uploadedMatrix is a matrix received and validated by receiveMatrix.
type uploadedMatrix struct {
	name   string
	dim    int
	data   []float32 // rows × dim, row-major
	chunks int
}

func (u *uploadedMatrix) rows() int { return len(u.data) / u.dim }

// errStream is the kind of every stream-validation error.
func badStream(format string, args ...any) error {
	return status.Error(codes.InvalidArgument, "cannot upload matrix: "+fmt.Sprintf(format, args...))
}

// receiveMatrix reads a whole UploadMatrix stream and validates it: exactly
// one header, first; dimension > 0; a valid name; max_vectors_per_chunk > 0;
// each data chunk's length a multiple of dimension with at most
// max_vectors_per_chunk rows; exactly total_chunks chunks; at least one row;
// at most maxBytes of floats. chunk_index is not validated (clients count
// from 0 or from 1). Any violation is INVALID_ARGUMENT.
func receiveMatrix(stream grpc.ClientStreamingServer[grpcapi.UploadMatrixRequest, grpcapi.UploadMatrixResponse], maxBytes int64) (*uploadedMatrix, error) {
	var (
		hdr *grpcapi.MatrixHeader
		m   uploadedMatrix
	)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch p := req.GetPayload().(type) {
		case *grpcapi.UploadMatrixRequest_Header:
			if hdr != nil {
				return nil, badStream("a second header arrived; send exactly one, first")
			}
			hdr = p.Header
			if hdr == nil {
				return nil, badStream("empty header")
			}
			if !validName(hdr.GetName()) {
				return nil, badStream("name %q must match [A-Za-z0-9_-]{1,128}", hdr.GetName())
			}
			if hdr.GetDimension() == 0 || hdr.GetDimension() > maxVectorDim {
				return nil, badStream("dimension %d must be in [1, %d]", hdr.GetDimension(), maxVectorDim)
			}
			if hdr.GetMaxVectorsPerChunk() == 0 {
				return nil, badStream("max_vectors_per_chunk must be > 0")
			}
			m.name, m.dim = hdr.GetName(), int(hdr.GetDimension())
		case *grpcapi.UploadMatrixRequest_Data:
			if hdr == nil {
				return nil, badStream("data arrived before the header; send the header first")
			}
			v := p.Data.GetVector()
			if len(v)%m.dim != 0 {
				return nil, badStream("chunk %d has %d floats, not a multiple of dimension %d", m.chunks+1, len(v), m.dim)
			}
			if rows := len(v) / m.dim; rows > int(hdr.GetMaxVectorsPerChunk()) {
				return nil, badStream("chunk %d has %d vectors, more than max_vectors_per_chunk %d", m.chunks+1, rows, hdr.GetMaxVectorsPerChunk())
			}
			m.chunks++
			if m.chunks > int(hdr.GetTotalChunks()) {
				return nil, badStream("more chunks than total_chunks %d", hdr.GetTotalChunks())
			}
			if int64(len(m.data)+len(v))*4 > maxBytes {
				return nil, badStream("matrix exceeds %d bytes", maxBytes)
			}
			if err := checkFinite(v); err != nil {
				return nil, badStream("chunk %d: %v", m.chunks, err)
			}
			m.data = append(m.data, v...)
		default:
			return nil, badStream("a message with neither header nor data")
		}
	}
	switch {
	case hdr == nil:
		return nil, badStream("the stream has no header")
	case m.chunks != int(hdr.GetTotalChunks()):
		return nil, badStream("received %d chunks, header says total_chunks %d", m.chunks, hdr.GetTotalChunks())
	case len(m.data) == 0:
		return nil, badStream("the matrix has no vectors")
	}
	return &m, nil
}
