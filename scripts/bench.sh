#!/usr/bin/env bash
# Runs the benchmarks (release build) and prints their tables: the message pipeline, then the
# inbox with 100,000 messages (`scripts/bench.sh inbox` for that one alone; `scripts/bench.sh inbox
# 1000000` writes a million messages, spread over proportionally more days, at most a year).
# `scripts/bench.sh compare` runs the pipeline on SQLite, on PostgreSQL with one instance and with
# two behind a proxy, side by side (it starts a PostgreSQL server of its own that syncs commits).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}
export PATH="$HOME/.cargo/bin:$PATH"
case "${1:-all}" in
  pipeline) cargo bench --bench pipeline ;;
  compare)
    export SWITCHBOARD_TEST_PG_PORT=${SWITCHBOARD_TEST_PG_PORT:-25442}
    export SWITCHBOARD_TEST_PG_DIR=${SWITCHBOARD_TEST_PG_DIR:-/tmp/switchboard-bench-pg}
    url=$(PG_FSYNC=on bash scripts/pg.sh start)
    trap 'bash scripts/pg.sh stop' EXIT
    SWITCHBOARD_BENCH_ONLY=compare BENCH_POSTGRES_URL=$url cargo bench --bench pipeline ;;
  inbox) BENCH_MESSAGES=${2:-${BENCH_MESSAGES:-100000}} cargo bench --bench inbox ;;
  *) cargo bench --bench pipeline && cargo bench --bench inbox ;;
esac
