#!/usr/bin/env bash
# sessiongate against its JS peers on local workerd (bench/run.mjs; its flags pass through:
# --seconds 8 --reps 3 --connections 16 --threads 2 --only REGEX --crossings 200
# --baseline DIR --out FILE).
# Installs wrk and nginx when missing (setup.sh --bench), rebuilds a stale worker.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
if ! bash scripts/setup.sh --bench; then
  echo "bench: wrk and nginx could not be installed: autocannon and the Node origin instead" >&2
  bash scripts/setup.sh
fi
if [[ ! -f build/index_bg.wasm || -n "$(find src Cargo.toml Cargo.lock -newer build/index_bg.wasm | head -1)" ]]; then
  bash scripts/build.sh
fi
node bench/run.mjs "$@"
