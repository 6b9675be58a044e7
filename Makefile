# tickmark — `make test` is the project's test command (README.md); CI runs
# it through .ci/run on a fresh machine.
GO        ?= go
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
VERSITYGW := $(GOBIN)/versitygw
GOVULNCHECK := $(GOBIN)/govulncheck
export PATH := $(GOBIN):$(PATH)

.PHONY: test tools vet unit race fuzz chart build bench vulncheck

test: tools vet unit race fuzz chart

# Everything the tests need that Go modules do not bring: the real S3 server,
# govulncheck for the dependency check and, for the console's browser tests,
# Debian's chromium.
tools: $(VERSITYGW) $(GOVULNCHECK) chromium

.PHONY: chromium
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update && apt-get install -y chromium; }

$(VERSITYGW):
	$(GO) install github.com/versity/versitygw/cmd/versitygw@v1.8.0

$(GOVULNCHECK):
	$(GO) install golang.org/x/vuln/cmd/govulncheck@v1.10.0

# Known vulnerabilities in what tickmark calls; says so when the database
# cannot be reached (see .ci/vulncheck).
vulncheck: $(GOVULNCHECK)
	./.ci/vulncheck

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 20m ./...

# The ledger, runner and store run again under the race detector.
race:
	$(GO) test -count=1 -race -timeout 20m ./internal/ledger/... ./internal/runner/... ./internal/store/... ./internal/daemon/...

# Each fuzz target runs briefly (FUZZTIME each); longer runs are local work.
FUZZTIME ?= 10s
fuzz:
	FUZZTIME=$(FUZZTIME) ./.ci/fuzz

# The Helm chart (rendered with Helm's Go library, every manifest decoded
# strictly into the Kubernetes API types), the kustomize base, and the
# image's static binary. Its own module keeps Helm out of go.mod.
chart:
	cd deploy/charttest && $(GO) vet ./... && $(GO) test -count=1 -timeout 20m ./...

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/tickmark ./cmd/tickmark

# Benchmarks: see docs/benchmarks.md for targets and how to compare runs.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.txt
