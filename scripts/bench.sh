#!/usr/bin/env bash
# Runs the message pipeline benchmark (release build) and prints its table.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}
export PATH="$HOME/.cargo/bin:$PATH"
cargo bench --bench pipeline
