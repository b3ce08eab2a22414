#!/usr/bin/env bash
# Builds the worker (build/index.js + build/index_bg.wasm) offline, then prints its size.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
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
