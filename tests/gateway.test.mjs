// The gateway end to end: built wasm in Miniflare, real local D1, real origin server.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { startOrigin, startGateway, sessionCookie, setCookieLine, dataSeen, signRef, openRef, SECRET } from "./support/harness.mjs";

let origin;
let gate;

before(async () => {
  origin = await startOrigin();
  gate = await startGateway(origin.url);
});
after(async () => {
  await gate?.dispose();
  await origin?.close();
});
beforeEach(async () => {
  origin.respond = () => ({ status: 200, body: "ok" });
  await gate.failD1("none");
  await gate.d1Log();
});

/** A response from the origin that carries session commands. */
const commands = (headers, body = "ok") => () => ({ status: 200, headers, body });

/** Creates a session holding `data` and returns its cookie value. */
async function newSession(data = { seed: 1 }) {
  const empty = Object.keys(data).length === 0;
  origin.respond = commands(empty ? { "x-session-action": "create" } : { "x-session-update": JSON.stringify(data) });
  const res = await gate.fetch("/start");
  const value = sessionCookie(res);
  assert.ok(value, "a cookie was set");
  origin.respond = () => ({ status: 200, body: "ok" });
  return value;
}

const withCookie = (value, extra = {}) => ({ headers: { cookie: `session_id=${value}`, ...extra } });
const idOf = (cookieValue) => cookieValue.split(".")[0];

test("a first request creates nothing until the origin writes", async () => {
  const res = await gate.fetch("/hello?x=1");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok");
  assert.equal(res.headers.getSetCookie().length, 0);
  assert.deepEqual(await gate.rows(), []);
  const rec = origin.last();
  assert.equal(rec.url, "/hello?x=1");
  assert.equal(rec.headers["x-session-new"], "1");
  assert.equal(rec.headers["x-session-store"], "d1");
  assert.equal(rec.headers["x-session-id"], undefined);
  assert.equal(rec.headers["x-session-user-id"], undefined);
  assert.deepEqual(dataSeen(rec), {});
  assert.equal(rec.headers["x-forwarded-host"], "gate.example");
});

test("an origin write creates the row and sets a hardened cookie", async () => {
  const before = (await gate.rows()).length;
  origin.respond = commands({ "x-session-update": '{"cart":["apple"]}' });
  const res = await gate.fetch("/add", { method: "POST", body: "x" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-session-update"), null, "command header removed");
  const line = setCookieLine(res);
  assert.match(line, /^session_id=[0-9a-f-]{36}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Max-Age=1800; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
  const id = idOf(sessionCookie(res));
  const rows = await gate.rows();
  assert.equal(rows.length, before + 1);
  const row = rows.find((r) => r.id === id);
  assert.deepEqual(JSON.parse(row.data), { cart: ["apple"] });
  assert.equal(row.user_id, null);
  assert.equal(row.expires_at - row.created_at, 1800);
  assert.equal(origin.last().body, "x", "request body streamed to the origin");
});

test("the next request carries the session to the origin, without the session cookie", async () => {
  const value = await newSession({ cart: ["pear"], n: 2 });
  const res = await gate.fetch("/cart", withCookie(value, { cookie: `theme=dark; session_id=${value}; lang=en` }));
  assert.equal(res.headers.getSetCookie().length, 0, "steady state sets no cookie");
  const rec = origin.last();
  assert.equal(rec.headers["x-session-id"], idOf(value));
  assert.equal(rec.headers["x-session-new"], "0");
  assert.deepEqual(dataSeen(rec), { cart: ["pear"], n: 2 });
  assert.match(rec.headers["x-session-expires-at"], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(rec.headers.cookie, "theme=dark; lang=en");
});

test("client-sent session headers never reach the origin, in any spelling", async () => {
  const spoofed = {
    "X-Session-User-Id": "admin",
    "X_Session_User_Id": "admin",
    "x-session-id": "00000000-0000-4000-8000-000000000000",
    "X-SESSION-DATA": Buffer.from('{"role":"admin"}').toString("base64url"),
    "x_session_new": "0",
    "X-Session-Store": "cookie",
    "X-Session-Whatever": "1",
  };
  await gate.fetch("/anon", { headers: spoofed });
  let rec = origin.last();
  for (const name of Object.keys(rec.headers)) {
    assert.ok(!/^x[-_]session[-_]/i.test(name) || ["x-session-new", "x-session-store", "x-session-data"].includes(name), `leaked ${name}`);
  }
  assert.equal(rec.headers["x-session-user-id"], undefined);
  assert.equal(rec.headers["x-session-id"], undefined);
  assert.deepEqual(dataSeen(rec), {});
  assert.equal(rec.headers["x-session-new"], "1");
  assert.equal(rec.headers["x-session-store"], "d1");

  const value = await newSession({ role: "user" });
  await gate.fetch("/known", withCookie(value, spoofed));
  rec = origin.last();
  assert.equal(rec.headers["x-session-user-id"], undefined, "anonymous session stays anonymous");
  assert.equal(rec.headers["x-session-id"], idOf(value));
  assert.deepEqual(dataSeen(rec), { role: "user" });
});

test("login cycles the id and kills the old cookie", async () => {
  const old = await newSession({ cart: ["fig"] });
  origin.respond = commands({ "x-session-user-id": "alice", location: "/" });
  const res = await gate.fetch("/login", withCookie(old, { method: "POST" }));
  const fresh = sessionCookie(res);
  assert.ok(fresh && idOf(fresh) !== idOf(old), "new id issued");
  assert.equal(res.headers.get("x-session-user-id"), null);
  origin.respond = () => ({ status: 200 });

  await gate.fetch("/me", withCookie(fresh));
  let rec = origin.last();
  assert.equal(rec.headers["x-session-user-id"], "alice");
  assert.equal(rec.headers["x-session-id"], idOf(fresh));
  assert.deepEqual(dataSeen(rec), { cart: ["fig"] }, "data survives login");

  const stale = await gate.fetch("/me", withCookie(old));
  rec = origin.last();
  assert.equal(rec.headers["x-session-new"], "1", "old cookie is dead");
  assert.equal(rec.headers["x-session-user-id"], undefined);
  assert.match(setCookieLine(stale), /^session_id=; Max-Age=0;/);
  const rows = await gate.rows();
  assert.ok(!rows.some((r) => r.id === idOf(old)));
  assert.equal(rows.find((r) => r.id === idOf(fresh)).user_id, "alice");
});

test("delete clears the cookie and the row", async () => {
  const value = await newSession();
  origin.respond = commands({ "x-session-action": "delete" });
  const res = await gate.fetch("/logout", withCookie(value, { method: "POST" }));
  assert.equal(setCookieLine(res), "session_id=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax");
  assert.equal(res.headers.get("x-session-action"), null);
  assert.ok(!(await gate.rows()).some((r) => r.id === idOf(value)));
  origin.respond = () => ({ status: 200 });
  await gate.fetch("/after", withCookie(value));
  assert.equal(origin.last().headers["x-session-new"], "1");
});

test("cycle keeps the data under a new id; clear empties it; create makes an empty session", async () => {
  const value = await newSession({ keep: true });
  origin.respond = commands({ "x-session-action": "cycle" });
  const cycled = sessionCookie(await gate.fetch("/cycle", withCookie(value)));
  assert.notEqual(idOf(cycled), idOf(value));
  origin.respond = commands({ "x-session-action": "clear", "x-session-update": '{"after":1}' });
  await gate.fetch("/clear", withCookie(cycled));
  const row = (await gate.rows()).find((r) => r.id === idOf(cycled));
  assert.deepEqual(JSON.parse(row.data), { after: 1 });

  origin.respond = commands({ "x-session-action": "create" });
  const created = sessionCookie(await gate.fetch("/create"));
  const made = (await gate.rows()).find((r) => r.id === idOf(created));
  assert.deepEqual(JSON.parse(made.data), {});
});

test("an expired row is treated as a fresh session", async () => {
  const value = await newSession({ old: true });
  await gate.db.prepare("UPDATE sessions SET expires_at = ?1 WHERE id = ?2").bind(Math.floor(Date.now() / 1000) - 1, idOf(value)).run();
  const res = await gate.fetch("/late", withCookie(value));
  const rec = origin.last();
  assert.equal(rec.headers["x-session-new"], "1");
  assert.equal(rec.headers["x-session-id"], undefined);
  assert.deepEqual(dataSeen(rec), {});
  assert.match(setCookieLine(res), /^session_id=; Max-Age=0;/);
});

test("tampered, forged and junk cookies start a fresh session, never a 500", async () => {
  const value = await newSession();
  await gate.d1Log();
  const flipped = value.slice(0, -2) + (value.at(-2) === "A" ? "B" : "A") + value.at(-1);
  const [, snap, mac] = value.split(".");
  const otherId = `${randomUUID()}.${snap}.${mac}`;
  for (const bad of [flipped, otherId, "garbage", "", "a.b.c", "%00%0d%0a", value + "x", signRef("another-secret-another-secret-12345", idOf(value))]) {
    const res = await gate.fetch("/t", withCookie(bad));
    assert.equal(res.status, 200, `cookie ${bad}`);
    assert.equal(origin.last().headers["x-session-new"], "1", `cookie ${bad}`);
    assert.equal(origin.last().headers["x-session-id"], undefined);
  }
  const log = await gate.d1Log();
  assert.deepEqual(log, [], "forged cookies never reach D1");
});

test("two concurrent requests patching different keys both survive", async () => {
  const value = await newSession({});
  let release;
  const gateOpen = new Promise((r) => (release = r));
  let arrived = 0;
  origin.respond = async (rec) => {
    arrived += 1;
    if (arrived === 2) release();
    await gateOpen; // both requests have loaded the session before either writes
    const key = rec.url === "/left" ? "left" : "right";
    return { status: 200, headers: { "x-session-update": JSON.stringify({ [key]: key }) } };
  };
  await Promise.all([gate.fetch("/left", withCookie(value)), gate.fetch("/right", withCookie(value))]);
  const row = (await gate.rows()).find((r) => r.id === idOf(value));
  assert.deepEqual(JSON.parse(row.data), { left: "left", right: "right" });
});

test("a steady-state request costs exactly one D1 read and no write", async () => {
  const value = await newSession({ n: 1 });
  await gate.d1Log();
  const res = await gate.fetch("/steady", withCookie(value));
  assert.equal(res.status, 200);
  const log = await gate.d1Log();
  assert.equal(log.length, 1, JSON.stringify(log));
  assert.equal(log[0].write, false);
  assert.match(log[0].sql, /^SELECT .* FROM sessions WHERE id = \?1$/);
});

test("renewal writes once the throttle allows it and re-sends the cookie", async () => {
  const value = await newSession({ n: 1 });
  // As if the last renewal was two minutes ago (> SESSION_RENEW_AFTER_SECONDS = 60).
  await gate.db.prepare("UPDATE sessions SET expires_at = expires_at - 120 WHERE id = ?1").bind(idOf(value)).run();
  const before = (await gate.rows()).find((r) => r.id === idOf(value)).expires_at;
  await gate.d1Log();
  const res = await gate.fetch("/renew", withCookie(value));
  assert.match(setCookieLine(res), new RegExp(`^session_id=${idOf(value)}\\.[^;]+; Max-Age=1800;`));
  assert.ok(openRef(sessionCookie(res), SECRET).snapshot.t >= openRef(value, SECRET).snapshot.t, "a fresh snapshot");
  const log = await gate.d1Log();
  assert.deepEqual(log.map((e) => e.write), [false, true]);
  const after = (await gate.rows()).find((r) => r.id === idOf(value)).expires_at;
  assert.ok(after >= before + 120, `${before} -> ${after}`);
});

test("a cookie signed with a fallback key is accepted and re-issued under the current key", async () => {
  const OLD = "old-secret-old-secret-old-secret-old!";
  const rotated = await startGateway(origin.url, { SESSION_SECRET: SECRET, SESSION_SECRET_FALLBACKS: `${OLD}` });
  try {
    const id = randomUUID();
    const now = Math.floor(Date.now() / 1000);
    await rotated.db
      .prepare("INSERT INTO sessions (id, user_id, data, created_at, expires_at, absolute_expires_at, updated_at, version) VALUES (?1, 'zoe', '{}', ?2, ?3, NULL, ?2, 1)")
      .bind(id, now, now + 1800)
      .run();
    const res = await rotated.fetch("/rotate", withCookie(signRef(OLD, id)));
    assert.equal(origin.last().headers["x-session-user-id"], "zoe");
    const reissued = sessionCookie(res);
    assert.equal(openRef(reissued, SECRET)?.id, id, "re-issued under the current key");
    assert.equal(openRef(reissued, SECRET).snapshot.u, "zoe", "the snapshot names the user");
    assert.equal(openRef(reissued, OLD), null);
    const again = await rotated.fetch("/rotate", withCookie(signRef(SECRET, id)));
    assert.equal(again.headers.getSetCookie().length, 0);
    // Without the fallback configured, the old cookie is just a bad cookie.
    await gate.fetch("/rotate", withCookie(signRef(OLD, id)));
    assert.equal(origin.last().headers["x-session-new"], "1");
  } finally {
    await rotated.dispose();
  }
});

test("a malformed command is ignored and never reaches the client", async () => {
  const value = await newSession({ a: 1 });
  origin.respond = commands({ "x-session-update": "{broken", "x-session-action": "explode" }, "body");
  const res = await gate.fetch("/bad", withCookie(value));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "body");
  assert.equal(res.headers.get("x-session-update"), null);
  assert.equal(res.headers.get("x-session-action"), null);
  const row = (await gate.rows()).find((r) => r.id === idOf(value));
  assert.deepEqual(JSON.parse(row.data), { a: 1 });
});

test("a D1 failure on read with a snapshot past the fallback window answers without identity", async () => {
  const value = await newSession({ a: 1 });
  // The same session, its cookie issued 16 minutes ago (the window is 15).
  const stale = signRef(SECRET, idOf(value), { t: Math.floor(Date.now() / 1000) - 960 });
  await gate.failD1("all");
  origin.respond = commands({ "x-session-update": '{"lost":true}' });
  const res = await gate.fetch("/down", withCookie(stale));
  assert.equal(res.status, 200);
  const rec = origin.last();
  assert.equal(rec.headers["x-session-store"], "unavailable");
  assert.equal(rec.headers["x-session-id"], undefined);
  assert.equal(res.headers.getSetCookie().length, 0, "the live cookie is kept");
  await gate.failD1("none");
  const row = (await gate.rows()).find((r) => r.id === idOf(value));
  assert.deepEqual(JSON.parse(row.data), { a: 1 }, "no blind write during the outage");
});

test("a D1 failure on write still delivers the response; the write waits in the pending cookie", async () => {
  const value = await newSession({ a: 1 });
  await gate.failD1("write");
  origin.respond = commands({ "x-session-user-id": "mallory" }, "page");
  const res = await gate.fetch("/login", withCookie(value));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "page");
  const pending = sessionCookie(res, "session_id-pending");
  const cycled = sessionCookie(res);
  assert.match(pending, /^p1\./);
  assert.notEqual(idOf(cycled), idOf(value), "login still cycles the id");
  assert.equal((await gate.rows()).find((r) => r.id === idOf(value)).user_id, null, "D1 unchanged meanwhile");
  await gate.failD1("none");
  origin.respond = () => ({ status: 200 });
  const after = await gate.fetch("/next", { headers: { cookie: `session_id=${cycled}; session_id-pending=${pending}` } });
  assert.equal(origin.last().headers["x-session-user-id"], "mallory");
  assert.match(after.headers.getSetCookie().join("\n"), /^session_id-pending=; Max-Age=0;/m);
  const rows = await gate.rows();
  assert.equal(rows.find((r) => r.id === idOf(value)), undefined);
  assert.equal(rows.find((r) => r.id === idOf(cycled)).user_id, "mallory");
});

test("an unreachable origin gives 502 and writes nothing", async () => {
  const dead = await startGateway("http://127.0.0.1:9");
  try {
    const res = await dead.fetch("/x");
    assert.equal(res.status, 502);
    assert.match(await res.text(), /origin unreachable/);
    assert.deepEqual(await dead.rows(), []);
  } finally {
    await dead.dispose();
  }
});

test("health reports config and D1; every bad setting is named at once and blocks proxying", async () => {
  const ok = await gate.health();
  assert.equal(ok.status, 200);
  const body = await ok.json();
  assert.equal(body.status, "ok");
  assert.equal(body.d1, "ok");
  assert.equal(body.queue, "ok");
  assert.equal(body.mode, "proxy");
  assert.equal(body.settings.SESSION_SECRET, "set");
  assert.equal(body.settings.SESSION_TIMEOUT_MINUTES, 30);

  const broken = await startGateway(origin.url, { SESSION_SECRET: "hunter2hunter2", SESSION_STORE: "redis" });
  try {
    const res = await broken.health();
    assert.equal(res.status, 503);
    const j = await res.json();
    assert.deepEqual(j.config.map((p) => p.setting), ["SESSION_STORE", "SESSION_SECRET"]);
    assert.equal(j.config[1].problem, "key is too short: expected >= 32 bytes, got 14");
    assert.ok(!JSON.stringify(j).includes("hunter2"), "secret not echoed");
    const proxied = await broken.fetch("/anything");
    assert.equal(proxied.status, 500);
    assert.match(await proxied.text(), /misconfigured/);
  } finally {
    await broken.dispose();
  }
});

test("health names missing migrations with the command that applies them; the origin's reachability is reported", async () => {
  const stale = await startGateway("http://127.0.0.1:9");
  try {
    await stale.db.prepare("DROP TABLE user_revocations").run();
    const res = await stale.health();
    assert.equal(res.status, 503);
    const j = await res.json();
    assert.match(j.d1.error, /no such table: user_revocations/);
    assert.match(j.d1.hint, /wrangler d1 migrations apply SESSIONS_DB/);
    assert.equal(j.origin.reachable, false, "nothing listens on port 9");
    assert.equal(j.origin.url, "http://127.0.0.1:9");
  } finally {
    await stale.dispose();
  }
});

test("route mode under local dev says what to set instead of looping", async () => {
  const route = await startGateway(undefined, { ORIGIN_URL: null });
  try {
    const res = await route.mf.dispatchFetch("http://127.0.0.1:8787/page");
    assert.equal(res.status, 502);
    const text = await res.text();
    assert.match(text, /ORIGIN_URL is not set/);
    assert.match(text, /npm run dev -- --origin/);
    const health = await (await route.mf.dispatchFetch("http://127.0.0.1:8787/__session/health")).json();
    assert.equal(health.mode, "route");
    assert.match(health.origin, /route mode/);
  } finally {
    await route.dispose();
  }
});
