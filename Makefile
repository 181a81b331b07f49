# Meterhouse developer verbs. `make run` and `make test` are the two commands a new user
# needs; both start the local services (ClickHouse, Kafka) when they are not running.

GO          ?= go
BIN         := bin/meterhouse
SERVICES    := bash deploy/local/services.sh
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The whole suite must stay well inside CI's 90 minutes; one package may take at most this.
TEST_TIMEOUT ?= 20m

.PHONY: all build run test test-deps test-unit bench bench-day lint services-up services-down services-status clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/meterhouse

## run: start the services, migrate, simulate a small fleet, and serve the API.
run: build services-up
	bash deploy/local/run.sh $(BIN)

## test: start the services if needed, then run unit and integration tests, then (alone,
## since they restart ClickHouse and Kafka) the disruptive ingest tests.
test: services-up test-deps
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	MH_TEST_DISRUPTIVE=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run Disruptive ./ingest/

# chDB (the embedded current ClickHouse engine, from PyPI) checks the DDL meant for newer servers.
test-deps:
	@python3 -c 'import chdb, numpy' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check chdb numpy

## test-unit: only the tests that need no services.
test-unit:
	$(GO) test -short -count=1 ./...

## bench: Go micro-benchmarks (the load benchmarks are `go run ./bench`).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-day: a day of 100 000 meters (ingest, VEE, forecast, queries under ingest) against
## issue 13's targets; BENCH_DAY_FLAGS adds flags, e.g. BENCH_DAY_FLAGS='--format json'.
BENCH_DAY_METERS ?= 100000
bench-day: services-up
	$(GO) run ./bench day --meters $(BENCH_DAY_METERS) $(BENCH_DAY_FLAGS)

## lint: formatting, go vet and staticcheck.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

services-up:
	$(SERVICES) up

services-down:
	$(SERVICES) down

services-status:
	$(SERVICES) status

clean:
	rm -rf bin
