// The rows of the bench: the peers and sessiongate's configurations, each served by its
// own Miniflare (one workerd process) with a socket bound straight to the worker, and
// how a row's browser logs in.
import path from "node:path";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { migrate } from "../tests/support/migrations.mjs";
import { ROOT, SECRET } from "../tests/support/harness.mjs";
import { bundle } from "./peers/bundle.mjs";
import { workerdPids } from "./machine.mjs";

/** What a Chrome navigation sends (besides its cookies). */
export const BROWSER = {
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
export const SITE_COOKIES = "_ga=GA1.1.1234567890.1764000000; theme=dark; consent=analytics";
export const PATH = "/cart?page=1";

/** Miniflare options of a gateway built in `build` with `vars`, in front of `origin`. */
export const gate = (origin, vars, build = path.join(ROOT, "build")) => async () => ({
  modules: [
    { type: "ESModule", path: path.join(build, "index.js") },
    { type: "CompiledWasm", path: path.join(build, "index_bg.wasm") },
  ],
  modulesRoot: build,
  d1Databases: { SESSIONS_DB: "bench" },
  queueProducers: { SESSION_SIGNALS: "bench-signals" },
  queueConsumers: { "bench-signals": { maxBatchSize: 100, maxBatchTimeout: 1 } },
  bindings: { SESSION_TIMEOUT_MINUTES: "180", SESSION_SECRET: SECRET, ORIGIN_URL: origin, ...vars },
});

/**
 * The rows in front of `origin`, those whose key matches `only`. `login`: the row's
 * session cookie is minted through the worker (GET /login) before each measurement;
 * nginx's /login answers with the commands that log sessiongate in. `gate`: a
 * sessiongate row's vars (left unset: the defaults), run on `build` (default build/).
 * `baseline`: a copy of an earlier
 * build/; every sessiongate row runs on it too, interleaved with the current build (a
 * change's before and after under the same load).
 */
export function rows(origin, { only, baseline, build } = {}) {
  const peer = (name, extra = {}) => async () => ({ modules: true, script: await bundle(name), ...extra,
    bindings: { ORIGIN_URL: origin, SESSION_SECRET: SECRET } });
  const d1 = { d1Databases: { SESSIONS_DB: "bench" } };
  const all = [
    { key: "passthrough", label: "JS pass-through worker (the runtime's floor)", options: peer("passthrough") },
    { key: "hono-sessions", label: "hono + hono-sessions (encrypted cookie session)", options: peer("hono-sessions"), login: true },
    { key: "hono-hmac", label: "hono + WebCrypto HMAC session id, by hand", options: peer("hono-hmac"), login: true },
    { key: "hono-hmac-d1", label: "the same + one D1 read by primary key", options: peer("hono-hmac-d1", d1), login: true },
    { key: "sg-none", label: "sessiongate, no session", gate: {} },
    { key: "sg-cookie", label: "sessiongate, cookie store, valid session", gate: { SESSION_STORE: "cookie" }, login: true },
    { key: "sg-cookie-off", label: "sessiongate, cookie store, valid session, signals off", gate: { SESSION_STORE: "cookie", SESSION_SIGNAL_FILTER: "none" }, login: true },
    { key: "sg-d1-off", label: "sessiongate, D1, valid session, signals off", gate: { SESSION_SIGNAL_FILTER: "none" }, login: true },
    { key: "sg-d1", label: "sessiongate, D1, valid session, default signals", gate: {}, login: true },
  ].filter((r) => !only || new RegExp(only).test(r.key));
  for (const row of all) row.options ??= gate(origin, row.gate, build);
  if (baseline) {
    for (const row of all.filter((r) => r.gate)) {
      const options = gate(origin, row.gate, path.resolve(baseline));
      all.push({ ...row, key: `${row.key}-base`, label: `${row.label} (baseline build)`, options });
    }
  }
  return all;
}

/** A running row: its Miniflare, the URL of its direct socket, its workerd pids. */
export async function serve(options) {
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
export async function login(url) {
  const res = await fetch(`${url}/login`, { headers: { ...BROWSER, cookie: SITE_COOKIES } });
  await res.arrayBuffer();
  // By name, the last one wins (hono-sessions sets its cookie twice on a first request).
  const jar = new Map(res.headers.getSetCookie().map((c) => c.split(";")[0].split(/=(.*)/s)));
  if (res.status >= 400 || jar.size === 0) throw new Error(`login at ${url}: ${res.status}, no Set-Cookie`);
  return [SITE_COOKIES, ...[...jar].map(([k, v]) => `${k}=${v}`)].join("; ");
}
