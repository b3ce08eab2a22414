#!/usr/bin/env bash
# Benchmarks the built worker on local workerd: node bench/run.mjs [seconds] [connections].
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
[[ -f build/index_bg.wasm ]] || bash scripts/build.sh
node bench/run.mjs "$@"
