#!/usr/bin/env bash
# Installs what building and testing need; idempotent (skips what is already right).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust with rustup" >&2; exit 1; }
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown

if [[ "$(worker-build --version 2>/dev/null)" != *"$WORKER_BUILD_VERSION"* ]]; then
  echo "setup: installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION"
fi
if [[ "$(wasm-bindgen --version 2>/dev/null)" != *"$WASM_BINDGEN_VERSION"* ]]; then
  echo "setup: installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# npm packages (wrangler, miniflare, Node 22, binaryen, esbuild), exact pins.
stamp=node_modules/.sessiongate-installed
if [[ ! -f $stamp || package.json -nt $stamp ]]; then
  echo "setup: installing npm packages"
  npm install --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
node --version | grep -q '^v22\.' || { echo "setup: Node 22 not first on PATH" >&2; exit 1; }

# The Python origin example's one dependency, in a project-local venv.
if ! .venv/bin/python -c 'import jwt; assert jwt.__version__ == "'"$PYJWT_VERSION"'"' 2>/dev/null; then
  echo "setup: installing PyJWT $PYJWT_VERSION into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "PyJWT==$PYJWT_VERSION"
fi
