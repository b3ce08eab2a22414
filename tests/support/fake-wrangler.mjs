#!/usr/bin/env node
// A stand-in for wrangler 4 (4.164.0) for tests/deploy.test.mjs: no network, no account.
// It answers the subcommands scripts/deploy.sh uses with the output shapes the real CLI
// prints (read from its source and --help), keeps the "account" in
// $FAKE_WRANGLER_DIR/state.json, and appends every call to $FAKE_WRANGLER_DIR/calls.log
// (one JSON line: {argv, stdin?}). Every call must name the config with --config.
//
// state.json: {loggedIn, email, accounts: [{id, name}], subdomain,
//              dbs: [{uuid, name}], queues: [name], workerExists, secrets: {NAME: value},
//              applied: [migration file], routes?: [pattern]}
import { appendFileSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = process.env.FAKE_WRANGLER_DIR;
if (!dir) fail("FAKE_WRANGLER_DIR is not set");
const statePath = join(dir, "state.json");
const state = JSON.parse(readFileSync(statePath, "utf8"));
const save = () => writeFileSync(statePath, JSON.stringify(state, null, 2));
const MIGRATIONS = readdirSync(join(dirname(fileURLToPath(import.meta.url)), "../../migrations"))
  .filter((f) => f.endsWith(".sql"))
  .sort();

const argv = process.argv.slice(2);
const entry = { argv };
const stdin = argv[0] === "secret" && argv[1] === "put" ? readFileSync(0, "utf8") : undefined;
if (stdin !== undefined) entry.stdin_bytes = Buffer.byteLength(stdin);
appendFileSync(join(dir, "calls.log"), JSON.stringify(entry) + "\n");

// --- arguments, as yargs reads them --------------------------------------------------
const flags = {};
const positional = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a.startsWith("--")) {
    const [k, v] = a.slice(2).split("=", 2);
    if (v !== undefined) flags[k] = v;
    else if (["config", "format", "outdir", "name"].includes(k)) flags[k] = argv[++i];
    else flags[k] = true;
  } else positional.push(a);
}
if (!flags.config) fail("fake wrangler: every call must pass --config (the test's copy of wrangler.toml)");
const toml = readFileSync(flags.config, "utf8");
const tomlValue = (key) => toml.match(new RegExp(`^\\s*${key}\\s*=\\s*"([^"]*)"`, "m"))?.[1];
const worker = tomlValue("name");

function fail(message, code = 1) {
  process.stderr.write(`\u2718 [ERROR] ${message}\n\n`);
  process.exit(code);
}
function requireAuth() {
  if (!state.loggedIn) fail("Not logged in. Please run `wrangler login` to authenticate.");
}
const say = (text) => process.stdout.write(text + "\n");
const table = (rows) => {
  // cli-table3's shape (as `wrangler queues list` prints it), without colors.
  const head = Object.keys(rows[0] ?? {});
  const width = head.map((h) => Math.max(h.length, ...rows.map((r) => String(r[h]).length)));
  const line = (l, m, r) => l + width.map((w) => "─".repeat(w + 2)).join(m) + r;
  const row = (cells) => "│" + cells.map((c, i) => ` ${String(c).padEnd(width[i])} `).join("│") + "│";
  return [line("┌", "┬", "┐"), row(head), line("├", "┼", "┤"),
    ...rows.map((r) => row(head.map((h) => r[h]))), line("└", "┴", "┘")].join("\n");
};
const dbById = (id) => state.dbs.find((d) => d.uuid === id);

// --- the subcommands -----------------------------------------------------------------
const cmd = positional.slice(0, positional[0] === "d1" && positional[1] === "migrations" ? 3 : 2).join(" ");
const arg = positional[positional[0] === "d1" && positional[1] === "migrations" ? 3 : 2];

switch (positional[0] === "whoami" || positional[0] === "deploy" ? positional[0] : cmd) {
  case "whoami":
    if (!flags.json) {
      // The real text form exits 0 even when not logged in.
      say(state.loggedIn ? `👋 You are logged in with an OAuth Token, associated with the email ${state.email}.`
        : "You are not authenticated. Please run `wrangler login`.");
      break;
    }
    if (!state.loggedIn) { say('\n{"loggedIn":false}'); process.exit(1); }
    say(JSON.stringify({ loggedIn: true, authType: "OAuth Token", email: state.email,
      accounts: state.accounts, tokenPermissions: ["workers:write", "d1:write"] }));
    break;

  case "d1 list":
    requireAuth();
    if (!flags.json) fail("fake wrangler: d1 list without --json is not faked");
    say(JSON.stringify(state.dbs.map((d) => ({ uuid: d.uuid, name: d.name, created_at: "2026-11-25T10:00:00.000Z",
      version: "production", num_tables: 0, file_size: 12288 })), null, 2));
    break;

  case "d1 info": {
    requireAuth();
    // Like the real one: a name that is the config's database_name or binding resolves to
    // the config's database_id (even the placeholder), not to a lookup by name.
    const id = arg === tomlValue("database_name") || arg === tomlValue("binding") ? tomlValue("database_id")
      : state.dbs.find((d) => d.name === arg)?.uuid;
    const db = dbById(id);
    if (!db) fail(`A request to the Cloudflare API (/accounts/x/d1/database/${id}) failed.\n  The database ${id} could not be found [code: 7404]`);
    say(JSON.stringify({ uuid: db.uuid, name: db.name, num_tables: 0, database_size: 12288 }, null, 2));
    break;
  }

  case "d1 create": {
    requireAuth();
    if (state.dbs.some((d) => d.name === arg)) fail(`A database with that name already exists [code: 7502]`);
    const db = { uuid: randomUUID(), name: arg };
    state.dbs.push(db);
    save();
    say(`✅ Successfully created DB '${arg}' in region WEUR\nCreated your new D1 database.\n`);
    say(`To access your new D1 Database in your Worker, add the following snippet to your configuration file:`);
    say(`[[d1_databases]]\nbinding = "${arg}"\ndatabase_name = "${arg}"\ndatabase_id = "${db.uuid}"`);
    break;
  }

  case "d1 migrations apply":
  case "d1 migrations list": {
    requireAuth();
    if (!flags.remote) fail("fake wrangler: only --remote migrations are faked");
    const id = tomlValue("database_id");
    if (!dbById(id)) fail(`A request to the Cloudflare API (/accounts/x/d1/database/${id}/query) failed.\n  The database ${id} could not be found [code: 7404]`);
    const todo = MIGRATIONS.filter((m) => !state.applied.includes(m));
    if (todo.length === 0) { say("✅ No migrations to apply!"); break; }
    say("Migrations to be applied:");
    say(table(todo.map((name) => ({ name }))));
    if (cmd === "d1 migrations list") break;
    say(`? About to apply ${todo.length} migration(s)\nYour database may not be available to serve requests during the migration, continue?`);
    say("🤖 Using fallback value in non-interactive context: yes");
    state.applied.push(...todo);
    save();
    say(table(todo.map((name) => ({ name, status: "✅" }))));
    break;
  }

  case "queues list":
    requireAuth();
    say(table(state.queues.map((name, i) => ({ id: `q${i}`, name, created_on: "2026-11-25T10:00:00Z",
      modified_on: "2026-11-25T10:00:00Z", producers: "0", consumers: "0" }))));
    break;

  case "queues info":
    requireAuth();
    if (!state.queues.includes(arg)) fail(`Queue "${arg}" does not exist. To create it, run: wrangler queues create ${arg}`);
    say(`Queue Name: ${arg}\nQueue ID: q${state.queues.indexOf(arg)}\nNumber of Producers: 0\nNumber of Consumers: 0`);
    break;

  case "queues create":
    requireAuth();
    if (state.queues.includes(arg)) fail(`A request to the Cloudflare API (/accounts/x/queues) failed.\n  Queue name already taken [code: 11009]`);
    state.queues.push(arg);
    save();
    say(`🌀 Creating queue '${arg}'\n✅ Created queue '${arg}'`);
    break;

  case "secret list":
    requireAuth();
    if ((flags.format ?? "json") !== "json") fail("fake wrangler: only --format json is faked");
    if (!state.workerExists) {
      fail(`Worker "${worker}" not found.\nIf this is a new Worker, run \`wrangler deploy\` first to create it.\nOtherwise, check that the Worker name is correct and you're logged into the right account.`);
    }
    say(JSON.stringify(Object.keys(state.secrets).map((name) => ({ name, type: "secret_text" })), null, "  "));
    break;

  case "secret put":
    requireAuth();
    if (!stdin) fail("fake wrangler: secret put needs the value on stdin");
    say(`🌀 Creating the secret for the Worker "${worker}"`);
    if (!state.workerExists) {
      say(`? There doesn't seem to be a Worker called "${worker}". Do you want to create a new Worker with that name and add secrets to it?`);
      say("🤖 Using fallback value in non-interactive context: yes");
      say(`🌀 Creating new Worker "${worker}"...`);
      state.workerExists = true;
    }
    state.secrets[arg] = stdin;
    save();
    say(`✨ Success! Uploaded secret ${arg}`);
    break;

  case "deploy": {
    if (flags["dry-run"]) {
      say(`Total Upload: 612.34 KiB / gzip: 240.12 KiB\nYour Worker has access to the following bindings:`);
      say(`Binding                                   Resource\nenv.SESSIONS_DB (${tomlValue("database_name")})     D1 Database`);
      say("--dry-run: exiting now.");
      break;
    }
    requireAuth();
    const id = tomlValue("database_id");
    if (!dbById(id)) fail(`A request to the Cloudflare API (/accounts/x/workers/scripts/${worker}) failed.\n  binding SESSIONS_DB of type d1 must have a valid \`id\` specified [code: 10021]`);
    state.workerExists = true;
    state.deployed = (state.deployed ?? 0) + 1;
    save();
    say(`Total Upload: 612.34 KiB / gzip: 240.12 KiB\nUploaded ${worker} (3.21 sec)`);
    const targets = state.routes?.length ? state.routes.map((r) => `${r} (zone name: ${r.split("/")[0]})`)
      : [`https://${worker}.${state.subdomain}.workers.dev`];
    say(`Deployed ${worker} triggers (1.05 sec)`);
    for (const t of [...targets, "schedule: */15 * * * *", "Producer for sessiongate-signals", "Consumer for sessiongate-signals"]) {
      say(`  ${t}`);
    }
    say(`Current Version ID: ${randomUUID()}`);
    break;
  }

  default:
    fail(`fake wrangler: not faked: ${argv.join(" ")}`);
}
