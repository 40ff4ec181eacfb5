#!/usr/bin/env bash
# A throwaway local PostgreSQL for `make demo` and `make bench`: initdb + pg_ctl in ./.pg on 127.0.0.1.
#   scripts/dev-postgres.sh start   # starts it (creating it first), prints nothing else on success
#   scripts/dev-postgres.sh url     # prints its connection URI
#   scripts/dev-postgres.sh stop    # stops it; `rm -rf .pg` forgets it
# initdb and pg_ctl refuse to run as root, so as root they run as the postgres user.
# autovacuum_naptime=5s, as README's Production section advises for a busy queue (migration 0022).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${HERALD_PG_DIR:-$PWD/.pg}"
port="${HERALD_PG_PORT:-54329}"
bindir="$(pg_config --bindir 2>/dev/null || true)"
if [ ! -x "$bindir/initdb" ]; then bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"; fi
if [ ! -x "$bindir/initdb" ]; then
  echo "PostgreSQL server binaries not found: apt-get install postgresql (or brew install postgresql@15)" >&2
  exit 1
fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "${1:-}" in
  start)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres: "$dir"
      as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
    fi
    if ! as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=1100 -c autovacuum_naptime=5s" start >/dev/null
    fi
    ;;
  stop)
    [ -f "$dir/data/PG_VERSION" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
  url)
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  *)
    echo "usage: $0 start|stop|url" >&2
    exit 64
    ;;
esac
