# Herald's tasks. `make help` lists them.
SHELL := /bin/bash
SWIFT ?= swift
DEV_URL = $(shell scripts/dev-postgres.sh url)

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

build: ## Debug build of herald and the tests
	$(SWIFT) build --build-tests

release: ## Release build of herald (.build/release/herald)
	$(SWIFT) build -c release --product herald

test: build ## Unit and integration tests (starts its own PostgreSQL unless DATABASE_URL is set)
	$(SWIFT) test --skip-build --skip WakeupLatencyTests
	@# Latency is checked on an otherwise idle machine, after the parallel suites.
	$(SWIFT) test --skip-build --filter WakeupLatencyTests

lint-sql: ## Lint migrations/ with squawk (pip install squawk-cli)
	squawk migrations/*.sql

embed-migrations: ## Regenerate the migrations compiled into the binary from migrations/*.sql
	scripts/embed-migrations.sh

db-start: ## Start the throwaway local PostgreSQL in ./.pg
	scripts/dev-postgres.sh start

db-stop: ## Stop the throwaway local PostgreSQL
	scripts/dev-postgres.sh stop

demo: build db-start ## Throwaway PostgreSQL, migrate, show the schema
	.build/debug/herald migrate --database-url "$(DEV_URL)"
	.build/debug/herald migrate --status --database-url "$(DEV_URL)"
	@echo
	@echo "Look around:  psql '$(DEV_URL)' -c '\dt herald.*'"
	@echo "Stop it:      make db-stop"

clean: ## Remove build output and the local PostgreSQL
	-scripts/dev-postgres.sh stop
	rm -rf .build .pg

.PHONY: help build release test lint-sql embed-migrations db-start db-stop demo clean
