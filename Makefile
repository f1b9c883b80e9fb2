# Espace Famille — the two commands of the README quick start are `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST := $(PY) -m pytest

.PHONY: install install-system run run-postgres stop test test-unit test-integration test-e2e test-faults test-fuzz bench clean

install:
	@scripts/install.sh

install-system:
	@scripts/install.sh --system

## Start the whole platform (SQLite files under var/, RabbitMQ on loopback). Ctrl-C stops it.
run: install
	@$(PY) scripts/run_platform.py run

## Same, on PostgreSQL (one database per service on 127.0.0.1:5432).
run-postgres: install
	@$(PY) scripts/run_platform.py run --db postgres

stop:
	@$(PY) scripts/run_platform.py stop

## Install everything and run every test: unit, integration (real PostgreSQL and RabbitMQ),
## contract, deploy validation, OIDC interoperability, end-to-end (real browser), faults.
test: install-system
	@scripts/test.sh

test-unit: install
	@$(PYTEST) -q libs services gateway examples tests/contract tests/deploy tests/integration -m "not integration"

test-e2e: install-system
	@$(PYTEST) tests/e2e tests/interop

## Every operation of every API against its OpenAPI document (FUZZ_MAX_EXAMPLES, FUZZ_RANDOM=1: see tests/fuzz).
test-fuzz: install
	@$(PYTEST) tests/fuzz

test-faults: install
	@$(PYTEST) tests/faults

bench: install
	@echo "See bench/README.md: each benchmark is a script with its recorded results."

clean:
	rm -rf var .venv
