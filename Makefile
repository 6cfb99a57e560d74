# lsmvec: make targets. `make test` is what CI runs (through .ci/run).
GO        ?= go
GOFLAGS   ?=
TMPBIN    ?= $(CURDIR)/.tmp
# Packages with shared state: their tests also run under the race detector.
RACE_PKGS ?= ./kernels/... ./hnsw/... ./pq/... ./store/... ./server/... ./bench/... ./python/lsm_vec/capi/...
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test unit race testpurego generate generate-proto check-generated test-arm64 testpython bench-python-embedded bench bench-server bench-quant benchdoc fuzz soak vet clean

all: build

build:
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

run: build
	./bin/lsmvec

# test: everything CI checks. Long benchmarks live in `make bench`.
test: vet check-generated unit race testpurego test-arm64 testpython

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 ./...

race:
	$(GO) test -count=1 -race -short $(RACE_PKGS)

# testpurego: the pure-Go kernels, and the packages whose results rest on
# them, with the assembly compiled out. Only these packages: the tag changes
# every package's build key, and recompiling pebble, grpc and fasthttp for
# code the tag does not touch doubled make test's time on a cold cache.
PUREGO_PKGS ?= ./kernels/... ./hnsw/... ./pq/...
testpurego:
	$(GO) test -count=1 -short -tags purego $(PUREGO_PKGS)

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

# testpython runs the Python client (clients/python) and the embedded engine
# (python/lsm_vec) tests against the real binaries. Debian's python3 with
# pip, setuptools and wheel builds lsm_vec offline (PyPI is not reachable);
# python3-numpy exercises the numpy paths. Both are installed when missing.
PYTHON ?= $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)
testpython:
	@$(PYTHON) -c 'import numpy, setuptools, wheel, pip' 2>/dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-numpy python3-pip python3-setuptools python3-wheel >/dev/null)
	$(PYTHON) -m unittest discover -s clients/python/tests
	$(PYTHON) -m unittest discover -s python/lsm_vec/tests

# bench-python-embedded: lsm_vec vs in-process Go vs python3-hnswlib on
# fashion-mnist-784 (not part of make test).
bench-python-embedded:
	@/usr/bin/python3 -c 'import numpy, hnswlib' 2>/dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-numpy python3-hnswlib >/dev/null)
	/usr/bin/python3 -m pip install --no-build-isolation --no-deps -q --upgrade --target $(TMPBIN)/lsm_vec-site .
	PYTHONPATH=$(TMPBIN)/lsm_vec-site /usr/bin/python3 python/lsm_vec/bench/bench_fashion.py --dir $(TMPBIN)/lsm_vec-bench

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

# bench-server: Casper search over HTTP (bin and json; one request in flight
# per connection and pipelined) vs in-process on fashion-mnist-784, issue 6's
# table in docs/benchmarks.md (~3 min).
bench-server:
	LSMVEC_SERVER_BENCH=1 $(GO) test -count=1 -v -run TestServerThroughput -timeout 30m ./server

# bench-quant: the served f32 / i8 / pq8 indexes on fashion-mnist-784 through
# the store (build, open, memory, recall and QPS side by side; ~10 min).
bench-quant:
	LSMVEC_QUANT_BENCH=1 $(GO) test -count=1 -v -run FashionQuantized -timeout 60m ./store

# benchdoc regenerates the lsmvec-bench region of docs/benchmarks.md and
# docs/bench/ (siftsmall and fashion-mnist-784; f32, i8, pq8; in-process and
# over HTTP; hnswlib-ref side by side when ../shared/tools has it). ~15 min.
benchdoc:
	$(GO) run ./cmd/lsmvec-bench doc -nq 1000

FUZZTIME ?= 10m
FUZZ_PKGS ?= ./kernels ./bench/dataset ./store ./store/filter ./internal/mergepatch ./server
# fuzz runs every fuzz target of FUZZ_PKGS for FUZZTIME each.
fuzz:
	@for p in $(FUZZ_PKGS); do \
		for t in $$($(GO) test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
			echo "== $$p $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
		done; done

# soak: issue #10's load soak (10 min of mixed /v1 traffic against the built
# binary, checked against a client-side ledger) then 30 SIGKILL crash rounds;
# ~13 min on a quiet 2-core machine. docs/reliability.md has the figures.
SOAKFLAGS ?= -duration 10m -crashes 30 -clients 8 -seed 1
soak: build
	@mkdir -p $(TMPBIN)
	./bin/lsmvec-soak -binary ./bin/lsmvec $(SOAKFLAGS) -json $(TMPBIN)/soak.json

clean:
	rm -rf bin $(TMPBIN)
