# creditbank — run `make` for the list of targets.
GO ?= go
BIN := bin/creditbank
DATA ?= ./data
ADDR ?= 127.0.0.1:8080

.DEFAULT_GOAL := help
.PHONY: help build run test interop-deps openapi alerts bench soak soak-abuse lint fuzz conformance cover race mutate clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/creditbank
	$(GO) build -o $(BIN) ./cmd/creditbank

run: build ## build and serve on $(ADDR) with the store in $(DATA)
	./$(BIN) serve --data $(DATA) --addr $(ADDR)

test: interop-deps ## run every test (short crash and fault runs included)
	$(GO) test -count=1 -timeout 15m ./...

# The credentials' interoperability test (api's TestCredentialInterop) runs
# credential/testdata/interop/verify.mjs with these npm packages, pinned in
# its package.json; without node it skips, unless CREDITBANK_REQUIRE_NODE is set.
interop-deps: ## install the npm packages of the credentials' interop test into .cache/npm-interop (needs node and npm)
	@if command -v npm >/dev/null; then test -d .cache/npm-interop/node_modules/@digitalbazaar/vc-bitstring-status-list || \
		{ mkdir -p .cache/npm-interop && cp credential/testdata/interop/package.json .cache/npm-interop/ && \
		npm install --silent --no-audit --no-fund --prefix .cache/npm-interop; }; \
	else echo "npm is not installed: the credentials' interop test will skip"; fi

openapi: ## lint api/openapi.json with @redocly/cli (pinned, installed from npm into .cache/)
	@test -x .cache/npm/node_modules/.bin/redocly || npm install --silent --no-audit --no-fund --prefix .cache/npm @redocly/cli@2.77.0
	.cache/npm/node_modules/.bin/redocly lint api/openapi.json

alerts: ## check docs/alerts.yml with promtool (Debian's prometheus package) and run its unit tests
	promtool check rules docs/alerts.yml
	cd docs && promtool test rules alerts_test.yml

bench: ## benchmarks, with the ledger measured against raw Pebble in the same run
	$(GO) test -count=1 ./ledger -run '^TestBenchRatios$$' -v -bench.ratios -bench.json=bench-ledger.json
	$(GO) test -count=1 ./ledger -run '^$$' -bench . -benchtime 2s
	$(GO) test -count=1 ./api -run '^$$' -bench . -benchmem
	$(GO) run ./cmd/creditbank bench --floor --duration 10s --json bench-http.json

soak: ## long crash run: 200 SIGKILL rounds
	$(GO) test -count=1 -timeout 60m ./ledger -run '^TestCrashRecovery$$' -v -crash.rounds=200
	$(GO) test -count=1 -timeout 60m ./cmd/creditbank -run '^TestSoak$$' -v -soak.rounds=200

# Each attack alone for 40 s against a real server on 200,000 outcomes (and
# 100,000 of one learner), a victim institution posting 20 outcomes a second:
# fails when an attack more than doubles the victim's p99, when the server's
# resident memory reaches 1 GiB (with --cache-mb 256), or when a post the
# victim saw acknowledged is lost. The short form is bench's TestAbuse.
soak-abuse: build ## hostile load: the victim's p99 under each attack, within 2x; memory within 1 GiB; nothing lost
	./$(BIN) abuse --enforce --json bench-abuse.json

lint: ## gofmt check, go vet, staticcheck, govulncheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@# govulncheck needs vuln.go.dev; offline it says so and lint goes on.
	@out=$$($(GO) tool govulncheck ./... 2>&1); rc=$$?; echo "$$out"; \
		if [ $$rc -ne 0 ] && echo "$$out" | grep -q 'fetching vulnerabilities'; then echo "govulncheck: database unreachable, skipped"; \
		elif [ $$rc -ne 0 ]; then exit $$rc; fi

fuzz: ## run each fuzz target for a while (FUZZTIME, default 30s)
	@for p in ./internal/jsonscan ./ledger ./accreditation ./api ./vault ./client ./tiles ./witness ./credential; do \
		for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$p || exit 1; done; done

conformance: build ## run the conformance suite against a fresh server (and its own tests)
	$(GO) test -count=1 ./conformance -v -run 'TestSuite|TestFailing|TestVectors'

# Coverage and race runs build the binaries that tests start as processes
# (cmd/creditbank's buildBinary, conformance's confBinary) with the flags in
# CREDITBANK_TEST_BUILDFLAGS; with CREDITBANK_TEST_GOCOVERDIR every process
# a test starts writes its coverage there. See docs/testing.md.
COVERDIR ?= bin/cover
COVERPKG := creditbank/...

cover: ## coverage per package, the processes tests start included (data in COVERDIR)
	@rm -rf $(COVERDIR) && mkdir -p $(COVERDIR)/tests $(COVERDIR)/processes
	@# The figures are printed even when a test fails; the status is the tests'.
	@CREDITBANK_TEST_BUILDFLAGS="-cover -covermode=atomic -coverpkg=$(COVERPKG)" \
	CREDITBANK_TEST_GOCOVERDIR=$(abspath $(COVERDIR))/processes \
		$(GO) test -count=1 -timeout 30m -covermode=atomic -coverpkg=$(COVERPKG) ./... \
		-args -test.gocoverdir=$(abspath $(COVERDIR))/tests; status=$$?; \
	echo "== in the test processes alone (what go test -cover measures):"; \
	$(GO) tool covdata percent -i=$(COVERDIR)/tests; \
	$(GO) tool covdata textfmt -i=$(COVERDIR)/tests -o $(COVERDIR)/tests.out; \
	$(GO) tool cover -func=$(COVERDIR)/tests.out | tail -1; \
	echo "== merged with the processes the tests start (creditbank binaries, ledger children):"; \
	$(GO) tool covdata percent -i=$(COVERDIR)/tests,$(COVERDIR)/processes; \
	$(GO) tool covdata textfmt -i=$(COVERDIR)/tests,$(COVERDIR)/processes -o $(COVERDIR)/cover.out; \
	$(GO) tool cover -func=$(COVERDIR)/cover.out | tail -1; \
	echo "profile: $(COVERDIR)/cover.out (go tool cover -html=$(COVERDIR)/cover.out)"; \
	exit $$status

race: ## every test under the race detector, the creditbank binaries tests start included
	CREDITBANK_TEST_BUILDFLAGS=-race $(GO) test -race -count=1 -timeout 45m ./...

mutate: ## plant each mutation of tools/mutate in a copy of the tree; fail on survivors
	$(GO) run ./tools/mutate

clean: ## remove binaries (never the data folder)
	rm -rf bin
