#!/usr/bin/env bash
# Builds the browser's program into <site>/pkg (Trunk runs this at its build stage; Trunk itself
# builds the CSS, copies public/ and compresses the site afterwards).
#
# Trunk's own Rust step cannot split a program (it runs wasm-bindgen right after cargo, without
# `--keep-lld-exports`), so this does what it did plus the split: cargo builds `app` for wasm32
# with relocations kept (.cargo/config.toml), `wasm-split` cuts it into the part every page needs
# and one part per feature (the `#[lazy]` functions of app/src/routes.rs) with the chunks parts
# share, wasm-bindgen makes the main part's JavaScript, and in a release build wasm-opt shrinks
# every file.
#
#   scripts/build-wasm.sh <site dir> [release|debug]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
site=${1:?usage: build-wasm.sh <site dir> [release|debug]}
profile=${2:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}
export PATH="$here/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# wasm-bindgen's tool must be the version of the crate the program links (Cargo.toml pins it).
want=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' "$here/Cargo.toml")
if ! wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then
  echo "build-wasm.sh: wasm-bindgen $want is needed (found: $(wasm-bindgen --version 2>/dev/null || echo none)); run scripts/setup.sh" >&2
  exit 1
fi

if [ "$profile" = release ]; then cargo_profile=wasm-release; out=wasm-release; else cargo_profile=dev; out=debug; fi
cd "$here"
cargo build --offline --locked -p app --lib --target wasm32-unknown-unknown \
  --no-default-features --features hydrate --profile "$cargo_profile"
cargo build --offline --locked -p wasm-split --release

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pkg"
"$CARGO_TARGET_DIR/release/wasm-split" "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$out/app.wasm" "$work/pkg" "$work/main.wasm"
wasm-bindgen --target web --keep-lld-exports --no-demangle --no-typescript --out-name app --out-dir "$work/pkg" "$work/main.wasm"
if [ "$profile" = release ]; then
  for wasm in "$work"/pkg/*.wasm; do
    wasm-opt -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals "$wasm" -o "$wasm"
  done
fi
rm -rf "$site/pkg"
mkdir -p "$site"
mv "$work/pkg" "$site/pkg"
