# fusectl build and test entry points. `make test` is what CI runs.
GO       ?= go
BIN      ?= bin
FUZZTIME ?= 20s
PKGS     := ./...

.PHONY: all build deps test vet lint fuzz bench generate clean demo

all: build

build:
	$(GO) build -o $(BIN)/fusectl ./cmd/fusectl

vet:
	$(GO) vet $(PKGS)

# deps: the Debian packages and Go modules the tests and the demo use.
deps:
	./scripts/deps.sh
	$(GO) mod download

# test: vet, then every test with the race detector (mount tests included;
# they skip without root and /dev/fuse unless CI=true), then once more on one
# CPU, where scheduling bugs show differently.
test: deps vet
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	GOMAXPROCS=1 $(GO) test -count=1 -timeout 30m $(PKGS)

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)
	@# fusectl itself builds for other Linux machines (the tests need go-fuse,
	@# which does not build on 32-bit ones).
	for arch in arm64 arm 386 riscv64; do GOARCH=$$arch $(GO) build -o /dev/null ./cmd/fusectl || exit 1; done

# fuzz: every fuzz target for FUZZTIME each (scripts/fuzz.sh; FUZZMINIMIZETIME
# bounds the minimizing of each new input, 5s by default).
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh $(PKGS)

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS)

generate:
	$(GO) generate $(PKGS)

clean:
	rm -rf $(BIN)

# demo: mount the demo server through `fusectl mount` with a capture, run a
# small workload, unmount, and decode the capture (scripts/demo.sh).
demo:
	GO=$(GO) BIN=$(BIN) sh scripts/demo.sh
