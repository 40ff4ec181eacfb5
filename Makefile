# Herald's tasks. `make help` lists them.
SHELL := /bin/bash
SWIFT ?= swift
DEV_URL = $(shell scripts/dev-postgres.sh url)

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

build: ## Debug build of herald and the tests
	$(SWIFT) build --build-tests

release: ## Release build of herald and herald-receiver, as docker/Dockerfile builds them
	$(SWIFT) build -c release --static-swift-stdlib --product herald
	$(SWIFT) build -c release --static-swift-stdlib --product herald-receiver

# At most 4 tests at once: each integration test runs real worker processes (up to 4 × 8 slots), and with
# every test of 65 suites at once on 2 cores the promise tests' timeouts (a lease's idle timeout, the resend
# wait) measured CPU starvation instead of Herald: measured, unlimited 135 s with 23 failures, 4 at once 114 s green.
TEST_WIDTH ?= 4

test: test-deps build ## Unit and integration tests (installs their tools; starts its own PostgreSQL unless DATABASE_URL is set)
	$(SWIFT) test --skip-build --skip WakeupLatencyTests --skip RateLimitTimingTests --experimental-maximum-parallelization-width $(TEST_WIDTH)
	@# Timing (wake-up latency, the rate limit at the receiver) is checked on an otherwise idle machine,
	@# after the parallel suites.
	$(SWIFT) test --skip-build --filter "WakeupLatencyTests|RateLimitTimingTests"

bench: bench-deps release ## Benchmarks on a release build (throwaway PostgreSQL on 127.0.0.1); writes docs/benchmarks.json
	scripts/bench.py

bench-history: bench-deps release ## Commands, audit queries and drain with an empty history and with 10M deliveries + 30M attempts kept (about 25 min, 14 GB disk); writes docs/history.json
	scripts/history.py

soak: bench-deps release ## 10 minutes of enqueue + deliver at 70% of the steady maximum against a flaky receiver, per minute; writes docs/soak.json
	scripts/soak.py

bench-deps: ## Install what the benchmarks drive besides Herald (wrk, pgbouncer; pgbench comes with the PostgreSQL server)
	scripts/install-deps.sh --bench

chaos: build ## The long chaos run (20,000 deliveries, kills, a frozen worker, 2 database restarts; about 5-15 min)
	HERALD_CHAOS=full HERALD_CHAOS_REPORT=chaos-report.txt $(SWIFT) test --skip-build --filter ChaosTests
	@cat chaos-report.txt

FUZZ_SECONDS ?= 30
FUZZ_TARGETS = url address retry-after duration header json

fuzz: ## libFuzzer: URL/address checks, Retry-After, durations, headers, JSON writer; FUZZ_SECONDS each (default 30)
	cd Fuzz && $(SWIFT) build --sanitize=fuzzer -Xswiftc -enable-testing
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p Fuzz/.build/corpus/$$t Fuzz/.build/artifacts; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS)s (seeds: Fuzz/corpus/$$t)"; \
	  SWIFT_BACKTRACE=enable=no HERALD_FUZZ_TARGET=$$t Fuzz/.build/debug/herald-fuzz Fuzz/.build/corpus/$$t Fuzz/corpus/$$t \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=Fuzz/.build/artifacts/$$t- || { echo "fuzz: $$t failed; copy the artifact into Fuzz/corpus/$$t/ as a regression"; exit 1; }; \
	done

lint: lint-deps lint-sql lint-docker lint-alerts ## All linters (squawk, hadolint, compose validation, dashboard JSON, alert rules)

lint-sql: ## Lint migrations/ with squawk (pip install squawk-cli)
	squawk migrations/*.sql

lint-docker: ## hadolint the Dockerfile, validate compose.yaml and the Grafana dashboard
	hadolint docker/Dockerfile
	docker-compose -f docker/compose.yaml config -q
	python3 -m json.tool docker/grafana/herald-dashboard.json > /dev/null

lint-alerts: ## Check the Prometheus config and alert rules, and run the rules' unit tests (promtool test rules)
	promtool check config docker/prometheus/prometheus.yml
	python3 -c 'import sys, yaml; [yaml.safe_load(open(f)) for f in sys.argv[1:]]' docker/grafana/provisioning/*/*.yml
	promtool check rules docker/prometheus/alerts.yml
	cd docker/prometheus && promtool test rules alerts_test.yml

embed-migrations: ## Regenerate the migrations compiled into the binary from migrations/*.sql
	scripts/embed-migrations.sh

generate-openapi: ## Regenerate Sources/HeraldAPI/Generated from openapi.yaml (a unit test fails until you do)
	scripts/generate-openapi.sh

db-start: ## Start the throwaway local PostgreSQL in ./.pg
	scripts/dev-postgres.sh start

db-stop: ## Stop the throwaway local PostgreSQL
	scripts/dev-postgres.sh stop

deps: ## Install what building and the demo need (Debian/Ubuntu packages)
	scripts/install-deps.sh

# The only way tools reach a machine: `make test` and `make lint` install what they run, so CI (.ci/run:
# exactly `make lint` and `make test`) proves the path a newcomer takes. MakefileTests checks it stays so.
test-deps: ## Install what the tests run besides Swift (PostgreSQL server, promtool, script)
	scripts/install-deps.sh --test

lint-deps: ## Install the linters (squawk, hadolint, docker-compose, promtool)
	scripts/install-deps.sh --lint

demo: deps build db-start ## Throwaway PostgreSQL, a flaky receiver, 300 deliveries, two workers, then status
	scripts/demo.sh

clean: ## Remove build output and the local PostgreSQL
	-scripts/dev-postgres.sh stop
	rm -rf .build .pg

.PHONY: help build release test test-deps bench bench-history soak bench-deps chaos fuzz lint lint-deps lint-sql lint-docker lint-alerts embed-migrations generate-openapi deps db-start db-stop demo clean
