// Throughput of the hot path on local workerd (Miniflare), against the origin alone and a
// JS pass-through worker. Numbers from one machine: compare rows, not absolutes.
//   node bench/run.mjs [seconds per scenario] [connections]
import autocannon from "autocannon";
import { createServer } from "node:http";
import { createHmac } from "node:crypto";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { migrate } from "../tests/support/migrations.mjs";
import path from "node:path";
import { ROOT, SECRET } from "../tests/support/harness.mjs";

const duration = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 10);

const origin = createServer((req, res) => {
  req.resume();
  req.on("end", () => res.writeHead(200, { "content-type": "text/plain" }).end("ok\n"));
});
await new Promise((r) => origin.listen(0, "127.0.0.1", r));
const originUrl = `http://127.0.0.1:${origin.address().port}`;

const JS_PASSTHROUGH = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    for (const name of [...headers.keys()]) if (name.startsWith("x-session-")) headers.delete(name);
    return fetch(env.ORIGIN_URL + url.pathname + url.search,
      { method: request.method, headers, body: request.body, redirect: "manual" });
  },
};`;

async function serve(options) {
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      compatibilityDate: "2026-11-01",
      handleStructuredLogs: () => {}, // the worker's JSON log lines: not the subject here
      ...options,
    }),
  );
  const url = await mf.ready;
  return { mf, url: url.href.replace(/\/$/, "") };
}

function gatewayOptions(vars) {
  return {
    modules: [
      { type: "ESModule", path: path.join(ROOT, "build/index.js") },
      { type: "CompiledWasm", path: path.join(ROOT, "build/index_bg.wasm") },
    ],
    modulesRoot: ROOT,
    d1Databases: { SESSIONS_DB: "bench" },
    queueProducers: { SESSION_SIGNALS: "bench-signals" },
    queueConsumers: { "bench-signals": { maxBatchSize: 100, maxBatchTimeout: 1 } },
    bindings: { SESSION_TIMEOUT_MINUTES: "180", SESSION_SECRET: SECRET, SESSION_COOKIE_NAME: "session_id", ORIGIN_URL: originUrl, ...vars },
  };
}

async function migrated(mf) {
  const db = await mf.getD1Database("SESSIONS_DB");
  await migrate(db, ROOT);
  return db;
}

/** A session row and its reference cookie, made directly. */
async function seed(db) {
  const id = "5e55e55e-0000-4000-8000-000000000001";
  const t = Math.floor(Date.now() / 1000);
  await db.prepare("INSERT INTO sessions (id, user_id, data, created_at, expires_at, updated_at) VALUES (?1, 'bench', ?2, ?3, ?4, ?3)")
    .bind(id, JSON.stringify({ cart: ["a", "b", "c"], theme: "dark" }), t, t + 3 * 3600).run();
  const key = createHmac("sha256", SECRET).update("sessiongate/v1/cookie").digest();
  const snap = Buffer.from(JSON.stringify({ u: "bench", t })).toString("base64url");
  const mac = createHmac("sha256", key).update(`sessiongate-ref-v1\0session_id\0${id}\0${snap}`).digest("base64url");
  return `session_id=${id}.${snap}.${mac}`;
}

async function measure(name, url, headers = {}) {
  const r = await autocannon({ url: `${url}/bench?x=1`, connections, duration, headers });
  const row = { scenario: name, "req/s": Math.round(r.requests.average), "p50 ms": r.latency.p50, "p99 ms": r.latency.p99, errors: r.errors + r.non2xx };
  console.log(JSON.stringify(row));
  return row;
}

const rows = [];
rows.push(await measure("origin alone", originUrl));
const js = await serve({ modules: true, script: JS_PASSTHROUGH, bindings: { ORIGIN_URL: originUrl } });
rows.push(await measure("JS pass-through worker", js.url));
await js.mf.dispose();
const gate = await serve(gatewayOptions({}));
const cookie = await seed(await migrated(gate.mf));
rows.push(await measure("sessiongate, no session", gate.url));
rows.push(await measure("sessiongate, D1 session (1 read)", gate.url, { cookie }));
await gate.mf.dispose();
// The same without signals: every request above also queues session_data_retrieved,
// which the consumer writes to the audit table in the same local D1.
const quiet = await serve(gatewayOptions({ SESSION_SIGNAL_FILTER: "none" }));
const quietCookie = await seed(await migrated(quiet.mf));
rows.push(await measure("sessiongate, D1 session, signals off", quiet.url, { cookie: quietCookie }));
await quiet.mf.dispose();
const cookieGate = await serve(gatewayOptions({ SESSION_STORE: "cookie" }));
await migrated(cookieGate.mf);
const made = await fetch(`${cookieGate.url}/x`, { headers: {} });
await made.arrayBuffer();
rows.push(await measure("sessiongate, cookie store, no session", cookieGate.url));
await cookieGate.mf.dispose();
origin.close();
console.table(rows);
