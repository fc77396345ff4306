# SPLIT — build and test. `make test` is what CI runs (.ci/run).
SHELL   := /bin/bash
GO      ?= go
PKGS    := ./...
# Packages that own goroutines run under the race detector.
RACE    := ./internal/... ./test/sessions/...

.PHONY: all build run deps test test-short lint test-unit test-libopus test-e2e test-soak bench bench-compare fuzz clean

all: build

build:
	$(GO) build -o bin/split ./cmd/split
	$(GO) build -o bin/splitload ./cmd/splitload

run:
	$(GO) run ./cmd/split

deps:
	./scripts/install-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags 'libopus nolibopusfile' ./internal/media/...

# Fast, no peers: what a developer runs all the time.
test-short:
	$(GO) test -short -count=1 $(PKGS)

# scripts/gotest.sh runs a failed test once more, alone, and reports it as
# FLAKY (in the output and in <log>.flaky) when it then passes.
test-unit:
	GO=$(GO) ./scripts/gotest.sh test-unit.log . -race -count=1 $(RACE)
	# allocation pins are skipped under -race: run them without it
	$(GO) test -count=1 -run 'NoAlloc' ./internal/...

# The cgo Opus backend (libopus) must pass the same codec and tone tests.
test-libopus:
	$(GO) test -count=1 -tags 'libopus nolibopusfile' ./internal/media/... ./test/tone/...

# Real peers (sipp, baresip, kamailio, Chromium) in a loopback-only network
# namespace; the test binaries re-exec themselves under `unshare --net`.
test-e2e:
	GO=$(GO) ./scripts/gotest.sh test-e2e.log '^ *(=== RUN|--- |ok|FAIL|PASS|panic|FLAKY)|_test.go:|\.go:[0-9]+: ' -count=1 -timeout 30m -v $$($(GO) list ./test/... | grep -v /test/soak)

# Three hub nodes under steady load (docs/benchmarks.md, "Soak"): 2 minutes
# here, alone on the machine; scripts/soak.sh runs the hour.
test-soak:
	GO=$(GO) ./scripts/gotest.sh test-soak.log '^ *(=== RUN|--- |ok|FAIL|PASS|panic|FLAKY)|_test.go:|\.go:[0-9]+: |^ +[0-9a-z]+ +\|' -count=1 -timeout 15m -v ./test/soak/ -args -soak=2m

test: deps lint test-unit test-libopus test-e2e test-soak

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/media/... 

# SPLIT beside rtpengine, Kamailio and a floor relay (docs/benchmarks.md)
bench-compare:
	GO=$(GO) ./scripts/bench-compare.sh

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/sdp/
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime 30s ./internal/auth/
	$(GO) test -run '^$$' -fuzz FuzzParseUUI -fuzztime 30s ./internal/hub/
	$(GO) test -run '^$$' -fuzz FuzzParseFrame -fuzztime 30s ./internal/hub/
	$(GO) test -run '^$$' -fuzz FuzzParseReferTo -fuzztime 30s ./internal/sipua/
	$(GO) test -run '^$$' -fuzz FuzzParseFrame -fuzztime 30s ./internal/copilot/
	$(GO) test -run '^$$' -fuzz FuzzParseMessage -fuzztime 30s ./internal/copilot/

clean:
	rm -rf bin test/e2e/runs test-e2e.log* test-unit.log* test-soak.log*
