// Package grpcapi is the generated Go code of the Casper gRPC API
// (matrix_service.proto, copied verbatim from the Casper API document).
// Regenerate it with `make generate-proto`; do not edit the .pb.go files.
package grpcapi
