#!/usr/bin/env bash
# The whole test suite: native unit and conformance tests, the wasm build, end-to-end
# tests in Miniflare/workerd, and the deployable bundle.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh --tests

echo "== gates: rustfmt, clippy with warnings denied (native, and wasm32: the edge)"
cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown -- -D warnings
# The library face: a workers-rs app using sessiongate (examples/workers_app.rs).
cargo clippy --quiet --target wasm32-unknown-unknown --no-default-features --example workers_app -- -D warnings
# The API docs build without a broken link.
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps --target wasm32-unknown-unknown
# The fuzz targets still compile against the library (running them: npm run fuzz).
cargo check --quiet --manifest-path fuzz/Cargo.toml --bins

echo "== cargo test (native core, request path included)"
cargo test --quiet

echo "== wasm build"
bash scripts/build.sh

echo "== end-to-end (Miniflare, local D1, origin on loopback)"
node --test --test-concurrency=1 --test-timeout=180000 'tests/*.test.mjs'

echo "== deployable bundle (wrangler deploy --dry-run)"
rm -rf dist
wrangler deploy --dry-run --outdir dist >/dev/null
raw=$(stat -c %s dist/index_bg.wasm 2>/dev/null || stat -c %s build/index_bg.wasm)
echo "bundle: dist/ $(du -sb dist | cut -f1) bytes; wasm ${raw} bytes raw, $(gzip -9 -c build/index_bg.wasm | wc -c) bytes gzip"
echo "== all tests passed"
