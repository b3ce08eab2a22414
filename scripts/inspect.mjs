// The local D1 database of `npm run dev` as tables: `sessions`, `signals [--follow]`.
// Run through scripts/inspect.sh (which puts the pinned wrangler and Node on PATH).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";

const run = promisify(execFile);
const STATE = process.env.DEV_STATE || ".dev/state";
const USAGE = "usage: inspect.sh sessions|signals [--follow] [--limit N] [--json]";

const args = process.argv.slice(2);
const what = args[0];
const follow = args.includes("--follow") || args.includes("-f");
const asJson = args.includes("--json");
const limitAt = args.indexOf("--limit");
const limit = limitAt >= 0 ? Number(args[limitAt + 1]) : 20;
if (!["sessions", "signals"].includes(what) || !Number.isInteger(limit) || limit < 1) {
  console.error(USAGE);
  process.exit(2);
}
if (follow && what !== "signals") {
  console.error("--follow is for signals");
  process.exit(2);
}

/** Rows of one statement against the local database of `npm run dev`. */
async function query(sql) {
  let out;
  try {
    ({ stdout: out } = await run("wrangler", ["d1", "execute", "SESSIONS_DB", "--local", "--persist-to", STATE, "--json", "--command", sql], {
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
      maxBuffer: 64 << 20,
    }));
  } catch (e) {
    const text = `${e.stdout ?? ""}${e.stderr ?? ""}`;
    if (/no such table/.test(text)) {
      throw new Error(`the local database in ${STATE} has no tables yet: start \`npm run dev\` once (it applies the migrations)`);
    }
    throw new Error(`wrangler d1 execute failed:\n${text.trim() || e.message}`);
  }
  const parsed = JSON.parse(out);
  return (Array.isArray(parsed) ? parsed : [parsed]).flatMap((r) => r.results ?? []);
}

const short = (id) => (id ? `${String(id).slice(0, 8)}…` : "-");
const time = (t) => {
  if (t === null || t === undefined) return "-";
  const ms = t > 1e12 ? t : t * 1000;
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
};
const clip = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function table(rows, columns) {
  if (!rows.length) return;
  const cells = rows.map((r) => columns.map(([, f]) => String(f(r))));
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]))).join("  ");
  console.log(line(columns.map(([h]) => h)));
  for (const c of cells) console.log(line(c));
}

if (!existsSync(STATE)) {
  console.error(`no local state in ${STATE}: start \`npm run dev\` first (DEV_STATE chooses another directory)`);
  process.exit(1);
}

try {
  if (what === "sessions") {
    const rows = await query(
      `SELECT id, user_id, data, created_at, updated_at, expires_at, version FROM sessions ORDER BY updated_at DESC LIMIT ${limit}`,
    );
    if (asJson) console.log(JSON.stringify(rows, null, 2));
    else if (!rows.length) console.log(`no sessions in ${STATE} (a session starts when the origin writes to it, e.g. at login)`);
    else {
      const now = Date.now() / 1000;
      table(rows, [
        ["id", (r) => short(r.id)],
        ["user", (r) => r.user_id ?? "(anonymous)"],
        ["data", (r) => clip(r.data, 48)],
        ["created", (r) => time(r.created_at)],
        ["updated", (r) => time(r.updated_at)],
        ["expires in", (r) => (r.expires_at > now ? `${Math.round((r.expires_at - now) / 60)} min` : "expired")],
        ["version", (r) => r.version],
      ]);
      console.log(`${rows.length} session(s), latest first (${STATE}; --json for whole rows)`);
    }
  } else {
    const cols = "rowid AS seq, name, session_id, user_id, payload, at";
    let rows = (await query(`SELECT ${cols} FROM session_signals ORDER BY rowid DESC LIMIT ${limit}`)).reverse();
    let last = rows.length ? rows[rows.length - 1].seq : 0;
    const print = (batch) => {
      if (asJson) return batch.forEach((r) => console.log(JSON.stringify(r)));
      for (const r of batch) {
        let kwargs = "";
        try {
          const { session_id, user_id, ...rest } = JSON.parse(r.payload).kwargs ?? {};
          kwargs = Object.keys(rest).length ? JSON.stringify(rest) : "";
        } catch {
          kwargs = clip(r.payload, 80);
        }
        console.log([time(r.at), r.name.padEnd(30), `session ${short(r.session_id)}`.padEnd(18), `user ${r.user_id ?? "-"}`.padEnd(16), kwargs].join(" ").trimEnd());
      }
    };
    if (!rows.length && !follow) console.log(`no signals in ${STATE} yet (they arrive a few seconds after each request)`);
    print(rows);
    if (follow) {
      console.error(`following new signals in ${STATE} (every 2 s; Ctrl-C to stop)`);
      for (;;) {
        await new Promise((r) => setTimeout(r, 2000));
        rows = await query(`SELECT ${cols} FROM session_signals WHERE rowid > ${Number(last)} ORDER BY rowid LIMIT 500`);
        if (rows.length) {
          last = rows[rows.length - 1].seq;
          print(rows);
        }
      }
    }
  }
} catch (e) {
  console.error(`inspect: ${e.message}`);
  process.exit(1);
}
