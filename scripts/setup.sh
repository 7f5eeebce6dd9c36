#!/usr/bin/env bash
# Installs everything Switchboard needs to build, run and test on a fresh Debian machine.
# Idempotent: each step is skipped when the right version is already there.
set -euo pipefail

WASM_BINDGEN_VERSION=0.2.130
TRUNK_VERSION=0.21.14
here=$(cd "$(dirname "$0")/.." && pwd)

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

export PATH="$HOME/.cargo/bin:$PATH"

# The UI's build (scripts/build-wasm.sh, Trunk's build hook) runs `cargo build --offline`: the
# crates must be in the registry before that. `cargo fetch` downloads what Cargo.lock names for
# every target, and takes a second when they are there.
fetch_crates() {
  log "fetching the crates Cargo.lock names"
  (cd "$here" && cargo fetch --locked)
}

# `setup.sh --crates-only`: just that step (scripts/test.sh checks it against an empty registry).
if [ "${1:-}" = "--crates-only" ]; then
  fetch_crates
  exit 0
fi

if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  log "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes, once)"
  # Not --locked: its lockfile wants a crate version the registry here lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION\$"; then
  log "installing trunk $TRUNK_VERSION (about 7 minutes, once)"
  cargo install trunk --version "$TRUNK_VERSION" --locked --force
fi


fetch_crates

# wasm-opt from npm (binaryen 132); Debian's binaryen 108 produces bundles that never hydrate.
if [ ! -x "$here/tools/node_modules/.bin/wasm-opt" ]; then
  log "installing wasm-opt (npm binaryen)"
  (cd "$here/tools" && npm ci --no-audit --no-fund --loglevel=error)
fi
