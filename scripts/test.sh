#!/usr/bin/env bash
# Runs every test: unit and integration tests on SQLite and on a private PostgreSQL, then the
# Playwright suite in Debian's Chromium. Installs what it needs first (scripts/setup.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}
export PATH="$here/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

started=$(date +%s)
step() { printf '\n\033[1;34m==> %s\033[0m (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

# The shared build cache only grows: test binaries of earlier builds (hundreds of MB each) and
# incremental state are dropped before they fill the disk. Cargo rebuilds whatever it misses.
if [ -d "$CARGO_TARGET_DIR/debug/deps" ]; then
  find "$CARGO_TARGET_DIR/debug/deps" -maxdepth 1 -type f ! -name '*.*' -mmin +360 -delete 2>/dev/null || true
  free_kb=$(df -Pk "$CARGO_TARGET_DIR" | awk 'NR == 2 { print $4 }')
  if [ "${free_kb:-0}" -lt $((20 * 1024 * 1024)) ]; then
    rm -rf "$CARGO_TARGET_DIR/debug/incremental"
  fi
fi

step "setting up the toolchain"
bash scripts/setup.sh
if [ ! -x /usr/bin/chromium ]; then
  step "installing Debian's Chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

step "checking that the offline UI build needs nothing but what setup fetches (an empty cargo registry)"
# This machine's registry is warm, so a missing fetch step would pass every other step here and
# fail only on a new machine: check the UI crate offline against a registry setup.sh filled alone.
fresh_home=$(mktemp -d)
CARGO_HOME="$fresh_home" bash scripts/setup.sh --crates-only
CARGO_HOME="$fresh_home" CARGO_TARGET_DIR="$fresh_home/target" cargo check --offline --locked --quiet \
  -p app --no-default-features --features hydrate --target wasm32-unknown-unknown
# …and the tool the UI's build cuts the program with (scripts/build-wasm.sh).
CARGO_HOME="$fresh_home" CARGO_TARGET_DIR="$fresh_home/target" cargo check --offline --locked --quiet -p wasm-split
rm -rf "$fresh_home"

step "checking formatting and lints (clippy, warnings denied; the UI crate for the browser too)"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy -p app --no-default-features --features hydrate --target wasm32-unknown-unknown --quiet -- -D warnings

step "building the UI (WASM, release)"
trunk build --release
node tools/sizes.mjs target/site

step "building the server and the simulator"
cargo build -p switchboard -p twilio-sim
# The benchmarks run by hand (scripts/bench.sh); CI makes sure they still compile.
cargo check -p switchboard --benches

step "unit and integration tests on SQLite"
cargo test --workspace

step "integration tests on PostgreSQL"
pg_url=$(bash scripts/pg.sh start)
trap 'bash scripts/pg.sh stop' EXIT
TEST_DATABASE_URL="$pg_url" cargo test -p switchboard --tests
bash scripts/pg.sh stop
trap - EXIT

step "end-to-end tests (Playwright, Chromium), at a desktop's size"
(cd end2end && npm ci --no-audit --no-fund --loglevel=error && npx playwright test)

step "end-to-end tests again, as a phone (390 x 844, touch)"
(cd end2end && E2E_SIZE=phone E2E_DATA_DIR=/tmp/switchboard-e2e-phone-data E2E_LOG=/tmp/switchboard-e2e-phone.log \
  npx playwright test)

step "searching the end-to-end runs' logs and databases for the secrets typed in the browser"
# The simulator's demo Auth Token, the model API key of end2end/tests/03-agents.spec.ts and the
# transcription API key of 11-rich.spec.ts.
places=(/tmp/switchboard-e2e.log /tmp/switchboard-e2e-data /tmp/switchboard-e2e-phone.log /tmp/switchboard-e2e-phone-data)
for secret in fedcba9876543210fedcba9876543210 sk-demo-7f3a9c2e5b1d4a6f8e0c sk-demo-transcribe-0123456789; do
  if grep -rq "$secret" "${places[@]}"; then
    echo "a secret appears in clear text:" >&2
    grep -rl "$secret" "${places[@]}" >&2
    exit 1
  fi
done
for run in switchboard-e2e switchboard-e2e-phone; do
  test -s "/tmp/$run.log" && ls "/tmp/$run-data/switchboard.db" >/dev/null
done
echo "not found in $(cat /tmp/switchboard-e2e.log /tmp/switchboard-e2e-phone.log | wc -l) log lines nor in the two databases"

step "all tests passed"
