#!/usr/bin/env bash
# Local state of `npm run dev`: the D1 database in $DEV_STATE (default .dev/state).
#   npm run sessions                   rows of the sessions table
#   npm run signals                    the latest audit rows (session_signals)
#   npm run signals -- --follow        ... then each new one as it arrives
# Options: --limit N, --json (raw rows). Reads with `wrangler d1 execute --local`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
exec node scripts/inspect.mjs "$@"
