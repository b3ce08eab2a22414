#!/usr/bin/env bash
# Builds the worker (build/index.js + build/index_bg.wasm) offline, then prints its size.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
# Panic messages without file:line:col (-Zlocation-detail=none): 22 KB raw / 6.7 KB
# gzip of paths and Location records for panics the code is written never to hit.
# An unstable rustc flag, taken on the stable toolchain through RUSTC_BOOTSTRAP (as
# scripts/fuzz.sh does), for this build only: clippy, docs and tests run without it.
# SESSIONGATE_PANIC_LOCATIONS=1 keeps the locations (for chasing a panic). The flags
# replace .cargo/config.toml's for wasm32, so its sha2 flag is repeated here.
if [[ ${SESSIONGATE_PANIC_LOCATIONS:-} != 1 ]]; then
  export RUSTC_BOOTSTRAP=1
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='--cfg sha2_backend_soft="compact" -Zlocation-detail=none'
fi
worker-build --release >&2
wasm=build/index_bg.wasm
# worker-build ran `wasm-opt -O` (tuned for speed). A second pass for size: -Oz over
# that output shrinks it 6.4 KB raw / 2.5 KB gzip (-Oz alone, or both in one call, do
# not). Same feature set as worker-build, so no newer encoding reaches workerd. Then
# the name section (~150 KB raw) goes: it only labels stack traces.
features=(--enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int
  --enable-bulk-memory --enable-multivalue --enable-reference-types
  --enable-exception-handling)
"$WASM_OPT_BIN" "$wasm" "${features[@]}" -Oz --strip-debug --strip-producers -o "$wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "build: $wasm ${raw} bytes raw, ${gz} bytes gzip" >&2
