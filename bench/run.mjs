// sessiongate against the JS a team would write instead, on local workerd (issue 13).
// Each row is one worker in its own Miniflare (one workerd process) with a socket bound
// straight to it, all in front of one local origin (nginx; the Node origin when nginx is
// missing). wrk loads each row in turn with browser-like headers, the order rotated every
// repetition; the table holds the median. Numbers from one machine: compare rows.
//   node bench/run.mjs [--seconds 8] [--reps 3] [--connections 16] [--threads 2]
//                      [--only REGEX] [--crossings 200] [--out artifacts/bench.md]
//                      [--baseline DIR: a copy of an earlier build/, its rows interleaved]
// Keep --seconds under 60: the session cookies are minted before each measurement and
// must stay inside the renewal throttle for the steady state to be measured.
import { parseArgs } from "node:util";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { migrate } from "../tests/support/migrations.mjs";
import { ROOT, SECRET } from "../tests/support/harness.mjs";
import { bundle } from "./peers/bundle.mjs";
import { startOrigin } from "./origin.mjs";
import { loadWith } from "./wrk.mjs";
import { cpuSeconds, machine, workerdPids } from "./machine.mjs";
import { crossings } from "./crossings/measure.mjs";
import { report } from "./report.mjs";

const { values: opt } = parseArgs({
  options: {
    seconds: { type: "string", default: "8" },
    reps: { type: "string", default: "3" },
    connections: { type: "string", default: "16" },
    threads: { type: "string", default: "2" },
    only: { type: "string" },
    crossings: { type: "string", default: "200" },
    out: { type: "string", default: path.join(ROOT, "artifacts/bench.md") },
    baseline: { type: "string" },
  },
});
const seconds = Number(opt.seconds);
const reps = Number(opt.reps);
const load = { connections: Number(opt.connections), threads: Number(opt.threads) };

/** What a Chrome navigation sends (besides its cookies). */
const BROWSER = {
  "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
  accept: "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
  "accept-language": "en-US,en;q=0.9,de;q=0.8",
  "accept-encoding": "gzip, deflate, br, zstd",
  "sec-fetch-site": "same-origin",
  "sec-fetch-mode": "navigate",
  "sec-fetch-dest": "document",
  "sec-fetch-user": "?1",
  "upgrade-insecure-requests": "1",
};
/** Cookies of the site's own that every browser sends along (the gateway forwards them). */
const SITE_COOKIES = "_ga=GA1.1.1234567890.1764000000; theme=dark; consent=analytics";
const PATH = "/cart?page=1";

const origin = await startOrigin();
console.error(`origin: ${origin.kind} at ${origin.url}`);

const peer = (name, extra = {}) => async () => ({ modules: true, script: await bundle(name), ...extra,
  bindings: { ORIGIN_URL: origin.url, SESSION_SECRET: SECRET } });
const gate = (vars, build = path.join(ROOT, "build")) => async () => ({
  modules: [
    { type: "ESModule", path: path.join(build, "index.js") },
    { type: "CompiledWasm", path: path.join(build, "index_bg.wasm") },
  ],
  modulesRoot: build,
  d1Databases: { SESSIONS_DB: "bench" },
  queueProducers: { SESSION_SIGNALS: "bench-signals" },
  queueConsumers: { "bench-signals": { maxBatchSize: 100, maxBatchTimeout: 1 } },
  bindings: { SESSION_TIMEOUT_MINUTES: "180", SESSION_SECRET: SECRET, ORIGIN_URL: origin.url, ...vars },
});
const d1 = { d1Databases: { SESSIONS_DB: "bench" } };

// `login`: the row's session cookie is minted through the worker (GET /login) before each
// measurement; nginx's /login answers with the commands that log sessiongate in.
// `gate`: a sessiongate row's vars (left unset: the defaults).
const ROWS = [
  { key: "passthrough", label: "JS pass-through worker (the runtime's floor)", options: peer("passthrough") },
  { key: "hono-sessions", label: "hono + hono-sessions (encrypted cookie session)", options: peer("hono-sessions"), login: true },
  { key: "hono-hmac", label: "hono + WebCrypto HMAC session id, by hand", options: peer("hono-hmac"), login: true },
  { key: "hono-hmac-d1", label: "the same + one D1 read by primary key", options: peer("hono-hmac-d1", d1), login: true },
  { key: "sg-none", label: "sessiongate, no session", gate: {} },
  { key: "sg-cookie", label: "sessiongate, cookie store, valid session", gate: { SESSION_STORE: "cookie" }, login: true },
  { key: "sg-cookie-off", label: "sessiongate, cookie store, valid session, signals off", gate: { SESSION_STORE: "cookie", SESSION_SIGNAL_FILTER: "none" }, login: true },
  { key: "sg-d1-off", label: "sessiongate, D1, valid session, signals off", gate: { SESSION_SIGNAL_FILTER: "none" }, login: true },
  { key: "sg-d1", label: "sessiongate, D1, valid session, default signals", gate: {}, login: true },
].filter((r) => !opt.only || new RegExp(opt.only).test(r.key));
for (const row of ROWS) row.options ??= gate(row.gate);
// --baseline DIR: every sessiongate row again on an earlier build (a copy of its build/),
// interleaved with the current one: a change's before and after under the same load.
if (opt.baseline) {
  for (const row of ROWS.filter((r) => r.gate)) {
    const build = path.resolve(opt.baseline);
    ROWS.push({ ...row, key: `${row.key}-base`, label: `${row.label} (baseline build)`, options: gate(row.gate, build) });
  }
}

async function serve(options) {
  const before = new Set(workerdPids());
  const mf = new Miniflare(convertV4MiniflareOptions({
    compatibilityDate: "2026-11-01",
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    handleStructuredLogs: () => {}, // the workers' log lines: not the subject here
    ...options,
  }));
  await mf.ready;
  const url = (await mf.unsafeGetDirectURL()).href.replace(/\/$/, "");
  if (options.d1Databases) await migrate(await mf.getD1Database("SESSIONS_DB"), ROOT);
  return { mf, url, pids: workerdPids().filter((p) => !before.has(p)) };
}

/** The Cookie header of a browser that logged in through `url` (site cookies included). */
async function login(url) {
  const res = await fetch(`${url}/login`, { headers: { ...BROWSER, cookie: SITE_COOKIES } });
  await res.arrayBuffer();
  // By name, the last one wins (hono-sessions sets its cookie twice on a first request).
  const jar = new Map(res.headers.getSetCookie().map((c) => c.split(";")[0].split(/=(.*)/s)));
  if (res.status >= 400 || jar.size === 0) throw new Error(`login at ${url}: ${res.status}, no Set-Cookie`);
  return [SITE_COOKIES, ...[...jar].map(([k, v]) => `${k}=${v}`)].join("; ");
}

async function measure(row, duration) {
  const cookie = row.login ? await login(row.url) : SITE_COOKIES;
  const before = cpuSeconds(row.pids);
  const r = await loadWith(`${row.url}${PATH}`, { ...BROWSER, cookie }, { ...load, seconds: duration });
  const cpu = cpuSeconds(row.pids) - before;
  return { ...r, cpuUsPerReq: r.requests ? (cpu / r.requests) * 1e6 : NaN };
}

const started = { load: loadavg(), at: new Date().toISOString() };
for (const row of ROWS) Object.assign(row, await serve(await row.options()), { runs: [] });
console.error(`rows: ${ROWS.length}, ${reps} x ${seconds} s each, wrk -t${load.threads} -c${load.connections}`);
for (const row of ROWS) await measure(row, 1); // warm: JIT, wasm compiled, D1 opened
for (let rep = 0; rep < reps; rep++) {
  const shift = Math.floor((rep * ROWS.length) / reps);
  const order = ROWS.map((_, i) => ROWS[(i + shift) % ROWS.length]);
  for (const row of order) {
    const run = await measure(row, seconds);
    row.runs.push(run);
    console.error(`rep ${rep + 1}: ${row.key} ${Math.round(run.rps)} req/s, p99 ${run.p99Ms} ms, ` +
      `${run.cpuUsPerReq.toFixed(0)} us CPU/req${run.errors ? `, ${run.errors} errors` : ""}`);
  }
}
for (const row of ROWS) await row.mf.dispose();

const counted = Number(opt.crossings) > 0
  ? await crossings({ originUrl: origin.url, n: Number(opt.crossings), headers: BROWSER, siteCookies: SITE_COOKIES, path: PATH, serve, login })
  : null;
await origin.stop();

const md = report({
  rows: ROWS,
  machine: machine({ origin: origin.kind, started, ended: { load: loadavg(), at: new Date().toISOString() } }),
  method: { seconds, reps, ...load, path: PATH },
  crossings: counted,
});
mkdirSync(path.dirname(opt.out), { recursive: true });
writeFileSync(opt.out, md);
console.log(md);
console.error(`written to ${path.relative(process.cwd(), opt.out)}`);
