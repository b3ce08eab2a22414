#!/usr/bin/env bash
# Local gateway: `wrangler dev` (local D1, queue and consumer) on http://127.0.0.1:$PORT
# (default 8787) in front of, in this order:
#   1. the origin given with `--origin URL` (npm run dev -- --origin http://127.0.0.1:3000);
#   2. ORIGIN_URL from .dev.vars, else from wrangler.toml [vars];
#   3. else the demo origin (examples/origin-node/server.mjs) on 127.0.0.1:$ORIGIN_PORT (8788).
# Other arguments go to `wrangler dev` as they are. State persists in $DEV_STATE
# (default .dev/state; `npm run sessions` / `npm run signals` read it).
# `--print-config` prints the choice and the wrangler command, and starts nothing.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

PORT=${PORT:-8787}
ORIGIN_PORT=${ORIGIN_PORT:-8788}
STATE=${DEV_STATE:-.dev/state}
say() { echo "dev: $*"; }
die() { echo "dev: $*" >&2; exit 1; }

# --- arguments: ours are taken out, the rest go to wrangler dev -----------------------
origin_arg="" print_only=0 pass=()
while (($#)); do
  case $1 in
    --origin) (($# >= 2)) || die "--origin needs a URL, e.g. --origin http://127.0.0.1:3000"
      origin_arg=$2; shift 2 ;;
    --origin=*) origin_arg=${1#--origin=}; shift ;;
    --port) (($# >= 2)) || die "--port needs a number"; PORT=$2; shift 2 ;;
    --port=*) PORT=${1#--port=}; shift ;;
    --print-config) print_only=1; shift ;;
    --var) # `--var ORIGIN_URL:...` is an origin given on the command line too
      if (($# >= 2)) && [[ $2 == ORIGIN_URL:* ]]; then origin_arg=${2#ORIGIN_URL:}; shift 2
      else pass+=("$1"); shift; fi ;;
    --var=ORIGIN_URL:*) origin_arg=${1#--var=ORIGIN_URL:}; shift ;;
    *) pass+=("$1"); shift ;;
  esac
done
[[ $PORT =~ ^[0-9]+$ ]] || die "PORT must be a number (got '$PORT')"

# ORIGIN_URL as a dotenv file (.dev.vars) or wrangler.toml's [vars] table sets it.
dev_vars_origin() {
  [[ -f .dev.vars ]] || return 0
  sed -n -E 's/^[[:space:]]*ORIGIN_URL[[:space:]]*=[[:space:]]*"?([^"]*)"?[[:space:]]*$/\1/p' .dev.vars | tail -n 1
}
toml_vars_origin() {
  awk '/^[[:space:]]*\[/ { in_vars = ($0 ~ /^[[:space:]]*\[vars\][[:space:]]*(#.*)?$/) }
       in_vars && /^[[:space:]]*ORIGIN_URL[[:space:]]*=/ {
         if (match($0, /"[^"]*"/)) print substr($0, RSTART + 1, RLENGTH - 2) }' wrangler.toml | tail -n 1
}

demo=0
if [[ -n $origin_arg ]]; then
  origin=$origin_arg why="given with --origin"
elif origin=$(dev_vars_origin) && [[ -n $origin ]]; then
  why="ORIGIN_URL in .dev.vars"
elif origin=$(toml_vars_origin) && [[ -n $origin ]]; then
  why="ORIGIN_URL in wrangler.toml [vars]"
else
  demo=1 origin="http://127.0.0.1:$ORIGIN_PORT"
  why="the demo origin: no --origin, and no ORIGIN_URL in .dev.vars or wrangler.toml [vars]"
fi
[[ $origin =~ ^https?://[^/]+ ]] || die "the origin must be an http:// or https:// URL (got '$origin', $why)"
# The gateway in front of itself would forward each request back to itself.
origin_hostport=$(sed -E 's#^https?://([^/?#]*).*#\1#' <<<"$origin" | tr 'A-Z' 'a-z')
for self in "127.0.0.1:$PORT" "localhost:$PORT" "[::1]:$PORT" "0.0.0.0:$PORT"; do
  [[ $origin_hostport != "$self" ]] || die "the origin $origin is this gateway's own address (PORT=$PORT): give your app's URL, or another PORT"
done

wrangler_args=(dev --ip 127.0.0.1 --port "$PORT" --persist-to "$STATE")
# An origin from the files is read by wrangler itself; the others are set here.
[[ $why == ORIGIN_URL\ in* ]] || wrangler_args+=(--var "ORIGIN_URL:$origin")
wrangler_args+=(${pass[@]+"${pass[@]}"})

origin_line="origin: $origin ($why)"
if ((print_only)); then
  echo "$origin_line"
  echo "gateway: http://127.0.0.1:$PORT/"
  echo "state: $STATE"
  echo "demo origin: $([[ $demo == 1 ]] && echo "yes, on port $ORIGIN_PORT" || echo no)"
  printf 'wrangler'; printf ' %q' "${wrangler_args[@]}"; echo
  exit 0
fi

bash scripts/setup.sh

# Nothing else may answer on the gateway's port: the readiness check below would take
# its answer for the gateway's.
port_open() { node -e 'const s=require("net").connect(+process.argv[1],"127.0.0.1");s.on("connect",()=>process.exit(0));s.on("error",()=>process.exit(1))' "$1"; }
port_open "$PORT" && die "port $PORT is already in use (another npm run dev?): stop it, or choose another with PORT=8790 npm run dev"

mkdir -p "$STATE"
# Local secrets for wrangler dev, generated once (never committed: .dev.vars is ignored).
random_secret() { node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))'; }
touch .dev.vars
for name in SESSION_SECRET ORIGIN_SECRET SESSION_ADMIN_TOKEN; do
  if ! grep -q "^$name=" .dev.vars; then
    say "adding a random $name to .dev.vars"
    printf '%s="%s"\n' "$name" "$(random_secret)" >> .dev.vars
  fi
done

wrangler d1 migrations apply SESSIONS_DB --local --persist-to "$STATE" >/dev/null
say "D1 migrations applied (local, $STATE)"

pids=()
cleanup() { for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "$origin_line"
if ((demo)); then
  port_open "$ORIGIN_PORT" && die "port $ORIGIN_PORT (the demo origin's) is already in use: stop what runs there, or set ORIGIN_PORT"
  # The demo origin verifies the gateway's assertion with the same ORIGIN_SECRET.
  ORIGIN_SECRET=$(sed -n 's/^ORIGIN_SECRET="\(.*\)"$/\1/p' .dev.vars) \
    ORIGIN_AUDIENCE="127.0.0.1:$ORIGIN_PORT" node examples/origin-node/server.mjs "$ORIGIN_PORT" &
  pids+=($!)
else
  say "each request reaches it with X-Session-* headers and an X-Session-Assertion signed with ORIGIN_SECRET from .dev.vars (audience: $origin_hostport)"
fi

# The worker is built by wrangler.toml's [build] command (scripts/build.sh) as wrangler starts.
if [[ ! -f build/index_bg.wasm || ! -d target/wasm32-unknown-unknown/release ]]; then
  say "building the worker (Rust to wasm) for the first time: a few minutes (cargo compiles every crate once; later starts take about 30 s)"
else
  say "building the worker (Rust to wasm, about 30 s), then starting wrangler dev on port $PORT"
fi

# Readiness: poll the health detail (loopback gets it) until the port answers, print
# every problem it names, then the ready line. Runs beside wrangler's own output.
watch_ready() {
  node --input-type=module - "$PORT" <<'EOF'
const port = process.argv[2];
const base = `http://127.0.0.1:${port}`;
const tty = process.stdout.isTTY;
const bold = (s) => (tty ? `\x1b[1;32m${s}\x1b[0m` : s);
const warn = (s) => (tty ? `\x1b[1;33m${s}\x1b[0m` : s);
const started = Date.now();
let health = null;
for (;;) {
  try {
    const res = await fetch(`${base}/__session/health`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    try { health = JSON.parse(text); } catch { health = null; }
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 500));
  }
}
const problems = [];
if (health) {
  if (Array.isArray(health.config)) {
    for (const p of health.config) problems.push(`setting ${p.setting}: ${p.problem}`);
  }
  const d1 = health.d1;
  if (d1 && typeof d1 === "object") {
    problems.push(`D1: ${d1.error}`);
    if (d1.hint) problems.push(`  hint: ${d1.hint}`);
  } else if (typeof d1 === "string" && d1 !== "ok" && !d1.startsWith("not used")) problems.push(`D1: ${d1}`);
  if (typeof health.queue === "string" && health.queue !== "ok") problems.push(`queue: ${health.queue}`);
  const o = health.origin;
  if (typeof o === "string") problems.push(`origin: ${o}`);
  else if (o && o.reachable === false) {
    problems.push(`origin ${o.url} is not reachable (${o.error ?? "no answer"}): start your app there, or give another with --origin`);
  } else if (o && o.status >= 500) problems.push(`origin ${o.url} answered ${o.status}`);
} else {
  problems.push("the health check did not answer JSON: see wrangler's output above");
}
const secs = Math.round((Date.now() - started) / 1000);
const line = "=".repeat(64);
const out = ["", line];
for (const p of problems) out.push(warn(`dev: problem: ${p}`));
if (health?.origin?.reachable) {
  const s = health.origin.status;
  const note = s === 401 || s === 403 ? ": expected from an origin that requires the assertion, which the probe does not carry" : "";
  out.push(`dev: origin ${health.origin.url} is reachable (its GET / answered the health probe with ${s}${note})`);
}
out.push(bold(`ready: open ${base}/`) + `  (after ${secs} s)`);
out.push(`dev: gateway status ${base}/__session/ · your sessions ${base}/__session/sessions/ · dashboard ${base}/__session/admin/ (token: SESSION_ADMIN_TOKEN in .dev.vars)`);
out.push("dev: local state: npm run sessions · npm run signals · npm run signals -- --follow");
out.push(line, "");
process.stdout.write(out.join("\n") + "\n");
EOF
}
watch_ready &
pids+=($!)

# The token is not printed: this output ends up in terminal scrollback and CI logs; it
# stays in .dev.vars (not committed), where the ready banner says to look.
wrangler "${wrangler_args[@]}"
