// `npm run deploy` (scripts/deploy.sh) offline: a fake wrangler (tests/support/
// fake-wrangler.mjs) plays the Cloudflare account, and each test deploys a temporary copy
// of wrangler.toml. The setup step is skipped (SESSIONGATE_SKIP_SETUP=1).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const FAKE = join(ROOT, "tests/support/fake-wrangler.mjs");
const PLACEHOLDER = "00000000-0000-4000-8000-000000000000";
const ORIGIN_SECRET = "origin-secret-from-the-environment-0123456789";
chmodSync(FAKE, 0o755);

/** A fake Cloudflare account and a copy of wrangler.toml, in a temporary directory. */
function account(state = {}) {
  const dir = mkdtempSync(join(tmpdir(), "sessiongate-deploy-"));
  copyFileSync(join(ROOT, "wrangler.toml"), join(dir, "wrangler.toml"));
  writeFileSync(join(dir, "state.json"), JSON.stringify({
    loggedIn: true, email: "ops@example.com", accounts: [{ id: "acc1", name: "Example" }],
    subdomain: "example", dbs: [], queues: [], workerExists: false, secrets: {}, applied: [],
    ...state,
  }));
  const toml = join(dir, "wrangler.toml");
  return {
    dir, toml,
    state: () => JSON.parse(readFileSync(join(dir, "state.json"), "utf8")),
    tomlText: () => readFileSync(toml, "utf8"),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs scripts/deploy.sh against the account; returns its output and the wrangler calls. */
function deploy(acct, args = [], env = {}) {
  const log = join(acct.dir, "calls.log");
  rmSync(log, { force: true });
  const base = { ...process.env };
  for (const name of ["SESSION_SECRET", "ORIGIN_SECRET", "SESSION_ADMIN_TOKEN", "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID", "WRANGLER_TOML"]) delete base[name];
  const run = spawnSync("bash", [join(ROOT, "scripts/deploy.sh"), ...args], {
    cwd: ROOT, encoding: "utf8", timeout: 60_000,
    env: { ...base, WRANGLER: FAKE, FAKE_WRANGLER_DIR: acct.dir, SESSIONGATE_SKIP_SETUP: "1",
      WRANGLER_TOML: acct.toml, ...env },
  });
  const calls = existsSync(log)
    ? readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l).argv.filter((a, i, all) =>
      a !== "--config" && all[i - 1] !== "--config").join(" "))
    : [];
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, calls };
}

const MUTATING = /^(d1 create|queues create|secret put|d1 migrations apply|deploy(?! --dry-run))/;

test("a first run creates the database, writes its id, creates the queues, puts the secrets, migrates and deploys", (t) => {
  const acct = account();
  t.after(acct.dispose);
  const before = acct.tomlText();
  const run = deploy(acct, ["--generate-secrets"], { ORIGIN_SECRET });
  assert.equal(run.status, 0, run.stderr + run.stdout);

  const [db] = acct.state().dbs;
  assert.equal(db.name, "sessiongate");
  // Only the database_id line changed, and it now holds the new id.
  const changed = acct.tomlText().split("\n").filter((l, i) => l !== before.split("\n")[i]);
  assert.deepEqual(changed, [`database_id = "${db.uuid}"`]);
  assert.equal(acct.tomlText(), before.replace(PLACEHOLDER, db.uuid));

  assert.deepEqual(run.calls, [
    "whoami --json",
    "d1 list --json",
    "d1 create sessiongate",
    "queues info sessiongate-signals",
    "queues create sessiongate-signals",
    "queues info sessiongate-signals-dlq",
    "queues create sessiongate-signals-dlq",
    "secret list --format json",
    "secret put SESSION_SECRET",
    "secret put ORIGIN_SECRET",
    "d1 migrations apply SESSIONS_DB --remote",
    "deploy",
  ]);
  const state = acct.state();
  assert.deepEqual(state.queues, ["sessiongate-signals", "sessiongate-signals-dlq"]);
  assert.match(state.secrets.SESSION_SECRET, /^[A-Za-z0-9_-]{43}$/, "a random 32-byte secret");
  assert.equal(state.secrets.ORIGIN_SECRET, ORIGIN_SECRET);
  assert.equal(state.secrets.SESSION_ADMIN_TOKEN, undefined, "optional secrets are never generated");
  assert.ok(!(run.stdout + run.stderr).includes(state.secrets.SESSION_SECRET), "the generated secret is never printed");
  assert.ok(state.applied.length >= 4, "every migration applied");
  assert.equal(state.deployed, 1);

  // One line per step, then the health URL and how to read its detail.
  for (let i = 1; i <= 7; i++) assert.match(run.stdout, new RegExp(`^\\[${i}/7\\] `, "m"));
  assert.match(run.stdout, /Health: https:\/\/sessiongate\.example\.workers\.dev\/__session\/health/);
  assert.match(run.stdout, /Authorization: Bearer \$SESSION_ADMIN_TOKEN/);
  assert.match(run.stdout, /SESSION_ADMIN_TOKEN: not set \(optional/);
  assert.match(run.stdout, /sets no ORIGIN_URL \(route mode\) and no route/, "workers.dev without ORIGIN_URL is flagged");
});

test("a second run is idempotent: nothing created, no secret put", (t) => {
  const acct = account();
  t.after(acct.dispose);
  assert.equal(deploy(acct, ["--generate-secrets"], { ORIGIN_SECRET }).status, 0);
  const toml = acct.tomlText();
  const secrets = acct.state().secrets;

  const run = deploy(acct, ["--generate-secrets"], { ORIGIN_SECRET: "another-value-that-must-not-replace-the-first" });
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.deepEqual(run.calls, [
    "whoami --json",
    "d1 list --json",
    "queues info sessiongate-signals",
    "queues info sessiongate-signals-dlq",
    "secret list --format json",
    "d1 migrations apply SESSIONS_DB --remote",
    "deploy",
  ]);
  assert.equal(acct.tomlText(), toml);
  assert.deepEqual(acct.state().secrets, secrets, "secrets already set are left as they are");
  assert.equal(acct.state().dbs.length, 1);
  assert.match(run.stdout, /found: database_id /);
  assert.match(run.stdout, /sessiongate-signals-dlq: exists/);
  assert.match(run.stdout, /SESSION_SECRET: set/);
  assert.match(run.stdout, /\[6\/7\].*\n  up to date/);
  assert.match(run.stdout, /Health: https:\/\/sessiongate\.example\.workers\.dev\/__session\/health/);
});

test("--dry-run with the placeholder database_id fails naming database_id and changes nothing", (t) => {
  const acct = account();
  t.after(acct.dispose);
  const toml = acct.tomlText();
  const state = acct.state();
  const run = deploy(acct, ["--dry-run", "--generate-secrets"]);
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /database_id/);
  assert.match(run.stderr, /without --dry-run/);
  assert.match(run.stderr, /wrangler d1 create sessiongate/);
  assert.deepEqual(run.calls.filter((c) => MUTATING.test(c)), [], "no mutating wrangler call");
  // Every step was still checked and printed.
  assert.ok(run.calls.some((c) => /^deploy --dry-run --outdir \S+$/.test(c)), "the bundle is built and checked");
  for (let i = 1; i <= 7; i++) assert.match(run.stdout, new RegExp(`^\\[${i}/7\\] `, "m"));
  assert.match(run.stdout, /sessiongate-signals: missing, a real run creates it/);
  assert.match(run.stdout, /SESSION_SECRET: missing, a real run puts it/);
  assert.equal(acct.tomlText(), toml);
  assert.deepEqual(acct.state(), state, "the account is untouched");
});

test("--dry-run after a deploy passes, with every check and no change", (t) => {
  const acct = account();
  t.after(acct.dispose);
  assert.equal(deploy(acct, ["--generate-secrets"]).status, 0);
  const state = acct.state();
  const run = deploy(acct, ["--dry-run"]);
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.deepEqual(run.calls.filter((c) => MUTATING.test(c)), []);
  assert.ok(run.calls.includes("d1 migrations list SESSIONS_DB --remote"));
  assert.match(run.stdout, /every check passed; nothing was changed/);
  assert.deepEqual(acct.state(), state);
});

test("a login that fails stops at whoami with how to log in, before anything else", (t) => {
  const acct = account({ loggedIn: false });
  t.after(acct.dispose);
  const run = deploy(acct, ["--generate-secrets"]);
  assert.notEqual(run.status, 0);
  assert.deepEqual(run.calls, ["whoami --json"]);
  assert.match(run.stderr, /not logged in/);
  assert.match(run.stderr, /npx wrangler login/);
  assert.match(run.stderr, /CLOUDFLARE_API_TOKEN/);
  assert.doesNotMatch(run.stdout, /\[3\/7\]/);
});

test("a missing SESSION_SECRET without --generate-secrets stops with the secret put command", (t) => {
  const acct = account();
  t.after(acct.dispose);
  const run = deploy(acct);
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /wrangler secret put SESSION_SECRET/);
  assert.match(run.stderr, /--generate-secrets/);
  assert.ok(!run.calls.some((c) => c.startsWith("secret put")), "nothing put");
  assert.ok(!run.calls.some((c) => c.startsWith("deploy") || c.startsWith("d1 migrations")), "stopped at the secrets");

  // The environment variable of the same name is the other way in; a short one is refused.
  const short = deploy(acct, [], { SESSION_SECRET: "too-short" });
  assert.notEqual(short.status, 0);
  assert.match(short.stderr, /SESSION_SECRET .*shorter than 32 bytes/);
  const value = "a-session-secret-of-more-than-32-bytes-from-env";
  const again = deploy(acct, [], { SESSION_SECRET: value });
  assert.equal(again.status, 0, again.stderr + again.stdout);
  assert.equal(acct.state().secrets.SESSION_SECRET, value);
  assert.deepEqual(again.calls.filter((c) => MUTATING.test(c)),
    ["secret put SESSION_SECRET", "d1 migrations apply SESSIONS_DB --remote", "deploy"],
    "the database and queues from the first run are reused");
});

test("a database that exists under the name has its id written, not a second one created", (t) => {
  const uuid = "5f0c1e9a-3b7d-4c1e-9a2b-1234567890ab";
  const acct = account({ dbs: [{ uuid: "11111111-2222-4333-8444-555555555555", name: "other" }, { uuid, name: "sessiongate" }] });
  t.after(acct.dispose);
  const dry = deploy(acct, ["--dry-run"]);
  assert.notEqual(dry.status, 0);
  assert.match(dry.stdout, new RegExp(`exists with id ${uuid}`));
  const run = deploy(acct, ["--generate-secrets"]);
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.ok(!run.calls.includes("d1 create sessiongate"));
  assert.match(acct.tomlText(), new RegExp(`^database_id = "${uuid}"$`, "m"));
  assert.equal(acct.state().dbs.length, 2);
});

test("a database_id that is not in the account stops with what to check", (t) => {
  const acct = account();
  t.after(acct.dispose);
  writeFileSync(acct.toml, acct.tomlText().replace(PLACEHOLDER, "99999999-9999-4999-8999-999999999999"));
  const run = deploy(acct, ["--generate-secrets"]);
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /database_id 99999999-9999-4999-8999-999999999999 .* is not a D1 database of this account/);
  assert.deepEqual(run.calls, ["whoami --json", "d1 list --json"]);
});

test("with a route, the health URL is the route's host", (t) => {
  const acct = account({ routes: ["app.example.com/*"] });
  t.after(acct.dispose);
  writeFileSync(acct.toml, acct.tomlText().replace(/^\[vars\]/m,
    'routes = [{ pattern = "app.example.com/*", zone_name = "example.com" }]\n\n[vars]'));
  const run = deploy(acct, ["--generate-secrets"], { SESSION_ADMIN_TOKEN: "an-admin-token" });
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /Health: https:\/\/app\.example\.com\/__session\/health/);
  assert.match(run.stdout, /curl -H "Authorization: Bearer \$SESSION_ADMIN_TOKEN" https:\/\/app\.example\.com\/__session\/health/);
  assert.doesNotMatch(run.stdout, /route mode/, "a route in front of the origin needs no ORIGIN_URL");
  assert.equal(acct.state().secrets.SESSION_ADMIN_TOKEN, "an-admin-token");
});

test("--help prints the steps and options and calls no wrangler", (t) => {
  const acct = account();
  t.after(acct.dispose);
  const run = deploy(acct, ["--help"]);
  assert.equal(run.status, 0);
  assert.deepEqual(run.calls, []);
  for (const word of ["setup", "account", "D1", "queues", "secrets", "migrations", "deploy",
    "--dry-run", "--generate-secrets", "--config", "SESSIONGATE_SKIP_SETUP", "WRANGLER"]) {
    assert.ok(run.stdout.includes(word), word);
  }
  const bad = deploy(acct, ["--frobnicate"]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /unknown option: --frobnicate/);
});
