#!/usr/bin/env bash
# Local gateway: demo origin on 127.0.0.1:8788, `wrangler dev` with local D1 in front of
# it on http://127.0.0.1:8787. State persists in .dev/ between runs.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh

ORIGIN_PORT=${ORIGIN_PORT:-8788}
PORT=${PORT:-8787}
STATE=.dev/state
mkdir -p "$STATE"

# Local secrets for wrangler dev, generated once (never committed: .dev.vars is ignored).
random_secret() { node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))'; }
touch .dev.vars
for name in SESSION_SECRET ORIGIN_SECRET SESSION_ADMIN_TOKEN; do
  if ! grep -q "^$name=" .dev.vars; then
    echo "dev: adding a random $name to .dev.vars"
    printf '%s="%s"\n' "$name" "$(random_secret)" >> .dev.vars
  fi
done
# The demo origin verifies the gateway's assertion with the same ORIGIN_SECRET.
ORIGIN_SECRET=$(sed -n 's/^ORIGIN_SECRET="\(.*\)"$/\1/p' .dev.vars)
export ORIGIN_SECRET
export ORIGIN_AUDIENCE="127.0.0.1:$ORIGIN_PORT"

wrangler d1 migrations apply SESSIONS_DB --local --persist-to "$STATE" >/dev/null
echo "dev: D1 migrations applied (local, $STATE)"

node examples/origin-node/server.mjs "$ORIGIN_PORT" &
origin_pid=$!
trap 'kill $origin_pid 2>/dev/null || true' EXIT INT TERM

echo "dev: open http://127.0.0.1:$PORT/ (gateway) — origin at http://127.0.0.1:$ORIGIN_PORT/, status at http://127.0.0.1:$PORT/__session/"
echo "dev: your sessions: http://127.0.0.1:$PORT/__session/sessions/ (after logging in)"
# The token is not printed: this output ends up in terminal scrollback and CI logs; it
# stays in .dev.vars (not committed), where the next line says to look.
echo "dev: dashboard: http://127.0.0.1:$PORT/__session/admin/ — token in .dev.vars (SESSION_ADMIN_TOKEN)"
wrangler dev --ip 127.0.0.1 --port "$PORT" --persist-to "$STATE" \
  --var "ORIGIN_URL:http://127.0.0.1:$ORIGIN_PORT" "$@"
