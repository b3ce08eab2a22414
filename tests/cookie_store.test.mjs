// The cookie store end to end (SESSION_STORE=cookie): the whole session travels in a
// signed cookie; D1 holds no session rows (it only keeps the signal audit log here).
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { startOrigin, startGateway, sessionCookie, setCookieLine, dataSeen, openFull, SECRET } from "./support/harness.mjs";

const OLD = "old-secret-old-secret-old-secret-old!";
let origin;
let gate;

before(async () => {
  origin = await startOrigin();
  gate = await startGateway(origin.url, { SESSION_STORE: "cookie", SESSION_SECRET_FALLBACKS: OLD });
});
after(async () => {
  await gate?.dispose();
  await origin?.close();
});
beforeEach(() => {
  origin.respond = () => ({ status: 200, body: "ok" });
});

const cookieKey = (secret) => createHmac("sha256", secret).update("sessiongate/v1/cookie").digest();

/** A full-session cookie in the signed-only format of earlier versions (still read). */
function signFull(secret, payload, name = "session_id") {
  const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
  const mac = createHmac("sha256", cookieKey(secret)).update(`sessiongate-full-v1\0${name}\0s1\0${body}`).digest("base64url");
  return `s1.${body}.${mac}`;
}

async function send(path, { cookie, respond, method = "GET" } = {}) {
  if (respond) origin.respond = () => ({ status: 200, headers: respond, body: "ok" });
  const res = await gate.fetch(path, { method, headers: cookie ? { cookie: `session_id=${cookie}` } : {} });
  assert.equal(res.status, 200);
  origin.respond = () => ({ status: 200, body: "ok" });
  return res;
}

const now = () => Math.floor(Date.now() / 1000);

test("login, data round trip, cycle and logout, with no session rows in D1", async () => {
  let res = await send("/login", { respond: { "x-session-user-id": "alice", "x-session-update": '{"cart":["apple"]}' } });
  const first = sessionCookie(res);
  assert.match(setCookieLine(res), /^session_id=e1z?\.[A-Za-z0-9_-]+; Max-Age=1800; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
  const payload = openFull(first);
  assert.equal(payload.u, "alice");
  assert.deepEqual(payload.d, { cart: ["apple"] });
  assert.equal(payload.e - payload.c, 1800, "idle expiry inside the MAC");
  assert.equal(payload.a - payload.c, 10080 * 60, "absolute expiry inside the MAC");

  res = await send("/cart", { cookie: first });
  let rec = origin.last();
  assert.equal(rec.headers["x-session-store"], "cookie");
  assert.equal(rec.headers["x-session-user-id"], "alice");
  assert.equal(rec.headers["x-session-id"], payload.id);
  assert.deepEqual(dataSeen(rec), { cart: ["apple"] });
  assert.equal(rec.headers.cookie, undefined, "the session cookie is not forwarded");
  assert.equal(res.headers.getSetCookie().length, 0, "no write, no cookie");

  res = await send("/add", { cookie: first, respond: { "x-session-update": '{"cart":["apple","pear"]}' } });
  const second = sessionCookie(res);
  assert.deepEqual(openFull(second).d, { cart: ["apple", "pear"] }, "every write re-sends the cookie");

  res = await send("/cycle", { cookie: second, respond: { "x-session-action": "cycle" } });
  const cycled = openFull(sessionCookie(res));
  assert.notEqual(cycled.id, payload.id);
  assert.deepEqual(cycled.d, { cart: ["apple", "pear"] });

  res = await send("/logout", { cookie: sessionCookie(res), respond: { "x-session-action": "delete" } });
  assert.equal(setCookieLine(res), "session_id=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax");
  assert.deepEqual(await gate.rows(), [], "the cookie store writes no session rows");
});

test("a tampered cookie starts a fresh session, is cleared, and is signalled", async () => {
  const res0 = await send("/x", { respond: { "x-session-update": '{"a":1}' } });
  const value = sessionCookie(res0);
  const parts = value.split(".");
  const flip = (s) => (s[5] === "A" ? s.slice(0, 5) + "B" + s.slice(6) : s.slice(0, 5) + "A" + s.slice(6));
  for (const bad of [`${parts[0]}.${flip(parts[1])}`, `e1z.${parts[1]}`, `e1.${parts[1]}`, value.slice(0, -3), "s1.e30.xx", "junk"].filter((b) => b !== value)) {
    const res = await send("/t", { cookie: bad });
    assert.equal(origin.last().headers["x-session-new"], "1", bad);
    assert.match(setCookieLine(res), /^session_id=; Max-Age=0;/);
  }
  await gate.waitForSignal((r) => r.name === "session_cookie_rejected");
});

test("an expired cookie is a fresh session, even with a valid MAC", async () => {
  const t = now();
  const id = randomUUID();
  const stale = signFull(SECRET, { id, u: "bob", d: { a: 1 }, c: t - 4000, e: t - 1, a: null, v: 1 });
  let res = await send("/late", { cookie: stale });
  assert.equal(origin.last().headers["x-session-new"], "1");
  assert.match(setCookieLine(res), /^session_id=; Max-Age=0;/);
  await gate.waitForSignal((r) => r.name === "session_expired" && r.session_id === id);
  // Past the absolute cap while the idle expiry is still ahead.
  const capped = signFull(SECRET, { id: randomUUID(), u: "bob", d: {}, c: t - 4000, e: t + 600, a: t - 1, v: 1 });
  res = await send("/late", { cookie: capped });
  assert.equal(origin.last().headers["x-session-new"], "1");
  // Just before its expiry it is still valid.
  const t2 = now();
  const fresh = signFull(SECRET, { id, u: "bob", d: { a: 1 }, c: t2 - 100, e: t2 + 2, a: null, v: 1 });
  await send("/ok", { cookie: fresh });
  assert.equal(origin.last().headers["x-session-user-id"], "bob");
});

test("a cookie signed with a fallback key is accepted and re-issued under the current key", async () => {
  const t = now();
  const id = randomUUID();
  const old = signFull(OLD, { id, u: "carol", d: { k: "v" }, c: t - 10, e: t + 1790, a: null, v: 1 });
  const res = await send("/rotate", { cookie: old });
  assert.equal(origin.last().headers["x-session-user-id"], "carol");
  const reissued = sessionCookie(res);
  assert.ok(reissued, "re-issued");
  const payload = openFull(reissued, SECRET);
  assert.ok(payload, "verifies under the current key");
  assert.equal(openFull(reissued, OLD), null, "not under the old one");
  assert.deepEqual([payload.id, payload.u, payload.d], [id, "carol", { k: "v" }]);
});

test("an oversize session is refused loudly and the old cookie stays", async () => {
  const res0 = await send("/x", { respond: { "x-session-update": '{"small":true}' } });
  const value = sessionCookie(res0);
  const huge = randomBytes(4000).toString("base64url"); // incompressible
  const res = await send("/big", { cookie: value, respond: { "x-session-update": JSON.stringify({ blob: huge }) } });
  assert.equal(res.headers.getSetCookie().length, 0, "no Set-Cookie: the browser keeps the old cookie");
  await send("/after", { cookie: value });
  assert.deepEqual(dataSeen(origin.last()), { small: true });
  const [failed] = await gate.waitForSignal((r) => r.name === "session_data_save_failed" && r.payload.kwargs.reason === "cookie_too_large");
  assert.match(failed.payload.kwargs.exception.message, /session is too large: \d+ bytes, the limit is 4096/);
  assert.ok(gate.logs.some((l) => /session_save_failed/.test(l) && /\d+ bytes, the limit is 4096/.test(l)), "the log says how many bytes");
});

test("without a D1 binding only SESSION_STORE=cookie serves: no silent switch", async () => {
  const bare = await startGateway(origin.url, { SESSION_STORE: "cookie" }, { d1: false, queue: false });
  try {
    origin.respond = () => ({ status: 200, headers: { "x-session-update": '{"n":1}' } });
    const res = await bare.fetch("/x");
    const value = sessionCookie(res);
    assert.deepEqual(openFull(value).d, { n: 1 });
    origin.respond = () => ({ status: 200 });
    await bare.fetch("/y", { headers: { cookie: `session_id=${value}` } });
    assert.equal(origin.last().headers["x-session-store"], "cookie");
    assert.deepEqual(dataSeen(origin.last()), { n: 1 });
    const health = await (await bare.health()).json();
    assert.equal(health.status, "ok");
    assert.equal(health.store, "cookie");
  } finally {
    await bare.dispose();
  }
  const unbound = await startGateway(origin.url, {}, { d1: false, queue: false });
  try {
    const seen = origin.seen.length;
    const res = await unbound.fetch("/x");
    assert.equal(res.status, 500);
    assert.match(await res.text(), /SESSIONS_DB binding is missing/);
    assert.equal(origin.seen.length, seen, "nothing proxied without its sessions");
    const health = await unbound.health();
    assert.equal(health.status, 503);
    assert.match((await health.json()).d1, /SESSIONS_DB binding is missing/);
  } finally {
    await unbound.dispose();
  }
});

test("the client cannot read cookie-store data; a signed-only cookie from before keeps working and comes back encrypted on first use", async () => {
  const res = await send("/secret", { respond: { "x-session-update": '{"role":"admin","mfa":"123456"}', "x-session-user-id": "reader" } });
  const value = sessionCookie(res);
  for (const part of value.split(".")) {
    const text = Buffer.from(part, "base64url").toString("latin1");
    for (const secret of ["admin", "123456", "reader"]) assert.ok(!text.includes(secret) && !value.includes(secret), `${secret} readable`);
  }
  assert.deepEqual(openFull(value).d, { role: "admin", mfa: "123456" }, "it opens with the key");
  const t = now();
  const legacy = signFull(SECRET, { id: randomUUID(), u: "old", d: { kept: 1 }, c: t - 10, e: t + 1790, a: null, v: 1 });
  const next = await send("/upgrade", { cookie: legacy, respond: { "x-session-update": '{"more":2}' } });
  assert.equal(origin.last().headers["x-session-user-id"], "old", "the old format is still read");
  const upgraded = sessionCookie(next);
  assert.match(upgraded, /^e1z?\./);
  assert.deepEqual(openFull(upgraded).d, { kept: 1, more: 2 });
  // A read alone re-issues it encrypted too: a readable cookie does not linger.
  const reader = signFull(SECRET, { id: randomUUID(), u: "old", d: { kept: 1 }, c: t - 10, e: t + 1790, a: null, v: 1 });
  const read = sessionCookie(await send("/read", { cookie: reader }));
  assert.match(read, /^e1z?\./);
  assert.deepEqual(openFull(read).d, { kept: 1 });
});

test("revoke-user ends every cookie-store session of the user (a per-user time in D1)", async () => {
  const phone = sessionCookie(await send("/login", { respond: { "x-session-user-id": "everyone" } }));
  const laptop = sessionCookie(await send("/login", { respond: { "x-session-user-id": "everyone" } }));
  await send("/out", { cookie: phone, respond: { "x-session-action": "revoke-user" } });
  const [row] = (await gate.db.prepare("SELECT * FROM user_revocations WHERE user_id = 'everyone'").all()).results;
  assert.ok(row, "the time is kept in D1 for every isolate");
  const res = await send("/still", { cookie: laptop });
  assert.equal(origin.last().headers["x-session-user-id"], undefined, "the laptop is logged out too");
  assert.equal(origin.last().headers["x-session-new"], "1");
  assert.match(setCookieLine(res), /^session_id=; Max-Age=0;/);
  // Times are whole seconds: a cookie issued in the revocation's second is refused too.
  await new Promise((r) => setTimeout(r, 1100));
  const again = sessionCookie(await send("/login", { respond: { "x-session-user-id": "everyone" } }));
  await send("/back", { cookie: again });
  assert.equal(origin.last().headers["x-session-user-id"], "everyone", "a new login works");
});
