// End-to-end harness: the built wasm in Miniflare (workerd) with a real local D1, and a
// real origin HTTP server on loopback that records what it receives.
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { createServer } from "node:http";
import { createHmac, createDecipheriv } from "node:crypto";
import { inflateRawSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { migrate } from "./migrations.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SECRET = "test-secret-test-secret-test-secret-0123";
export const BASE = "https://gate.example";
/** The admin token every test gateway has (SESSION_ADMIN_TOKEN). */
export const ADMIN_TOKEN = "admin-token-admin-token-admin-token";

/** An origin that records each request and answers with `origin.respond(rec)`. */
export async function startOrigin() {
  const origin = {
    seen: [],
    respond: () => ({ status: 200, headers: {}, body: "ok" }),
    last() {
      return this.seen[this.seen.length - 1];
    },
  };
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    const rec = { method: req.method, url: req.url, headers: req.headers, body };
    origin.seen.push(rec);
    const out = await origin.respond(rec);
    res.writeHead(out.status ?? 200, out.headers ?? {});
    res.end(out.body ?? "");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin.url = `http://127.0.0.1:${server.address().port}`;
  origin.close = () => new Promise((resolve) => server.close(resolve));
  return origin;
}

const QUEUE = "sessiongate-signals";

/**
 * Miniflare running build/ behind the test entry, with migrations applied. Options:
 * `queue: false` leaves the SESSION_SIGNALS binding out, `d1: false` the SESSIONS_DB one
 * (then pass SESSION_STORE: "cookie" in `vars`, or the gateway refuses to serve).
 * `assets: true` binds www/ as ASSETS (as wrangler.toml does, the worker first);
 * `listen: true` also serves on a loopback port, for a real browser: `gate.url`.
 * `ratelimits: { NAME: { limit, period } }` binds Workers Rate Limiting bindings
 * (Miniflare emulates them: windows aligned to the clock, `period` 10 or 60, default 60).
 * `metrics: true` binds the SESSION_METRICS Analytics Engine dataset; the test entry
 * records its data points (`gate.metrics()`).
 */
export async function startGateway(originUrl, vars = {}, { queue = true, d1 = true, assets = false, listen = false, ratelimits = {}, metrics = false } = {}) {
  const logs = [];
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: [
        { type: "ESModule", path: path.join(ROOT, "tests/support/entry.mjs") },
        { type: "ESModule", path: path.join(ROOT, "build/index.js") },
        { type: "CompiledWasm", path: path.join(ROOT, "build/index_bg.wasm") },
      ],
      modulesRoot: ROOT,
      compatibilityDate: "2026-11-01",
      d1Databases: d1 ? { SESSIONS_DB: "sessiongate-test" } : {},
      ...(queue && {
        queueProducers: { SESSION_SIGNALS: QUEUE },
        queueConsumers: { [QUEUE]: { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 2 } },
      }),
      ...(assets && {
        assets: {
          directory: path.join(ROOT, "www"),
          binding: "ASSETS",
          routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
        },
      }),
      ...(listen && { host: "127.0.0.1", port: 0 }),
      ratelimits: Object.fromEntries(
        Object.entries(ratelimits).map(([name, { limit, period = 60 }], i) => [
          name,
          { namespace_id: String(1001 + i), simple: { limit, period } },
        ]),
      ),
      ...(metrics && { analyticsEngineDatasets: { SESSION_METRICS: { dataset: "sessiongate_test" } } }),
      handleStructuredLogs: (entry) => logs.push(entry.message),
      // A `null` in `vars` leaves the setting unset (its default applies).
      bindings: Object.fromEntries(
        Object.entries({
          SESSION_TIMEOUT_MINUTES: "30",
          SESSION_SECRET: SECRET,
          SESSION_ADMIN_TOKEN: ADMIN_TOKEN,
          // The tests read cookies by this name; the default is `__Host-session_id`.
          SESSION_COOKIE_NAME: "session_id",
          ORIGIN_URL: originUrl,
          ...vars,
        }).filter(([, v]) => v !== null),
      ),
    }),
  );
  const ready = await mf.ready;
  const db = d1 ? await mf.getD1Database("SESSIONS_DB") : null;
  if (db) await migrate(db, ROOT);
  const gate = {
    mf,
    db,
    /** With `listen`: the loopback origin a browser opens, e.g. http://127.0.0.1:41234. */
    url: listen ? ready.origin : null,
    fetch: (p, init = {}) => mf.dispatchFetch(new URL(p, BASE), { redirect: "manual", ...init }),
    /** `/__session/health` as the operator sees it (with the admin token). */
    health: () => mf.dispatchFetch(`${BASE}/__session/health`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
    /** Statements the worker ran since the last call: [{sql, write}]. */
    d1Log: async () => (await mf.dispatchFetch(`${BASE}/__test/d1`)).json(),
    failD1: async (mode) => mf.dispatchFetch(`${BASE}/__test/d1?fail=${mode}`, { method: "POST" }),
    rows: async () => (await db.prepare("SELECT * FROM sessions ORDER BY created_at").all()).results,
    /** Analytics Engine data points written since the last call: [{indexes, blobs, doubles}]. */
    metrics: async () => (await mf.dispatchFetch(`${BASE}/__test/metrics`)).json(),
    /** Queue producer calls since the last call: [{method, count}]. */
    queueLog: async () => (await mf.dispatchFetch(`${BASE}/__test/queue`)).json(),
    failQueue: async (on) => mf.dispatchFetch(`${BASE}/__test/queue?fail=${on ? 1 : 0}`, { method: "POST" }),
    /** Rate limiter calls since the last call: [{binding, key}]. */
    rateLog: async () => (await mf.dispatchFetch(`${BASE}/__test/ratelimit`)).json(),
    failRate: async (on) => mf.dispatchFetch(`${BASE}/__test/ratelimit?fail=${on ? 1 : 0}`, { method: "POST" }),
    enqueue: async (body) => mf.dispatchFetch(`${BASE}/__test/enqueue`, { method: "POST", body: JSON.stringify(body) }),
    /** Audit rows, payload parsed. */
    signals: async () =>
      (await db.prepare("SELECT * FROM session_signals ORDER BY at, rowid").all()).results.map((r) => ({ ...r, payload: JSON.parse(r.payload) })),
    /** Waits until an audit row matches `pred`; returns every matching row. */
    async waitForSignal(pred, timeoutMs = 8000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = (await gate.signals()).filter(pred);
        if (found.length) return found;
        if (Date.now() > deadline) throw new Error(`no matching signal within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    /** Runs the cron handler once. */
    scheduled: async () => (await mf.getWorker()).scheduled({ cron: "*/15 * * * *", scheduledTime: new Date() }),
    /** Every line the worker logged. */
    logs,
    dispose: () => mf.dispose(),
  };
  return gate;
}

/** The `name=value` of the session cookie set by `res`, or null; "" when cleared. */
export function sessionCookie(res, name = "session_id") {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair.indexOf("=");
    if (pair.slice(0, eq) === name) return pair.slice(eq + 1);
  }
  return null;
}

export function setCookieLine(res) {
  return res.headers.getSetCookie()[0] ?? null;
}

/** Decodes X-Session-Data as the origin received it. */
export function dataSeen(rec) {
  const raw = rec.headers["x-session-data"];
  return raw === undefined ? undefined : JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
}

/** Unix seconds now. */
export const now = () => Math.floor(Date.now() / 1000);

const cookieKey = (secret) => createHmac("sha256", secret).update("sessiongate/v1/cookie").digest();

/** A reference cookie `<id>.<snapshot>.<mac>`, signed in JS from the documented format. */
export function signRef(secret, id, { user = null, t = now(), name = "session_id" } = {}) {
  const snap = Buffer.from(JSON.stringify({ u: user, t })).toString("base64url");
  const mac = createHmac("sha256", cookieKey(secret)).update(`sessiongate-ref-v1\0${name}\0${id}\0${snap}`).digest("base64url");
  return `${id}.${snap}.${mac}`;
}

/** A pending cookie `p1.<json>.<mac>` holding `wire` (the documented JSON), signed in JS. */
export function signPending(secret, wire, name = "session_id-pending") {
  const body = Buffer.from(JSON.stringify(wire)).toString("base64url");
  const mac = createHmac("sha256", cookieKey(secret)).update(`sessiongate-pending-v1\0${name}\0p1\0${body}`).digest("base64url");
  return `p1.${body}.${mac}`;
}

/** Verifies a reference cookie with `secret`: `{id, snapshot}`, or null. */
export function openRef(value, secret, name = "session_id") {
  const [id, snap, mac] = value.split(".");
  const want = createHmac("sha256", cookieKey(secret)).update(`sessiongate-ref-v1\0${name}\0${id}\0${snap}`).digest("base64url");
  return want === mac ? { id, snapshot: JSON.parse(Buffer.from(snap, "base64url").toString("utf8")) } : null;
}

/** HChaCha20 (draft-irtf-cfrg-xchacha): the subkey XChaCha20 derives from a 16-byte nonce prefix. */
function hchacha20(key, nonce16) {
  const s = new Uint32Array(16);
  s.set([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  for (let i = 0; i < 8; i++) s[4 + i] = key.readUInt32LE(4 * i);
  for (let i = 0; i < 4; i++) s[12 + i] = nonce16.readUInt32LE(4 * i);
  const rotl = (v, n) => (v << n) | (v >>> (32 - n));
  const qr = (a, b, c, d) => {
    s[a] += s[b]; s[d] = rotl(s[d] ^ s[a], 16);
    s[c] += s[d]; s[b] = rotl(s[b] ^ s[c], 12);
    s[a] += s[b]; s[d] = rotl(s[d] ^ s[a], 8);
    s[c] += s[d]; s[b] = rotl(s[b] ^ s[c], 7);
  };
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15);
    qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14);
  }
  const out = Buffer.alloc(32);
  [0, 1, 2, 3, 12, 13, 14, 15].forEach((w, i) => out.writeUInt32LE(s[w], 4 * i));
  return out;
}

/**
 * Opens a cookie-store cookie with `secret`, from the documented formats: encrypted
 * `e1`/`e1z.<nonce + ciphertext>` (XChaCha20-Poly1305), or the signed-only `s1`/`s1z` of
 * earlier versions. The payload, or null when it does not open.
 */
export function openFull(value, secret = SECRET, name = "session_id") {
  const parts = value.split(".");
  let tag, raw;
  if (parts.length === 2) {
    [tag] = parts;
    const body = Buffer.from(parts[1], "base64url");
    const key = createHmac("sha256", cookieKey(secret)).update("sessiongate/v1/derive/cookie-aead").digest();
    const nonce = body.subarray(0, 24);
    const sealed = body.subarray(24);
    const iv = Buffer.concat([Buffer.alloc(4), nonce.subarray(16)]);
    const decipher = createDecipheriv("chacha20-poly1305", hchacha20(key, nonce.subarray(0, 16)), iv, { authTagLength: 16 });
    decipher.setAAD(Buffer.from(`sessiongate-full-v2\0${name}\0${tag}`), { plaintextLength: sealed.length - 16 });
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    try {
      raw = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
    } catch {
      return null;
    }
    tag = tag === "e1z" ? "z" : "";
  } else {
    const [t, body, mac] = parts;
    const want = createHmac("sha256", cookieKey(secret)).update(`sessiongate-full-v1\0${name}\0${t}\0${body}`).digest("base64url");
    if (want !== mac) return null;
    raw = Buffer.from(body, "base64url");
    tag = t === "s1z" ? "z" : "";
  }
  return JSON.parse((tag === "z" ? inflateRawSync(raw) : raw).toString("utf8"));
}
