// Per-session lifetimes (X-Session-Lifetime), end to end in Miniflare with real D1 and in
// the cookie store: a browser-session cookie has no Max-Age and still expires
// server-side; remember-me outlives the default and stops at its absolute cap; a custom
// lifetime runs by its own idle timeout. Passing time is written into the row, as the
// clock would have moved it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startGateway, sessionCookie, setCookieLine, openRef, openFull, now, SECRET } from "./support/harness.mjs";

// Default idle 30 min, absolute 7 days; remember 1 day within bounds of 2 and 30 days.
const BOUNDS = { SESSION_REMEMBER_MINUTES: "1440", SESSION_MAX_IDLE_MINUTES: "2880", SESSION_MAX_ABSOLUTE_MINUTES: "43200" };
const DAY = 86_400;

let origin;
let d1;
let cookies;

before(async () => {
  origin = await startOrigin();
  d1 = await startGateway(origin.url, BOUNDS);
  cookies = await startGateway(origin.url, { ...BOUNDS, SESSION_STORE: "cookie" }, { d1: false });
});
after(async () => {
  await d1?.dispose();
  await cookies?.dispose();
  await origin?.close();
});

const as = (value) => ({ cookie: `session_id=${value}` });
const maxAge = (line) => {
  const m = /;\s*Max-Age=(\d+)/i.exec(line);
  return m ? Number(m[1]) : null;
};

/** Logs `user` in on `gate` with `lifetime`: the response. */
async function loginWith(gate, user, lifetime) {
  origin.respond = () => ({ status: 200, headers: { "x-session-user-id": user, "x-session-lifetime": lifetime } });
  try {
    return await gate.fetch("/login");
  } finally {
    origin.respond = () => ({ status: 200 });
  }
}

/** What the origin saw on a request with `value`'s cookie: [user, lifetime]. */
async function seen(gate, value) {
  const res = await gate.fetch("/whoami", { headers: as(value) });
  const h = origin.last().headers;
  return { user: h["x-session-user-id"], lifetime: h["x-session-lifetime"], res };
}

const rowOf = async (value) => {
  const id = openRef(value, SECRET).id;
  return d1.db.prepare("SELECT * FROM sessions WHERE id = ?").bind(id).first();
};

test("D1: a browser-session cookie has no Max-Age and still expires server-side", async () => {
  const res = await loginWith(d1, "ann", "browser");
  const line = setCookieLine(res);
  assert.match(line, /^session_id=/);
  assert.equal(maxAge(line), null, line);
  const v = sessionCookie(res);
  const row = await rowOf(v);
  assert.equal(row.lifetime, "browser");
  assert.ok(Math.abs(row.expires_at - (now() + 1800)) <= 2, "the default idle timeout");
  assert.deepEqual((({ user, lifetime }) => ({ user, lifetime }))(await seen(d1, v)), { user: "ann", lifetime: "browser" });
  // The idle timeout passes: the browser still sends the cookie, the session is over.
  await d1.db.prepare("UPDATE sessions SET expires_at = ? WHERE id = ?").bind(now() - 1, row.id).run();
  const after = await seen(d1, v);
  assert.equal(after.user, undefined);
  assert.equal(sessionCookie(after.res), "", "the dead cookie is cleared");
});

test("D1: remember-me outlives the default and stops at its absolute cap", async () => {
  const res = await loginWith(d1, "bob", "remember");
  assert.equal(maxAge(setCookieLine(res)), DAY, "a day, not the default 30 minutes");
  const v = sessionCookie(res);
  const row = await rowOf(v);
  assert.equal(row.lifetime, "remember");
  assert.ok(Math.abs(row.expires_at - (now() + DAY)) <= 2);
  assert.ok(Math.abs(row.absolute_expires_at - (now() + 30 * DAY)) <= 2, "SESSION_MAX_ABSOLUTE_MINUTES");
  assert.equal((await seen(d1, v)).user, "bob");
  // Its absolute cap is reached: over, however recent the last visit.
  await d1.db.prepare("UPDATE sessions SET absolute_expires_at = ? WHERE id = ?").bind(now() - 1, row.id).run();
  assert.equal((await seen(d1, v)).user, undefined);
});

test("D1: a custom lifetime runs by its own timeouts, at least a minute idle", async () => {
  const res = await loginWith(d1, "cy", "600,3600");
  assert.equal(maxAge(setCookieLine(res)), 600);
  const v = sessionCookie(res);
  const row = await rowOf(v);
  assert.ok(Math.abs(row.expires_at - (now() + 600)) <= 2 && Math.abs(row.absolute_expires_at - (now() + 3600)) <= 2);
  const first = await seen(d1, v);
  assert.deepEqual([first.user, first.lifetime], ["cy", "600,3600"]);
  await d1.db.prepare("UPDATE sessions SET expires_at = ? WHERE id = ?").bind(now() - 1, row.id).run();
  assert.equal((await seen(d1, v)).user, undefined, "idle past its own 10 minutes");
  // Shorter than a minute is a minute: a renewal write on every request is not on offer.
  assert.equal(maxAge(setCookieLine(await loginWith(d1, "dot", "2"))), 60);
});

test("D1: the steady state of a remembered session is one read and no write", async () => {
  const v = sessionCookie(await loginWith(d1, "dee", "remember"));
  await d1.d1Log();
  await d1.fetch("/page", { headers: as(v) });
  assert.deepEqual((await d1.d1Log()).map((s) => s.write), [false]);
});

test("cookie store: the lifetime travels under the cookie's MAC", async () => {
  const browser = await loginWith(cookies, "ann", "browser");
  assert.equal(maxAge(setCookieLine(browser)), null);
  const bv = sessionCookie(browser);
  assert.equal(openFull(bv).l, "browser");
  assert.equal((await seen(cookies, bv)).lifetime, "browser");
  const remember = await loginWith(cookies, "bob", "remember");
  assert.equal(maxAge(setCookieLine(remember)), DAY);
  const payload = openFull(sessionCookie(remember));
  assert.equal(payload.l, "remember");
  assert.ok(Math.abs(payload.a - (now() + 30 * DAY)) <= 2, "its absolute cap");
  const short = await loginWith(cookies, "cy", "120");
  assert.equal(maxAge(setCookieLine(short)), 120);
  const sp = openFull(sessionCookie(short));
  assert.equal(sp.l, "120");
  assert.ok(Math.abs(sp.e - (now() + 120)) <= 2, "its own idle expiry, under the MAC");
  assert.equal((await seen(cookies, sessionCookie(short))).user, "cy");
});
