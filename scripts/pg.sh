#!/usr/bin/env bash
# Starts (or stops) a private PostgreSQL cluster on loopback for the test suite.
#   scripts/pg.sh start   -> prints the server URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   scripts/pg.sh stop
#   scripts/pg.sh halt | resume   stops the server keeping its data, starts it again (outage tests)
# The tests run without fsync (nothing there must survive a power loss); PG_FSYNC=on starts a server
# that syncs its commits, as a deployment does, for benchmarks.
set -euo pipefail

# Below Linux's range of ephemeral ports (32768–60999): a port inside it can be held for a moment
# by any outgoing connection of the suite itself, and the server then fails to bind (it did once).
PGPORT=${SWITCHBOARD_TEST_PG_PORT:-25432}
PGDIR=${SWITCHBOARD_TEST_PG_DIR:-/tmp/switchboard-pg}
PG_FSYNC=${PG_FSYNC:-off}
case "$PG_FSYNC" in on|off) ;; *) echo "PG_FSYNC must be on or off" >&2; exit 2 ;; esac

find_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ]; then
    echo "[pg] installing PostgreSQL from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$dir"
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

case "${1:-start}" in
  start)
    bin=$(find_bin)
    if [ -f "$PGDIR/data/postmaster.pid" ] && as_postgres "$bin/pg_ctl -D $PGDIR/data status" >/dev/null 2>&1; then
      as_postgres "$bin/pg_ctl -D $PGDIR/data -m fast -w stop" >/dev/null
    fi
    rm -rf "$PGDIR"
    mkdir -p "$PGDIR"
    [ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
    # A UTF-8 character type whatever the caller's environment: under the C locale PostgreSQL's
    # text search takes letters beyond ASCII for separators ("café" is read as "caf"), which
    # Switchboard's search needs (docs/deployment.md). C.UTF-8 ships with glibc.
    as_postgres "$bin/initdb -D $PGDIR/data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
    as_postgres "$bin/pg_ctl -D $PGDIR/data -o '-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=$PG_FSYNC -c max_connections=300' -l $PGDIR/log -w start" >/dev/null
    echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
    ;;
  halt)
    bin=$(find_bin)
    as_postgres "$bin/pg_ctl -D $PGDIR/data -m fast -w stop" >/dev/null
    ;;
  resume)
    bin=$(find_bin)
    as_postgres "$bin/pg_ctl -D $PGDIR/data -o '-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=$PG_FSYNC -c max_connections=300' -l $PGDIR/log -w start" >/dev/null
    ;;
  stop)
    bin=$(find_bin)
    if [ -d "$PGDIR/data" ]; then
      as_postgres "$bin/pg_ctl -D $PGDIR/data -m fast -w stop" >/dev/null 2>&1 || true
    fi
    ;;
  *)
    echo "usage: $0 start|stop|halt|resume" >&2
    exit 2
    ;;
esac
