# lsmvec: a static binary on a distroless-style scratch base.
# Build: docker build -t lsmvec .
# Run:   docker run -p 8080:8080 -p 50051:50051 -v lsmvec-data:/data \
#          -e LSMVEC_API_KEYS=change-me lsmvec
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: a fully static binary that runs on scratch.
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/lsmvec ./cmd/lsmvec \
 && mkdir -p /out/data

FROM scratch
# A non-root user (no shell or passwd tools in scratch: numeric ids).
USER 65532:65532
COPY --from=build /out/lsmvec /lsmvec
COPY --from=build --chown=65532:65532 /out/data /data
ENV LSMVEC_PORT=8080 \
    LSMVEC_GRPC_PORT=50051 \
    LSMVEC_DATA_DIR=/data \
    LSMVEC_LOG_FORMAT=json \
    LSMVEC_LOG_LEVEL=info \
    LSMVEC_MAX_BODY=64MiB \
    LSMVEC_MAX_BULK_BYTES=8GiB
# Also honoured: LSMVEC_API_KEYS, LSMVEC_READONLY_KEYS, LSMVEC_RATE_LIMIT,
# LSMVEC_RATE_BURST, LSMVEC_COLLECTION, LSMVEC_DIM, LSMVEC_METRIC, LSMVEC_M,
# LSMVEC_MMAX, LSMVEC_EFC, LSMVEC_EFS_DEFAULT, LSMVEC_HTTP_THREADS,
# LSMVEC_SHUTDOWN_TIMEOUT (`lsmvec -h` lists them all).
VOLUME ["/data"]
EXPOSE 8080 50051
# The image has no curl: the binary probes its own /health.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/lsmvec", "-healthcheck"]
# SIGTERM (docker stop) drains requests, closes the store and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/lsmvec"]
