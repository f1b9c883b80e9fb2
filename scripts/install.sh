#!/usr/bin/env bash
# Create .venv and install the platform with its test tools. Idempotent and quick when
# nothing changed (a stamp records the hash of every file that lists dependencies).
# Usage: scripts/install.sh [--system]   (--system also installs chromium and docker-compose
# from Debian's packages, needed by the browser tests and the compose validation)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--system" ]]; then
  bash scripts/install-system-deps.sh
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is required (found: $("$PY" --version 2>&1))." >&2
  exit 1
fi
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv

stamp=.venv/.installed
want=$(cat requirements/lock.txt requirements-dev.txt $(git ls-files '*pyproject.toml' 2>/dev/null || find . -name pyproject.toml -not -path './.venv/*') | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && "$(cat $stamp)" == "$want" ]]; then
  exit 0
fi
echo "Installing Python packages into .venv ..."
.venv/bin/python -m pip install --quiet --upgrade pip
# Third-party packages exactly as locked (versions and hashes: scripts/lock.py refreshes the
# lock), then the platform's own packages from the tree, adding nothing unlocked.
.venv/bin/python -m pip install --quiet --require-hashes -r requirements/lock.txt
.venv/bin/python -m pip install --quiet --no-deps -r requirements-dev.txt
echo "$want" > $stamp
