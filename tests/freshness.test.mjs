// Freshness end to end (issue 12): the login time each session keeps, what the origin
// learns of it (X-Session-Auth-Time, the assertion's auth_time), the `reauthenticated`
// command, and fresh-only paths (SESSION_FRESH_PATHS) refused before the origin, in D1
// mode over real local D1 and in cookie mode.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { startOrigin, startGateway, openFull, now } from "./support/harness.mjs";

const ORIGIN_SECRET = "origin-secret-for-freshness-tests-0123456789";
const REAUTH = "https://gate.example/login";
const FRESH = {
  SESSION_FRESH_PATHS: "/account/security*, /admin",
  SESSION_REAUTH_URL: REAUTH,
  ORIGIN_SECRET,
};
const NAVIGATE = { "sec-fetch-mode": "navigate", "sec-fetch-dest": "document", accept: "text/html,application/xhtml+xml" };
const FETCH = { "sec-fetch-mode": "cors", accept: "application/json" };

let origin;
let gate;
let cookieGate;

before(async () => {
  origin = await startOrigin();
  // Served on loopback: `fetch` (undici) always sends its own Sec-Fetch-Mode, a browser's
  // page load is sent here as a browser sends it.
  gate = await startGateway(origin.url, { ...FRESH, SESSION_FRESH_MAX_AGE_SECONDS: "300" }, { listen: true });
  cookieGate = await startGateway(
    origin.url,
    { ...FRESH, SESSION_STORE: "cookie", SESSION_FRESH_MAX_AGE_SECONDS: "1" },
    { listen: true },
  );
});
after(async () => {
  await gate?.dispose();
  await cookieGate?.dispose();
  await origin?.close();
});

/**
 * One GET through `g` with exactly `headers` (plain HTTP, as a browser sends them); the
 * origin answers with `respond` headers. `{status, headers, json(), cookie}`: `cookie` is
 * the session cookie set, or null.
 */
async function send(g, path, { cookie, respond, headers = {} } = {}) {
  origin.respond = () => ({ status: 200, headers: respond ?? {}, body: "ok" });
  const sent = { ...headers, ...(cookie && { cookie: `session_id=${cookie}` }) };
  const res = await new Promise((resolve, reject) => {
    const req = request(g.url, { path, headers: sent }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
  const line = (res.headers["set-cookie"] ?? []).find((l) => l.startsWith("session_id="));
  return {
    ...res,
    json: () => JSON.parse(res.body),
    cookie: line ? line.split(";")[0].slice("session_id=".length) : null,
    header: (name) => res.headers[name] ?? null,
  };
}

const claims = (rec) => JSON.parse(Buffer.from(rec.headers["x-session-assertion"].split(".")[1], "base64url").toString("utf8"));
const idOf = (cookie) => cookie.split(".")[0];
const authOf = async (id) => (await gate.db.prepare("SELECT authenticated_at FROM sessions WHERE id = ?1").bind(id).first()).authenticated_at;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("D1 mode: the login time reaches the origin, a stale one never does on a fresh-only path, reauthenticated opens it again", async () => {
  const login = await send(gate, "/login", { respond: { "x-session-user-id": "ann" } });
  const cookie = login.cookie;
  assert.ok(cookie, "logged in");
  const id = idOf(cookie);
  const at = await authOf(id);
  assert.ok(Math.abs(at - now()) <= 5, `authenticated at the login: ${at}`);

  // A fresh login passes, and the origin learns when it happened.
  let res = await send(gate, "/account/security", { cookie, headers: NAVIGATE });
  assert.equal(res.status, 200);
  let rec = origin.last();
  assert.equal(rec.url, "/account/security");
  assert.equal(rec.headers["x-session-auth-time"], new Date(at * 1000).toISOString().replace(".000Z", "Z"));
  assert.equal(claims(rec).auth_time, at);

  // The login ages past the maximum: the page load is sent to log in again.
  await gate.db.prepare("UPDATE sessions SET authenticated_at = ?1 WHERE id = ?2").bind(now() - 1000, id).run();
  const seen = origin.seen.length;
  res = await send(gate, "/account/security/keys?tab=2&x=a%20b", { cookie, headers: NAVIGATE });
  assert.equal(res.status, 303);
  assert.equal(res.header("location"), `${REAUTH}?next=%2Faccount%2Fsecurity%2Fkeys%3Ftab%3D2%26x%3Da%2520b`);
  assert.equal(new URL(res.header("location")).searchParams.get("next"), "/account/security/keys?tab=2&x=a%20b");
  assert.equal(res.header("cache-control"), "no-store");
  // Anything else gets a 401 that says where to go.
  res = await send(gate, "/admin", { cookie, headers: FETCH });
  assert.equal(res.status, 401);
  const body = res.json();
  assert.equal(body.error, "reauthentication_required");
  assert.equal(body.reauth_url, `${REAUTH}?next=%2Fadmin`);
  // A spelling the origin would read as the same path is covered too.
  res = await send(gate, "//Account/%53ecurity", { cookie, headers: FETCH });
  assert.equal(res.status, 401);
  assert.equal(origin.seen.length, seen, "the origin never saw a stale request");
  // Other paths are not affected by the age of the login.
  res = await send(gate, "/account", { cookie, headers: NAVIGATE });
  assert.equal(res.status, 200);

  // The login page checks the password again and says so.
  res = await send(gate, "/login", { cookie, headers: NAVIGATE, respond: { "x-session-action": "reauthenticated" } });
  assert.equal(res.status, 200);
  const refreshed = await authOf(id);
  assert.ok(refreshed >= now() - 5, `refreshed: ${refreshed}`);
  res = await send(gate, "/account/security", { cookie, headers: NAVIGATE });
  assert.equal(res.status, 200);
  assert.equal(claims(origin.last()).auth_time, refreshed);

  // Every refusal is signalled into the audit table.
  const rows = await gate.waitForSignal((r) => r.name === "session_reauth_required" && r.session_id === id);
  assert.deepEqual(rows[0].payload.kwargs, { session_id: id, path: "/account/security/keys" });
  const all = await gate.waitForSignal((r) => r.name === "session_reauth_required" && r.payload.kwargs.path === "/admin");
  assert.equal(all[0].session_id, id);
});

test("D1 mode: no session on a fresh-only path is sent to log in; a client never sets its own auth time", async () => {
  const seen = origin.seen.length;
  let res = await send(gate, "/admin", { headers: { accept: "text/html" } });
  assert.equal(res.status, 303, "Accept: text/html without Sec-Fetch-Mode is a page load");
  assert.equal(res.header("location"), `${REAUTH}?next=%2Fadmin`);
  assert.equal(origin.seen.length, seen);
  res = await send(gate, "/page", { headers: { "x-session-auth-time": "2099-01-01T00:00:00Z" } });
  assert.equal(res.status, 200);
  assert.equal(origin.last().headers["x-session-auth-time"], undefined, "stripped");
  assert.equal(claims(origin.last()).auth_time, undefined);
});

test("D1 mode: steady state on a fresh-only path is one read and no write", async () => {
  const cookie = (await send(gate, "/login", { respond: { "x-session-user-id": "bea" } })).cookie;
  await gate.d1Log();
  const res = await send(gate, "/account/security", { cookie, headers: NAVIGATE });
  assert.equal(res.status, 200);
  const log = await gate.d1Log();
  assert.equal(log.length, 1, JSON.stringify(log));
  assert.equal(log[0].write, false);
});

test("cookie mode: the login time travels in the encrypted cookie and reauthenticated re-issues it", async () => {
  const login = await send(cookieGate, "/login", { respond: { "x-session-user-id": "cy" } });
  let cookie = login.cookie;
  const at = openFull(cookie).t;
  assert.ok(Math.abs(at - now()) <= 5, `carried under the MAC: ${at}`);
  let res = await send(cookieGate, "/account/security", { cookie, headers: NAVIGATE });
  assert.equal(res.status, 200);
  assert.equal(origin.last().headers["x-session-store"], "cookie");
  assert.equal(claims(origin.last()).auth_time, at);

  // SESSION_FRESH_MAX_AGE_SECONDS=1: two seconds later the login is stale.
  await sleep(2100);
  const seen = origin.seen.length;
  res = await send(cookieGate, "/account/security", { cookie, headers: NAVIGATE });
  assert.equal(res.status, 303);
  assert.equal(res.header("location"), `${REAUTH}?next=%2Faccount%2Fsecurity`);
  assert.equal(origin.seen.length, seen, "the origin never saw it");
  res = await send(cookieGate, "/account/security", { cookie, headers: FETCH });
  assert.equal(res.status, 401);
  assert.equal(origin.seen.length, seen);

  res = await send(cookieGate, "/login", { cookie, headers: NAVIGATE, respond: { "x-session-action": "reauthenticated" } });
  const reissued = res.cookie;
  assert.ok(reissued, "the cookie is re-issued");
  assert.ok(openFull(reissued).t > at, "with the new time");
  assert.equal(openFull(reissued).u, "cy");
  cookie = reissued;
  res = await send(cookieGate, "/account/security", { cookie, headers: NAVIGATE });
  assert.equal(res.status, 200);
  assert.equal(origin.last().url, "/account/security");
});
