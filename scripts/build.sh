#!/usr/bin/env bash
# Builds the worker (build/index.js + build/index_bg.wasm) offline, then prints its size.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
worker-build --release >&2
wasm=build/index_bg.wasm
# The name section (~70 KB) only labels stack traces: not worth shipping.
"$WASM_OPT_BIN" "$wasm" --strip-debug --strip-producers -o "$wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "build: $wasm ${raw} bytes raw, ${gz} bytes gzip" >&2
