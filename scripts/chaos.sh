#!/usr/bin/env bash
# The fault suite, long form (CI runs a short one within scripts/test.sh): signed webhooks from
# many guests, delivered twice; 30 % of sends refused, failed, cut or created-then-failed;
# status callbacks twice and shuffled; kill -9 during the load and the drain; WhatsApp, SMS and
# photos; at send rates 1/s, 2/s, 5/s and the default. On SQLite (one process), then on
# PostgreSQL (two processes behind a proxy). Prints a report per run and fails on any message
# acknowledged and not answered, any reply sent twice or not recorded. It also stops PostgreSQL
# for 30 s under load and, as root, fills a small disk under SQLite (tests/outage.rs).
#   scripts/chaos.sh                 everything
#   CHAOS_RATES=default scripts/chaos.sh   one rate; also CHAOS_GUESTS, CHAOS_ROUNDS, CHAOS_KILLS
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}
export PATH="$here/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export CHAOS_GUESTS=${CHAOS_GUESTS:-300} CHAOS_ROUNDS=${CHAOS_ROUNDS:-4} CHAOS_KILLS=${CHAOS_KILLS:-6}
export CHAOS_RATES=${CHAOS_RATES:-1,2,5,default}

bash scripts/setup.sh --crates-only >/dev/null
echo "==> SQLite, one process"
cargo test --quiet -p switchboard --test chaos -- --nocapture

echo "==> SQLite on a disk that fills up"
if [ "$(id -u)" = 0 ]; then
  disk=$(mktemp -d /tmp/switchboard-small-disk.XXXXXX)
  mount -t tmpfs -o size=24m switchboard-small-disk "$disk"
  SWITCHBOARD_TEST_SMALL_DISK="$disk" cargo test --quiet -p switchboard --test outage -- --ignored --nocapture \
    || { umount "$disk"; exit 1; }
  umount "$disk" && rmdir "$disk"
else
  echo "skipped: mounting a small filesystem needs root"
fi

echo "==> PostgreSQL stopped for 30 s and started again, under webhooks and replies in flight"
(
  export SWITCHBOARD_TEST_PG_PORT=25433 SWITCHBOARD_TEST_PG_DIR=/tmp/switchboard-pg-outage
  outage_url=$(bash scripts/pg.sh start)
  trap 'bash scripts/pg.sh stop' EXIT
  TEST_DATABASE_URL="$outage_url" SWITCHBOARD_TEST_PG_HALT=1 \
    cargo test --quiet -p switchboard --test outage -- --nocapture a_database_that_goes_away
)

echo "==> PostgreSQL, two processes"
pg_url=$(bash scripts/pg.sh start)
trap 'bash scripts/pg.sh stop' EXIT
TEST_DATABASE_URL="$pg_url" cargo test --quiet -p switchboard --test chaos -- --nocapture
