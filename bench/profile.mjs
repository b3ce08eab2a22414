// Where a request's time goes inside the worker: a V8 CPU profile (workerd's inspector)
// of one row under wrk load, its samples split into the wasm (the Rust code), the JS
// glue wasm-bindgen generated (build/index.js), and the runtime (built-ins, the API
// objects' C++ behind them, GC), in microseconds per request.
//   node bench/profile.mjs [--rows sg-none,sg-d1-off] [--seconds 5] [--connections 16]
//                          [--top 12: the functions with the most self time, per row]
//                          [--build DIR: another build/ than the current one]
import { parseArgs } from "node:util";
import path from "node:path";
import { BROWSER, PATH, SITE_COOKIES, login, rows, serve } from "./rows.mjs";
import { startOrigin } from "./origin.mjs";
import { loadWith } from "./wrk.mjs";

const { values: opt } = parseArgs({
  options: {
    rows: { type: "string", default: "passthrough,sg-none,sg-cookie-off,sg-d1-off" },
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "16" },
    top: { type: "string", default: "12" },
    build: { type: "string" },
  },
});

/** One DevTools protocol session over the inspector's WebSocket. */
async function devtools(inspector) {
  const targets = await (await fetch(`${inspector.href.replace(/^ws/, "http")}json`)).json();
  const target = targets.find((t) => t.id.startsWith("core:user:"));
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r, e) => { ws.onopen = r; ws.onerror = e; });
  let id = 0;
  const waiting = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    waiting.get(msg.id)?.(msg.result);
    waiting.delete(msg.id);
  };
  const send = (method, params = {}) => new Promise((r) => {
    waiting.set(++id, r);
    ws.send(JSON.stringify({ id, method, params }));
  });
  return { send, close: () => ws.close() };
}

/** What a profile node's own time counts as. */
function kind({ functionName, url }) {
  if (url.startsWith("wasm://") || functionName.startsWith("$")) return "wasm (Rust)";
  if (url.endsWith("index.js")) return "wasm-bindgen glue (JS)";
  if (functionName === "(garbage collector)") return "GC";
  if (functionName === "(idle)") return "idle";
  if (url) return "worker JS";
  return "runtime (built-ins, native)";
}

/** Self time by kind, and by function (`name url:line:column`). */
function split(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const us = {};
  const fns = {};
  profile.samples.forEach((sample, i) => {
    const frame = byId.get(sample).callFrame;
    const k = kind(frame);
    const dt = profile.timeDeltas[i] ?? 0;
    us[k] = (us[k] ?? 0) + dt;
    const fn = `${k}: ${frame.functionName || "(anonymous)"} ${frame.url.split("/").pop()}:${frame.lineNumber}:${frame.columnNumber}`;
    if (k !== "idle") fns[fn] = (fns[fn] ?? 0) + dt;
  });
  return { us, fns };
}

const origin = await startOrigin();
const wanted = opt.rows.split(",");
const result = {};
const build = opt.build && path.resolve(opt.build);
for (const row of rows(origin.url, { build }).filter((r) => wanted.includes(r.key))) {
  const { mf, url } = await serve({ ...(await row.options()), inspectorPort: 0 });
  const cookie = row.login ? await login(url) : SITE_COOKIES;
  const load = { connections: Number(opt.connections), threads: 2 };
  await loadWith(`${url}${PATH}`, { ...BROWSER, cookie }, { ...load, seconds: 1 }); // warm
  const dt = await devtools(await mf.getInspectorURL());
  await dt.send("Profiler.enable");
  await dt.send("Profiler.setSamplingInterval", { interval: 100 });
  await dt.send("Profiler.start");
  const r = await loadWith(`${url}${PATH}`, { ...BROWSER, cookie }, { ...load, seconds: Number(opt.seconds) });
  const { profile } = await dt.send("Profiler.stop");
  dt.close();
  await mf.dispose();
  const { us, fns } = split(profile);
  delete us.idle;
  const top = Object.entries(fns).sort((a, b) => b[1] - a[1]).slice(0, Number(opt.top));
  for (const [fn, t] of top) console.error(`  ${(t / r.requests).toFixed(1).padStart(7)} us/req  ${fn}`);
  const perRequest = Object.fromEntries(Object.entries(us).map(([k, v]) => [k, Math.round(v / r.requests)]));
  result[row.label] = { "req/s": Math.round(r.rps), ...perRequest, "total us/req": Math.round(Object.values(us).reduce((a, b) => a + b, 0) / r.requests) };
  console.error(row.key, result[row.label]);
}
await origin.stop();
console.table(result);
