// Counts the wasm/JS crossings of one sessiongate request per configuration: each runs
// behind bench/crossings/entry.mjs, takes `n` requests one after another, and reports
// the counts divided by n.
import path from "node:path";
import { ROOT, SECRET } from "../../tests/support/harness.mjs";
import { BROWSER, PATH, SITE_COOKIES, login, serve } from "../rows.mjs";

export const CASES = [
  { key: "sg-none", label: "no session", vars: {} },
  { key: "sg-cookie", label: "cookie store", vars: { SESSION_STORE: "cookie" }, login: true },
  { key: "sg-d1-off", label: "D1, signals off", vars: { SESSION_SIGNAL_FILTER: "none" }, login: true },
  { key: "sg-d1", label: "D1, default signals", vars: {}, login: true },
];

export async function crossings(originUrl, n) {
  const out = [];
  for (const c of CASES) {
    const { mf, url } = await serve({
      modules: [
        { type: "ESModule", path: path.join(ROOT, "bench/crossings/entry.mjs") },
        { type: "ESModule", path: path.join(ROOT, "bench/crossings/count.mjs") },
        { type: "ESModule", path: path.join(ROOT, "build/index.js") },
        { type: "CompiledWasm", path: path.join(ROOT, "build/index_bg.wasm") },
      ],
      modulesRoot: ROOT,
      d1Databases: { SESSIONS_DB: "bench" },
      queueProducers: { SESSION_SIGNALS: "bench-signals" },
      bindings: { SESSION_TIMEOUT_MINUTES: "180", SESSION_SECRET: SECRET, ORIGIN_URL: originUrl, ...c.vars },
    });
    const cookie = c.login ? await login(url) : SITE_COOKIES;
    const send = async () => (await fetch(`${url}${PATH}`, { headers: { ...BROWSER, cookie } })).arrayBuffer();
    await send(); // the isolate's first request parses the configuration: not steady state
    await fetch(`${url}/__bench/crossings`).then((r) => r.arrayBuffer());
    for (let i = 0; i < n; i++) await send();
    const { requests, counts } = await (await fetch(`${url}/__bench/crossings`)).json();
    out.push({ ...c, perRequest: Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / requests])) });
    await mf.dispose();
  }
  return out;
}
