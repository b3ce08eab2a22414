// Rate limits end to end, with Miniflare's own emulation of the Workers Rate Limiting
// binding (counters per key in windows aligned to the clock): session creation per client
// network in D1 and cookie mode (over the limit: no row, no cookie, the origin told),
// 429 with Retry-After on the self-service API, the admin API and logout, one aggregated
// signal for a forged-cookie flood, and without bindings no limit and health saying so.
// Each test uses a network of its own (CF-Connecting-IP), so counters never mix.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startGateway, sessionCookie, signRef, ADMIN_TOKEN, BASE } from "./support/harness.mjs";

const LIMITS = {
  SESSION_CREATE_LIMIT: { limit: 2 },
  SESSION_API_LIMIT: { limit: 2 },
  SESSION_ADMIN_LIMIT: { limit: 2 },
  SESSION_LOGOUT_LIMIT: { limit: 1 },
  SESSION_COOKIE_REJECTED_LIMIT: { limit: 1 },
};

let origin;
let limited; // D1, every binding
let cookies; // cookie store, every binding
let open; // D1, no binding

before(async () => {
  origin = await startOrigin();
  limited = await startGateway(origin.url, {}, { ratelimits: LIMITS });
  cookies = await startGateway(origin.url, { SESSION_STORE: "cookie" }, { d1: false, ratelimits: LIMITS });
  open = await startGateway(origin.url);
});
after(async () => {
  await limited?.dispose();
  await cookies?.dispose();
  await open?.dispose();
  await origin?.close();
});

/**
 * Waits, if needed, until at least `secs` seconds remain of the binding's 60 s window
 * (Miniflare aligns windows to the clock): a test's requests then share one window.
 */
async function inOneWindow(secs = 15) {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < secs * 1000) await new Promise((r) => setTimeout(r, left + 250));
}

/** A well-formed reference cookie signed with the wrong key. */
const FORGED = signRef("forged-secret-forged-secret-forged-secret", "9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab");

/** Requests from `ip` (a client network of the test's own). */
const from = (ip, headers = {}) => ({ headers: { "cf-connecting-ip": ip, ...headers } });

/** A request from `ip` whose origin answer writes to the session (creates one if none). */
async function write(gate, ip, cookie = null) {
  origin.respond = () => ({ status: 200, headers: { "x-session-update": JSON.stringify({ cart: [1] }) }, body: "served" });
  try {
    return await gate.fetch("/add", from(ip, cookie ? { cookie: `session_id=${cookie}` } : {}));
  } finally {
    origin.respond = () => ({ status: 200 });
  }
}

test("creation over the rate limit creates nothing (D1): no row, no Set-Cookie, the origin told", async () => {
  await inOneWindow();
  await limited.rateLog();
  const first = sessionCookie(await write(limited, "198.51.100.7"));
  const second = sessionCookie(await write(limited, "198.51.100.8"));
  assert.ok(first && second, "two sessions under the limit");
  assert.equal((await limited.rows()).length, 2);
  // The same /24: over the limit. The request is served, without a session.
  const over = await write(limited, "198.51.100.9");
  assert.equal(over.status, 200);
  assert.equal(await over.text(), "served", "the origin's answer");
  assert.equal(over.headers.getSetCookie().length, 0, "no Set-Cookie");
  assert.equal((await limited.rows()).length, 2, "no row");
  const [failed] = await limited.waitForSignal((r) => r.name === "session_creation_failed");
  assert.equal(failed.payload.kwargs.exception.type, "RateLimited");
  assert.match(failed.payload.kwargs.exception.message, /198\.51\.100\.0\/24/);
  // The next request without a session from that network: the origin is told first.
  const again = await write(limited, "198.51.100.10");
  assert.equal(origin.last().headers["x-session-rate-limited"], "create");
  assert.equal(again.headers.getSetCookie().length, 0);
  assert.equal((await limited.rows()).length, 2, "still no row");
  // Keys are the purpose and the network, never the address.
  const keys = (await limited.rateLog()).map((c) => `${c.binding} ${c.key}`);
  assert.deepEqual(new Set(keys), new Set(["SESSION_CREATE_LIMIT create:198.51.100.0/24"]));
  // Another network is not affected.
  assert.ok(sessionCookie(await write(limited, "192.0.2.44")), "another network creates");
  assert.equal(origin.last().headers["x-session-rate-limited"], undefined);
  // A session in hand from the limited network goes on: one read, no write, no limiter call.
  await limited.rateLog();
  await limited.d1Log();
  await limited.fetch("/page", from("198.51.100.7", { cookie: `session_id=${first}` }));
  assert.equal(origin.last().headers["x-session-rate-limited"], undefined, "never told with a session");
  assert.ok(origin.last().headers["x-session-id"]);
  assert.deepEqual((await limited.d1Log()).map((s) => s.write), [false], "one read, no write");
  assert.deepEqual(await limited.rateLog(), [], "no limiter call");
  const update = await write(limited, "198.51.100.7", first);
  assert.equal(update.status, 200);
  assert.deepEqual(await limited.rateLog(), [], "its writes never ask the limiter either");
});

test("creation over the rate limit creates nothing (cookie store): no Set-Cookie, the origin told", async () => {
  await inOneWindow();
  assert.ok(sessionCookie(await write(cookies, "203.0.113.1")));
  assert.ok(sessionCookie(await write(cookies, "203.0.113.2")));
  const over = await write(cookies, "203.0.113.3");
  assert.equal(over.status, 200);
  assert.equal(over.headers.getSetCookie().length, 0, "no cookie session");
  await write(cookies, "203.0.113.4");
  assert.equal(origin.last().headers["x-session-rate-limited"], "create");
  assert.equal(origin.last().headers["x-session-new"], "1");
});

test("a client cannot forge the rate-limit header", async () => {
  await open.fetch("/page", from("192.0.2.80", { "x-session-rate-limited": "create", "X_Session_Rate_Limited": "create" }));
  assert.equal(origin.last().headers["x-session-rate-limited"], undefined);
});

test("the self-service API over its limit gets 429 with Retry-After", async () => {
  await inOneWindow();
  const ask = () => limited.fetch("/__session/api/sessions", from("100.64.1.1", { "sec-fetch-site": "same-origin" }));
  for (let i = 0; i < 2; i++) assert.equal((await ask()).status, 401, "under the limit: no session");
  const res = await ask();
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "60");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(await res.json(), { error: "too many requests from your network: try again later", retry_after: 60 });
  assert.equal((await ask()).status, 429, "still over");
  const lines = limited.logs.filter((l) => l.includes('"event":"rate_limited"') && l.includes("100.64.1.0/24"));
  assert.equal(lines.length, 1, "one log line, not one per refused request");
});

test("the admin API over its limit gets 429, even with the token", async () => {
  await inOneWindow();
  const ask = () => limited.fetch("/__session/admin/api/stats", from("100.64.2.1", { authorization: `Bearer ${ADMIN_TOKEN}` }));
  for (let i = 0; i < 2; i++) assert.notEqual((await ask()).status, 429);
  const res = await ask();
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "60");
});

test("logout is limited: 429 with Retry-After over the limit", async () => {
  await inOneWindow();
  const logout = () => limited.fetch("/__session/logout", { method: "POST", ...from("100.64.3.1", { "sec-fetch-site": "same-origin" }) });
  assert.equal((await logout()).status, 204);
  const res = await logout();
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "60");
  assert.equal(res.headers.getSetCookie().length, 0);
});

test("a forged-cookie flood makes one aggregated session_cookie_rejected per network", async () => {
  await inOneWindow();
  await limited.rateLog();
  const forged = FORGED;
  const before = limited.logs.filter((l) => l.includes('"event":"cookie_rejected"')).length;
  for (let i = 0; i < 6; i++) {
    const res = await limited.fetch(`/flood/${i}`, from("100.64.4.9", { cookie: `session_id=${forged}` }));
    assert.equal(res.status, 200, "every request is still served");
  }
  const [row] = await limited.waitForSignal((r) => r.name === "session_cookie_rejected" && r.payload.kwargs.network === "100.64.4.0/24");
  await new Promise((r) => setTimeout(r, 1500)); // any straggler would have landed
  const rows = (await limited.signals()).filter((r) => r.name === "session_cookie_rejected");
  assert.equal(rows.length, 1, "one signal for six requests");
  assert.deepEqual(row.payload.kwargs, { reason: "bad_signature", count: 1, network: "100.64.4.0/24", requests: 1 });
  const lines = limited.logs.filter((l) => l.includes('"event":"cookie_rejected"')).length - before;
  assert.equal(lines, 1, "one log line too");
  const calls = (await limited.rateLog()).filter((c) => c.binding === "SESSION_COOKIE_REJECTED_LIMIT");
  assert.equal(calls.length, 1, "the isolate asks the binding once per 10 s at most");
});

test("a failing limiter lets everything through (fail open) and is logged", async () => {
  await limited.failRate(true);
  try {
    for (let i = 0; i < 4; i++) assert.ok(sessionCookie(await write(limited, "100.64.5.1")), "created");
    const api = await limited.fetch("/__session/api/sessions", from("100.64.5.1", { "sec-fetch-site": "same-origin" }));
    assert.equal(api.status, 401);
    assert.ok(limited.logs.some((l) => l.includes('"event":"rate_limit_failed"')));
  } finally {
    await limited.failRate(false);
  }
});

test("no binding: no limit, one signal per forged cookie as before, and health says so", async () => {
  const health = await (await open.health()).json();
  for (const name of Object.keys(LIMITS)) assert.match(health.rate_limits[name], /^off \(no binding\)/, name);
  for (let i = 0; i < 4; i++) assert.ok(sessionCookie(await write(open, "100.64.6.1")), "every creation");
  assert.equal(origin.last().headers["x-session-rate-limited"], undefined);
  for (let i = 0; i < 4; i++) {
    assert.equal((await open.fetch("/__session/api/sessions", from("100.64.6.1", { "sec-fetch-site": "same-origin" }))).status, 401);
  }
  const forged = FORGED;
  for (let i = 0; i < 3; i++) await open.fetch("/f", from("100.64.6.1", { cookie: `session_id=${forged}` }));
  await open.waitForSignal((r) => r.name === "session_cookie_rejected");
  await new Promise((r) => setTimeout(r, 1500));
  const rows = (await open.signals()).filter((r) => r.name === "session_cookie_rejected");
  assert.equal(rows.length, 3, "one per request");
  assert.deepEqual(rows[0].payload.kwargs, { reason: "bad_signature", count: 1 }, "the payload as before");
  assert.deepEqual(await open.rateLog(), []);
});

test("health lists each bound limit as on", async () => {
  const health = await (await limited.health()).json();
  for (const name of Object.keys(LIMITS)) assert.match(health.rate_limits[name], /^on: /, name);
  assert.equal(health.status, "ok");
  const bare = await (await limited.mf.dispatchFetch(`${BASE}/__session/health`)).json();
  assert.deepEqual(bare, { status: "ok" }, "the public answer stays bare");
});
