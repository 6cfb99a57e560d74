# lsmvec: make targets. `make test` is what CI runs (through .ci/run).
GO        ?= go
GOFLAGS   ?=
TMPBIN    ?= $(CURDIR)/.tmp
# Packages with shared state: their tests also run under the race detector.
RACE_PKGS ?= ./kernels/... ./hnsw/... ./pq/... ./store/... ./server/... ./bench/...
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test unit race testpurego generate generate-proto check-generated test-arm64 bench benchdoc fuzz vet clean

all: build

build:
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

run: build
	./bin/lsmvec

# test: everything CI checks. Long benchmarks live in `make bench`.
test: vet check-generated unit race testpurego test-arm64

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 ./...

race:
	$(GO) test -count=1 -race -short $(RACE_PKGS)

testpurego:
	$(GO) test -count=1 -short -tags purego ./...

# generate also runs the avo program in kernels/_asm (its own module) through
# the //go:generate line in kernels/dispatch.go.
generate: generate-proto
	$(GO) generate ./kernels

# generate-proto regenerates server/grpcapi from the Casper proto (kept verbatim,
# so the Go package comes from M options). protoc is Debian's protobuf-compiler
# (installed here when missing); the plugins are pinned to the protobuf and
# grpc versions in go.mod so the output is byte-identical to what is committed.
PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2
GRPCAPI_PKG := github.com/lsmvec/lsmvec/server/grpcapi
generate-proto:
	@command -v protoc >/dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq protobuf-compiler >/dev/null)
	@mkdir -p $(TMPBIN)/bin
	GOBIN=$(TMPBIN)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TMPBIN)/bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	cd server/grpcapi && PATH="$(TMPBIN)/bin:$$PATH" protoc -I. \
		--go_out=. --go_opt=paths=source_relative --go_opt=Mmatrix_service.proto=$(GRPCAPI_PKG) \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative --go-grpc_opt=Mmatrix_service.proto=$(GRPCAPI_PKG) \
		matrix_service.proto

GENERATED := kernels/ server/grpcapi/
check-generated: generate
	@git diff --exit-code -- $(GENERATED) || (echo "generated files are stale: run make generate and commit"; exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- $(GENERATED) | grep '^??')" || (echo "untracked generated files under $(GENERATED)"; exit 1)

# test-arm64 cross-compiles the kernel tests for arm64 and runs them under
# qemu-aarch64-static (Debian's qemu-user-static, installed here when missing).
test-arm64:
	@command -v qemu-aarch64-static >/dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq qemu-user-static >/dev/null)
	@mkdir -p $(TMPBIN)
	GOARCH=arm64 $(GO) test -c -o $(TMPBIN)/kernels.arm64.test ./kernels
	qemu-aarch64-static $(TMPBIN)/kernels.arm64.test -test.short -test.count=1
	GOARCH=arm64 $(GO) test -c -tags purego -o $(TMPBIN)/kernels.arm64.purego.test ./kernels
	qemu-aarch64-static $(TMPBIN)/kernels.arm64.purego.test -test.short -test.count=1

BENCHCOUNT ?= 6
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./kernels/... ./bench/...

# benchdoc regenerates the lsmvec-bench region of docs/benchmarks.md and
# docs/bench/ (siftsmall and fashion-mnist-784; f32, i8, pq8; in-process and
# over HTTP; hnswlib-ref side by side when ../shared/tools has it). ~15 min.
benchdoc:
	$(GO) run ./cmd/lsmvec-bench doc -nq 1000

FUZZTIME ?= 10m
FUZZ_PKGS ?= ./kernels ./bench/dataset ./store/filter ./internal/mergepatch ./server
# fuzz runs every fuzz target of FUZZ_PKGS for FUZZTIME each.
fuzz:
	@for p in $(FUZZ_PKGS); do \
		for t in $$($(GO) test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
			echo "== $$p $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
		done; done

clean:
	rm -rf bin $(TMPBIN)
