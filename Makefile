# Samsa: the README's two commands are `make run` and `make test`.
GO      ?= go
BIN     := bin/samsa
PKGS    := ./...

.PHONY: build test unit integration bench fuzz lint run stop chaos zookeeper clean sarama-functional

build:
	$(GO) build -o $(BIN) ./cmd/samsa

zookeeper:
	@scripts/install-zookeeper.sh

# The whole suite: vet, unit tests with the race detector, then the black-box tests against real
# ZooKeeper and broker processes. Installs ZooKeeper when missing.
test: zookeeper lint
	$(GO) test -race -count=1 -timeout 12m $(PKGS)
	$(GO) test -race -count=1 -timeout 12m -tags integration ./integration/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags integration ./integration/...

# The long forms of the issue-4 fault tests (integration/fault_*_test.go): more rounds, more load. The short
# forms run in `make test`. -v prints each test's measurements (U per failover, ISR times, L/P/D/IO).
chaos: zookeeper
	SAMSA_CHAOS=1 $(GO) test -race -count=1 -v -tags integration -run 'Chaos|Fault' -timeout 60m ./integration/...

# Short fuzzing of every Fuzz target (FUZZTIME=10s each by default).
fuzz:
	@scripts/fuzz.sh

# Benchmarks beside the code, printed as a table next to the machine's own raw speeds.
bench: build
	@scripts/bench.sh

run: build zookeeper
	@scripts/cluster.sh start

stop:
	@scripts/cluster.sh stop

# Sarama's own functional tests (go test -tags functional) against a fresh 3-broker cluster behind toxiproxy,
# apart from `make run`'s ports and ./run/; prints pass/fail/skip counts. See scripts/sarama-functional.sh.
sarama-functional: zookeeper
	@scripts/sarama-functional.sh

clean:
	rm -rf bin .bench-tmp
