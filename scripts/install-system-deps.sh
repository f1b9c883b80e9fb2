#!/bin/sh
# Installs the system packages the test suite needs, from Debian's archive only, and only
# those missing:
#   chromium        headless browser for the end-to-end tests (driven by Playwright through
#                   executable_path=/usr/bin/chromium; no browser is ever downloaded otherwise)
#   docker-compose  `docker-compose config` validation of docker-compose.yml (no engine needed)
#   wrk             HTTP load generator of the benchmarks under bench/
#   clamav-daemon   ClamAV's clamd: the requests service scans uploads with it, and its tests
#                   start one with the project's own test signature (no database download)
#   libmagic1       file types from their content (python-magic, requests service uploads)
#   libpango-1.0-0, libpangoft2-1.0-0, fonts-dejavu-core
#                   WeasyPrint's text layout and a font: billing's invoice and attestation PDFs
#
# Idempotent and quiet: prints one line per package installed, nothing when all are present.
# Debian bookworm, run as root (or through sudo). Exit status is non-zero on failure.
#
#   sudo scripts/install-system-deps.sh
set -eu

# command that must exist  ->  Debian package that provides it
PACKAGES="chromium:chromium docker-compose:docker-compose wrk:wrk clamd:clamav-daemon libmagic1:libmagic1 \
libpango-1.0-0:libpango-1.0-0 libpangoft2-1.0-0:libpangoft2-1.0-0 fonts-dejavu-core:fonts-dejavu-core"

missing=""
for entry in $PACKAGES; do
    cmd="${entry%%:*}"
    pkg="${entry#*:}"
    if command -v "$cmd" >/dev/null 2>&1; then
        continue
    fi
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        continue
    fi
    missing="$missing $pkg"
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo "$0" "$@"
    fi
    echo "install-system-deps: need root to install:$missing" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: apt-get not found; install by hand:$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# Refresh the package lists only when a package is not known yet (saves a minute when the
# lists are already there).
for pkg in $missing; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
        if ! apt-get update -qq >"$log" 2>&1; then
            cat "$log" >&2
            echo "install-system-deps: apt-get update failed" >&2
            exit 1
        fi
        break
    fi
done

for pkg in $missing; do
    if apt-get install -y -qq --no-install-recommends "$pkg" >"$log" 2>&1; then
        echo "install-system-deps: installed $pkg"
    else
        cat "$log" >&2
        echo "install-system-deps: failed to install $pkg" >&2
        exit 1
    fi
done
