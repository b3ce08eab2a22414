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
import { ROOT } from "../tests/support/harness.mjs";
import { startOrigin } from "./origin.mjs";
import { WRK, loadWith } from "./wrk.mjs";
import { cpuSeconds, machine } from "./machine.mjs";
import { BROWSER, PATH, SITE_COOKIES, login, rows, serve } from "./rows.mjs";
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

const origin = await startOrigin();
console.error(`origin: ${origin.kind} at ${origin.url}`);
const ROWS = rows(origin.url, { only: opt.only, baseline: opt.baseline });

/** Waits until `pids` are idle (under 10 ms of CPU in 250 ms), at most 15 s. */
async function settle(pids) {
  for (let i = 0, last = cpuSeconds(pids); i < 60; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const now = cpuSeconds(pids);
    if (now - last < 0.01) return;
    last = now;
  }
}

// The CPU is read once the row is idle again: work a row's requests leave behind (the
// queue consumer writing audit rows) is charged to that row, not to the next one.
async function measure(row, duration) {
  const cookie = row.login ? await login(row.url) : SITE_COOKIES;
  await settle(row.pids);
  const before = cpuSeconds(row.pids);
  const r = await loadWith(`${row.url}${PATH}`, { ...BROWSER, cookie }, { ...load, seconds: duration });
  await settle(row.pids);
  const cpu = cpuSeconds(row.pids) - before;
  return { ...r, cpuUsPerReq: r.requests ? (cpu / r.requests) * 1e6 : NaN };
}

const started = { load: loadavg(), at: new Date().toISOString() };
for (const row of ROWS) Object.assign(row, await serve(await row.options()), { runs: [] });
const generator = WRK ? "wrk" : "autocannon with workers (wrk missing)";
console.error(`rows: ${ROWS.length}, ${reps} x ${seconds} s each, ${generator} -t${load.threads} -c${load.connections}`);
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
  ? await crossings(origin.url, Number(opt.crossings))
  : null;
await origin.stop();

const md = report({
  rows: ROWS,
  machine: machine({ origin: origin.kind, started, ended: { load: loadavg(), at: new Date().toISOString() } }),
  method: { generator, seconds, reps, ...load, path: PATH },
  crossings: counted,
});
mkdirSync(path.dirname(opt.out), { recursive: true });
writeFileSync(opt.out, md);
console.log(md);
console.error(`written to ${path.relative(process.cwd(), opt.out)}`);
