# Meterline. `make` lists the targets; every target's ## comment is its help line.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := bin
TESTENV   := deploy/testenv/testenv.sh
BUF       := github.com/bufbuild/buf/cmd/buf@v1.75.0
# Go test flags; `make test GOTESTFLAGS=-v` for more detail.
GOTESTFLAGS ?=

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "; print "Usage: make <target>\n"} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/meterline (all services) and bin/collector, bin/sink, bin/provisioning, bin/processor, bin/reporting (one each)
	$(GO) build -o $(BIN)/meterline ./services/meterline
	$(GO) build -o $(BIN)/collector ./services/collector
	$(GO) build -o $(BIN)/sink ./services/sink
	$(GO) build -o $(BIN)/provisioning ./services/provisioning
	$(GO) build -o $(BIN)/processor ./services/processor
	$(GO) build -o $(BIN)/reporting ./services/reporting

.PHONY: run
run: build ## run everything in one process: embedded Kafka, local ClickHouse (installed and started if none runs), the simulated providers polled
	@if [ -z "$${METERLINE_CLICKHOUSE_ADDR:-}" ]; then $(TESTENV) start clickhouse >/dev/null; fi
	METERLINE_LOG_FORMAT=$${METERLINE_LOG_FORMAT:-console} METERLINE_DEV_SIMULATORS=$${METERLINE_DEV_SIMULATORS-nova,cf,elasticbox,vcloudair} $(BIN)/meterline dev

.PHONY: test
test: lint ## start the test environment (real Kafka and ClickHouse), run unit, integration and e2e tests
	@mkdir -p $(BIN)
	$(TESTENV) start all > $(BIN)/.testenv.env
	set -a; source <(sed 's/^export METERLINE_/METERLINE_TEST_/' $(BIN)/.testenv.env); set +a; \
	$(GO) test -count=1 -timeout 45m $(GOTESTFLAGS) ./... ./e2e/... ./deploy/... ./deploy/helm/...

.PHONY: test-unit
test-unit: ## run the tests that need no Kafka or ClickHouse (the fuzz corpora among them)
	$(GO) test -count=1 -skip '^(TestStoredTimeIsTheRecordTimestamp|TestBrokerDownFailsFast)$$' \
		./internal/usage/... ./internal/platform/... ./internal/collector/... ./internal/fault/... \
		./internal/plans/... ./internal/catalog/... ./internal/metering/... ./internal/archtest/... ./internal/report/...
	$(GO) test -count=1 -run '^(TestChangelogCodec|TestAppendRated|TestOutput|TestBackoffStartsOverAfterACommit|FuzzChangelog)$$' ./internal/processor/

# The fuzz targets, package:target:inputs; 1,250,000 inputs in all (docs/testing.md).
FUZZ_TARGETS := internal/usage:FuzzParse:200000 \
	internal/usage:FuzzParseFastPath:200000 \
	internal/plans:FuzzPlan:150000 \
	internal/plans:FuzzFormula:200000 \
	internal/report:FuzzParseTime:150000 \
	internal/report/abacus:FuzzGraphQL:150000 \
	internal/report/focus:FuzzParams:50000 \
	internal/processor:FuzzChangelog:150000
# FUZZTIME, when set, is every target's -fuzztime instead (`make fuzz FUZZTIME=1000x`, or 30s).
FUZZTIME ?=

.PHONY: fuzz
fuzz: ## run each fuzz target for a bounded number of inputs (1,250,000 in all), stopping at the first failure
	@total=0; start=$$(date +%s); \
	for t in $(FUZZ_TARGETS); do \
		IFS=: read -r pkg name n <<<"$$t"; \
		fuzztime=$${n}x; if [ -n "$(FUZZTIME)" ]; then fuzztime="$(FUZZTIME)"; fi; \
		echo "== $$name ($$pkg, -fuzztime $$fuzztime)"; t0=$$(date +%s); \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime "$$fuzztime" ./$$pkg; \
		echo "== $$name: done in $$(( $$(date +%s) - t0 ))s"; \
		case $$fuzztime in *x) total=$$(( total + $${fuzztime%x} ));; esac; \
	done; \
	echo "== fuzz: $$total inputs in $$(( $$(date +%s) - start ))s, no failure"

.PHONY: bench
bench: ## run the benchmarks (figures and how to read them: docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./internal/...

DEADCODE  := golang.org/x/tools/cmd/deadcode@v0.52.0

.PHONY: lint
lint: ## go vet, gofmt, and no dead code (deadcode; what may be unreachable is in .deadcode-allow)
	$(GO) vet ./... ./e2e/... ./deploy/... ./deploy/helm/...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	@all=$$($(GO) run $(DEADCODE) ./...); out=$$(grep -vEf <(grep -v '^#' .deadcode-allow) <<<"$$all" || true); \
		if [ -n "$$out" ]; then echo "dead code (reached by no command; delete it, or say why in .deadcode-allow):"; echo "$$out"; exit 1; fi

.PHONY: gen
gen: ## regenerate the Go code of proto/ (buf and protoc-gen-go, both pinned)
	$(GO) run $(BUF) generate
	$(GO) run $(BUF) lint

.PHONY: testenv-up
testenv-up: ## start the test environment and print its addresses
	$(TESTENV) start all

.PHONY: testenv-down
testenv-down: ## stop the test environment
	$(TESTENV) stop all

.PHONY: clean
clean: ## remove build output and the dev data (not the test environment: see testenv-down)
	rm -rf $(BIN) .meterline
