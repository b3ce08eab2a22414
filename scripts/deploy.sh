#!/usr/bin/env bash
# Deploys sessiongate in one command: setup, account, D1, queues, secrets, migrations,
# deploy. Every step is idempotent (it finds what exists and creates only what is
# missing) and says in one line what it does. `npm run deploy -- --help` for options.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

PLACEHOLDER_ID=00000000-0000-4000-8000-000000000000
DB_BINDING=SESSIONS_DB
REQUIRED_SECRETS=(SESSION_SECRET)
OPTIONAL_SECRETS=(ORIGIN_SECRET SESSION_ADMIN_TOKEN)
STEPS=7

usage() {
  cat <<EOF
Usage: npm run deploy [-- OPTIONS]      (or: bash scripts/deploy.sh [OPTIONS])

Deploys sessiongate to your Cloudflare account. Each step is idempotent: rerun it after
fixing whatever stopped it.
  1. setup        installs the build tools and wrangler if needed (scripts/setup.sh)
  2. account      wrangler whoami: logged in (npx wrangler login) or CLOUDFLARE_API_TOKEN
  3. D1           finds or creates the database; writes its id over the placeholder
                  database_id in wrangler.toml (that line only); else checks the id exists
  4. queues       creates the signal queue and its dead-letter queue when missing
  5. secrets      SESSION_SECRET (required), ORIGIN_SECRET, SESSION_ADMIN_TOKEN (optional):
                  a secret not yet on the worker is put from the environment variable of
                  the same name; a missing SESSION_SECRET is generated with
                  --generate-secrets, otherwise the deploy stops and says how to set it.
                  Secrets already set are never changed.
  6. migrations   wrangler d1 migrations apply $DB_BINDING --remote
  7. deploy       wrangler deploy, then prints the health URL

Options:
  --dry-run           check and print every step, change nothing (no create, no secret
                      put, no migration; wrangler deploy --dry-run builds the bundle);
                      exits non-zero if a real run would stop (e.g. the placeholder
                      database_id)
  --generate-secrets  generate a random SESSION_SECRET when the worker has none
  --config PATH       the wrangler config (default: wrangler.toml; or WRANGLER_TOML)
  -h, --help          this text

Environment:
  CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID   authenticate without \`wrangler login\`
  SESSION_SECRET, ORIGIN_SECRET, SESSION_ADMIN_TOKEN   values for secrets not yet set
  WRANGLER                  the wrangler binary (default: node_modules/.bin/wrangler)
  WRANGLER_TOML             the wrangler config, as --config
  SESSIONGATE_SKIP_SETUP=1  skip step 1 (the tests use it with a fake wrangler)
EOF
}

DRY_RUN=0
GENERATE=0
TOML=${WRANGLER_TOML:-$ROOT/wrangler.toml}
BLOCKERS=()        # dry run: what a real run would stop at
ADMIN_TOKEN_SET=0

parse_args() {
  while (($#)); do
    case $1 in
      --dry-run) DRY_RUN=1 ;;
      --generate-secrets) GENERATE=1 ;;
      --config) (($# > 1)) || die "--config needs a path"; TOML=$2; shift ;;
      --config=*) TOML=${1#--config=} ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
  done
  [[ -f $TOML ]] || die "wrangler config not found: $TOML"
  TOML=$(cd "$(dirname "$TOML")" && pwd)/$(basename "$TOML")
}

# --- output ------------------------------------------------------------------------
say() { printf '%s\n' "$@"; }
step() { printf '[%s/%s] %s\n' "$1" "$STEPS" "$2"; }
die() { printf 'deploy: %s\n' "$1" >&2; shift; (($#)) && printf '  %s\n' "$@" >&2; exit 1; }
dry() { ((DRY_RUN)); }
block() { BLOCKERS+=("$1"); say "  dry run: a real run would stop here: $1"; }
strip_ansi() { sed -E 's/\x1b\[[0-9;]*m//g'; }
# Shows the last wrangler call's output, then stops with MESSAGE [HINT...].
fail_wrangler() {
  strip_ansi <"$TMP/err" | sed 's/^/  | /' >&2
  strip_ansi <"$TMP/out" | sed 's/^/  | /' >&2
  die "$@"
}

# --- wrangler and the config ------------------------------------------------------
# wr ARGS...: wrangler with our config, never interactive (stdin closed: no prompts);
# stdout in $TMP/out, stderr in $TMP/err; returns wrangler's status.
wr() { "$WR" "$@" --config "$TOML" </dev/null >"$TMP/out" 2>"$TMP/err"; }
find_wrangler() {
  local wanted=${WRANGLER:-$ROOT/node_modules/.bin/wrangler}
  WR=$(command -v "$wanted") || die "wrangler not found: $wanted" "run: bash scripts/setup.sh (or set WRANGLER)"
}
# json EXPR [ARG]: EXPR evaluated with d = the JSON wrangler printed, a = ARG; prints the
# result (an array one item a line, nothing for null/undefined).
json() {
  node -e '
    const fs = require("fs");
    const text = fs.readFileSync(process.argv[1], "utf8");
    const d = JSON.parse(text.slice(text.search(/[[{]/)));
    const r = new Function("d", "a", `return (${process.argv[2]});`)(d, process.argv[3]);
    if (r !== undefined && r !== null) console.log(Array.isArray(r) ? r.join("\n") : String(r));
  ' "$TMP/out" "$1" "${2-}"
}
# toml_values KEY: the value of every uncommented `KEY = "value"` line of the config.
toml_values() { sed -nE "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"([^\"]*)\".*/\1/p" "$TOML"; }
toml_value() { local v; v=$(toml_values "$1"); printf '%s' "${v%%$'\n'*}"; }
read_config() {
  WORKER=$(toml_value name)
  DB_NAME=$(toml_value database_name)
  DB_ID=$(toml_value database_id)
  mapfile -t QUEUES < <({ toml_values queue; toml_values dead_letter_queue; } | awk '!seen[$0]++')
  [[ -n $WORKER && -n $DB_NAME && -n $DB_ID ]] \
    || die "$TOML lacks name, database_name or database_id"
  ((${#QUEUES[@]})) || die "$TOML names no queue"
}

# --- the steps ---------------------------------------------------------------------
step_setup() {
  if [[ ${SESSIONGATE_SKIP_SETUP:-} == 1 ]]; then
    step 1 "setup: skipped (SESSIONGATE_SKIP_SETUP=1)"
  else
    step 1 "setup: build tools and wrangler (scripts/setup.sh; the first time takes ~10 min)"
    bash scripts/setup.sh
  fi
  find_wrangler
}

step_account() {
  step 2 "account: checking the Cloudflare login (wrangler whoami)"
  if ! wr whoami --json; then
    if grep -q '"loggedIn": *false' "$TMP/out"; then
      die "not logged in to Cloudflare. Either:" \
        "npx wrangler login                      (opens a browser), or" \
        "export CLOUDFLARE_API_TOKEN=<token> CLOUDFLARE_ACCOUNT_ID=<account id>" \
        "  (a token with Workers Scripts, D1 and Queues edit permissions; dash.cloudflare.com/profile/api-tokens)" \
        "then rerun: npm run deploy"
    fi
    fail_wrangler "Cloudflare is not reachable (wrangler's error above); check the network, then rerun"
  fi
  say "  $(json '`${d.email || d.authType || "logged in"}; account: ${(d.accounts || []).map(x => x.name).join(", ") || "?"}`')"
  local accounts
  accounts=$(json '(d.accounts || []).length')
  if ((accounts > 1)) && [[ -z ${CLOUDFLARE_ACCOUNT_ID:-} ]] && [[ -z $(toml_value account_id) ]]; then
    die "this login has $accounts accounts: say which one to deploy to, then rerun:" \
      "export CLOUDFLARE_ACCOUNT_ID=<id>   ($(json 'd.accounts.map(x => `${x.name}: ${x.id}`).join(", ")'))"
  fi
}

step_database() {
  step 3 "D1 database '$DB_NAME': looking it up (wrangler d1 list --json)"
  wr d1 list --json || fail_wrangler "could not list the D1 databases"
  if [[ $DB_ID != "$PLACEHOLDER_ID" ]]; then
    [[ -n $(json 'd.find(x => x.uuid === a)?.uuid' "$DB_ID") ]] \
      || die "database_id $DB_ID (in $TOML) is not a D1 database of this account." \
        "Wrong account, or deleted? See: npx wrangler d1 list. To create a new one, set" \
        "database_id back to $PLACEHOLDER_ID and rerun."
    say "  found: database_id $DB_ID"
    return
  fi
  local id
  id=$(json 'd.find(x => x.name === a)?.uuid' "$DB_NAME")
  if dry; then
    if [[ -n $id ]]; then
      say "  exists with id $id; wrangler.toml still holds the placeholder database_id"
    else
      say "  missing: a real run creates it (wrangler d1 create $DB_NAME)"
    fi
    block "database_id in $TOML is the placeholder $PLACEHOLDER_ID: run 'npm run deploy' (without --dry-run) to create the database and write its id, or paste the id printed by 'npx wrangler d1 create $DB_NAME' into database_id"
    return
  fi
  if [[ -z $id ]]; then
    wr d1 create "$DB_NAME" || fail_wrangler "could not create the D1 database $DB_NAME"
    id=$(grep -oE 'database_id"? *[=:] *"[0-9a-f-]{36}"' "$TMP/out" | grep -oE '[0-9a-f-]{36}' || true)
    if [[ -z $id ]]; then
      wr d1 list --json || fail_wrangler "could not list the D1 databases"
      id=$(json 'd.find(x => x.name === a)?.uuid' "$DB_NAME")
    fi
    [[ -n $id ]] || fail_wrangler "created $DB_NAME but could not read its id"
    say "  created: $DB_NAME ($id)"
  else
    say "  exists: $DB_NAME ($id)"
  fi
  write_database_id "$id"
}

# write_database_id ID: replaces the placeholder on the database_id line, nothing else.
write_database_id() {
  local id=$1 new="$TMP/wrangler.toml"
  sed -E "s/^([[:space:]]*database_id[[:space:]]*=[[:space:]]*\")$PLACEHOLDER_ID\"/\1$id\"/" "$TOML" >"$new"
  [[ $(diff "$TOML" "$new" | grep -c '^>' || true) == 1 ]] \
    || die "could not write database_id in $TOML: set database_id = \"$id\" by hand, then rerun"
  cat "$new" >"$TOML"
  DB_ID=$id
  say "  wrote database_id = \"$id\" to $TOML (commit it)"
}

step_queues() {
  step 4 "queues: ${QUEUES[*]} (wrangler queues info, create when missing)"
  local q
  for q in "${QUEUES[@]}"; do
    # `queues info` asks the API by name; `queues list` is paginated and prints a table.
    if wr queues info "$q"; then
      say "  $q: exists"
      continue
    fi
    grep -q 'does not exist' "$TMP/err" "$TMP/out" || fail_wrangler "could not look up the queue $q"
    if dry; then
      say "  $q: missing, a real run creates it (wrangler queues create $q)"
      continue
    fi
    wr queues create "$q" || fail_wrangler "could not create the queue $q"
    say "  $q: created"
  done
}

step_secrets() {
  step 5 "secrets: checking which are set (wrangler secret list); required: ${REQUIRED_SECRETS[*]}, optional: ${OPTIONAL_SECRETS[*]}"
  local present name
  if wr secret list --format json; then
    present=$(json 'd.map(s => s.name)')
  elif grep -qE "Worker \"$WORKER\".*not found" "$TMP/err" "$TMP/out"; then
    present=""
    say "  worker $WORKER not on Cloudflare yet: no secrets (secret put creates it)"
  else
    fail_wrangler "could not list the worker's secrets"
  fi
  for name in "${REQUIRED_SECRETS[@]}" "${OPTIONAL_SECRETS[@]}"; do
    if grep -qxF "$name" <<<"$present"; then
      say "  $name: set (left as is; to change it: npx wrangler secret put $name)"
      if [[ $name == SESSION_ADMIN_TOKEN ]]; then ADMIN_TOKEN_SET=1; fi
    else
      provide_secret "$name"
    fi
  done
}

# provide_secret NAME: puts a secret the worker lacks, from the environment or generated.
provide_secret() {
  local name=$1 value required=0
  if [[ " ${REQUIRED_SECRETS[*]} " == *" $name "* ]]; then required=1; fi
  if [[ -n ${!name:-} ]]; then
    value=${!name}
    check_secret_value "$name" "$value"
    put_secret "$name" "$value" "from the environment variable"
  elif ((required && GENERATE)); then
    put_secret "$name" "$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))')" "generated: random, 32 bytes"
  elif ((required)); then
    local msg="$name is not set on the worker. Set it with: npx wrangler secret put $name (a random value of at least 32 bytes, e.g. from 'openssl rand -base64 48'), or rerun with $name in the environment, or with --generate-secrets (npm run deploy -- --generate-secrets)"
    dry && { block "$msg"; return; }
    die "$name is not set on the worker. Either:" \
      "npx wrangler secret put $name    (paste a random value of at least 32 bytes, e.g. from: openssl rand -base64 48)" \
      "or rerun with $name=<value> in the environment," \
      "or let the deploy generate one: npm run deploy -- --generate-secrets"
  else
    say "  $name: not set (optional; $(secret_purpose "$name")); to set it: npx wrangler secret put $name, or rerun with $name in the environment"
  fi
}

secret_purpose() {
  case $1 in
    ORIGIN_SECRET) echo "signs X-Session-Assertion for the origin" ;;
    SESSION_ADMIN_TOKEN) echo "turns on the admin API, dashboard and health detail" ;;
  esac
}

# check_secret_value NAME VALUE: the worker's own rules, caught before the upload.
check_secret_value() {
  local name=$1 value=$2
  if [[ $name == SESSION_SECRET || $name == ORIGIN_SECRET ]] && (($(printf '%s' "$value" | wc -c) < 32)); then
    die "$name from the environment is shorter than 32 bytes: use a longer random value (openssl rand -base64 48)"
  fi
  if [[ $name == ORIGIN_SECRET && -n ${SESSION_SECRET:-} && $value == "$SESSION_SECRET" ]]; then
    die "ORIGIN_SECRET must differ from SESSION_SECRET (the origin holds it, and could otherwise mint cookies)"
  fi
}

# put_secret NAME VALUE HOW: the value goes through stdin, never on a command line.
put_secret() {
  local name=$1 value=$2 how=$3
  if [[ $name == SESSION_ADMIN_TOKEN ]]; then ADMIN_TOKEN_SET=1; fi
  if dry; then
    say "  $name: missing, a real run puts it ($how)"
    return
  fi
  printf '%s' "$value" | "$WR" secret put "$name" --config "$TOML" >"$TMP/out" 2>"$TMP/err" \
    || fail_wrangler "could not put the secret $name"
  say "  $name: put ($how)"
}

step_migrations() {
  if dry; then
    step 6 "D1 migrations: listing the ones not applied (wrangler d1 migrations list $DB_BINDING --remote)"
    if [[ $DB_ID == "$PLACEHOLDER_ID" ]]; then
      say "  skipped: no database_id yet"
      return
    fi
    wr d1 migrations list "$DB_BINDING" --remote || fail_wrangler "could not list the migrations"
  else
    step 6 "D1 migrations: applying the missing ones (wrangler d1 migrations apply $DB_BINDING --remote)"
    wr d1 migrations apply "$DB_BINDING" --remote || fail_wrangler "a migration failed (it was rolled back); fix it and rerun"
  fi
  local names
  names=$(grep -oE '[0-9]{4}_[A-Za-z0-9_.-]+\.sql' "$TMP/out" | awk '!seen[$0]++' | paste -sd' ' || true)
  if [[ -z $names ]]; then
    say "  up to date"
  elif dry; then
    say "  not applied yet: $names"
  else
    say "  applied: $names"
  fi
}

step_deploy() {
  if dry; then
    step 7 "deploy: building and checking the bundle, uploading nothing (wrangler deploy --dry-run)"
    "$WR" deploy --dry-run --outdir "$TMP/dist" --config "$TOML" </dev/null 2>&1 | strip_ansi | sed 's/^/  | /' \
      || die "wrangler deploy --dry-run failed (above)"
    route_mode_note
    return
  fi
  step 7 "deploy: building and uploading the worker (wrangler deploy)"
  "$WR" deploy --config "$TOML" </dev/null 2>&1 | strip_ansi | tee "$TMP/deploy.log" | sed 's/^/  | /' \
    || die "wrangler deploy failed (above); fix it and rerun: npm run deploy"
  print_health
  route_mode_note
}

# The health URL: the workers.dev URL wrangler printed, else its first route.
print_health() {
  local base route
  base=$(grep -m1 -oE 'https://[A-Za-z0-9.-]+\.workers\.dev' "$TMP/deploy.log" || true)
  if [[ -z $base ]]; then
    route=$(awk '/^Deployed .* triggers/ { t = 1; next }
      t && /^  / { sub(/^ +/, ""); if ($0 ~ /^(schedule:|Producer for|Consumer for|workflow:|event triggers:)/) next
                   sub(/ \(.*$/, ""); print; exit }
      t { t = 0 }' "$TMP/deploy.log")
    route=${route%%/*}
    if [[ -n $route && $route != *'*'* ]]; then
      base="https://$route"
    elif [[ -n $route ]]; then
      base="https://<a host matching $route>"
    fi
  fi
  [[ -n $base ]] || base="https://<your worker's URL, above>"
  say "" "deployed. Health: $base/__session/health   ({\"status\": \"ok\"} when healthy)"
  if ((ADMIN_TOKEN_SET)); then
    say "detail (every config problem, D1, the queue, the origin):" \
      "  curl -H \"Authorization: Bearer \$SESSION_ADMIN_TOKEN\" $base/__session/health"
  else
    say "detail needs SESSION_ADMIN_TOKEN: npx wrangler secret put SESSION_ADMIN_TOKEN, then" \
      "  curl -H \"Authorization: Bearer \$SESSION_ADMIN_TOKEN\" $base/__session/health"
  fi
}

# Route mode (no ORIGIN_URL) needs a route on a proxied zone with an origin behind it.
route_mode_note() {
  [[ -n $(toml_value ORIGIN_URL) ]] && return
  grep -qE '^[[:space:]]*(route|routes)[[:space:]]*=|^\[\[routes\]\]' "$TOML" && return
  say "note: $TOML sets no ORIGIN_URL (route mode) and no route: on workers.dev there" \
    "  is no origin behind the worker, so only /__session/ answers. Set ORIGIN_URL in [vars]," \
    "  or add a route on a proxied zone with your origin behind it, e.g." \
    "  routes = [{ pattern = \"app.example.com/*\", zone_name = \"example.com\" }]"
}

finish() {
  if ! dry; then
    return
  fi
  if ((${#BLOCKERS[@]})); then
    printf 'deploy: dry run: a real run would stop at:\n' >&2
    printf '  - %s\n' "${BLOCKERS[@]}" >&2
    exit 1
  fi
  say "dry run: every check passed; nothing was changed"
}

main() {
  parse_args "$@"
  read_config
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  dry && say "dry run: checking only, nothing is created, put, migrated or uploaded"
  step_setup
  step_account
  step_database
  step_queues
  step_secrets
  step_migrations
  step_deploy
  finish
}

main "$@"
