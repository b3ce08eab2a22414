#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for a fixed budget and reports how many
# inputs each executed. FUZZ_SECONDS per target (default 60). Any panic or failed
# assertion stops the run with the crashing input saved under fuzz/artifacts/.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
CARGO_FUZZ_VERSION=0.13.2
if [[ "$(cargo fuzz --version 2>/dev/null)" != *"$CARGO_FUZZ_VERSION"* ]]; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
# cargo-fuzz passes nightly-only flags (sanitizers); this lets the one stable toolchain
# installed here accept them.
export RUSTC_BOOTSTRAP=1
secs=${FUZZ_SECONDS:-60}
for target in $(cargo fuzz list --fuzz-dir fuzz); do
  log=$(mktemp)
  if ! cargo fuzz run --fuzz-dir fuzz "$target" -- -max_total_time="$secs" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target FAILED" >&2
    exit 1
  fi
  runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1)
  echo "fuzz: $target: ${runs:-?} executions in ${secs} s, no panic"
  rm -f "$log"
done
