#!/usr/bin/env bash
# Every test of the platform, cheapest first. Stops at the first failing stage.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTEST=".venv/bin/python -m pytest"
stage() { echo; echo "=== $1"; shift; "$@"; }

stage "unit, integration (PostgreSQL, RabbitMQ), contract and deploy tests" \
  $PYTEST libs services gateway examples tests/contract tests/deploy tests/integration
stage "every API fuzzed against its own OpenAPI document (schemathesis, real PostgreSQL)" \
  $PYTEST tests/fuzz
stage "OpenID Connect interoperability and end-to-end journeys (headless Chromium)" \
  $PYTEST tests/interop tests/e2e
stage "fault tests (processes killed, broker stopped)" \
  $PYTEST tests/faults
