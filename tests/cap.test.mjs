// The cap on sessions per user (SESSION_MAX_PER_USER), end to end in Miniflare with real
// D1: evict_oldest deletes exactly the oldest at login, in the login's own D1 batch, and
// signals it `evicted`; reject
// leaves the old sessions alone and performs no login; the cookie store refuses the
// setting.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startGateway, sessionCookie, openRef, SECRET } from "./support/harness.mjs";

let origin;
let evicting;
let rejecting;

before(async () => {
  origin = await startOrigin();
  evicting = await startGateway(origin.url, { SESSION_MAX_PER_USER: "2" });
  rejecting = await startGateway(origin.url, { SESSION_MAX_PER_USER: "2", SESSION_LIMIT_STRATEGY: "reject" });
});
after(async () => {
  await evicting?.dispose();
  await rejecting?.dispose();
  await origin?.close();
});

const as = (value) => ({ cookie: `session_id=${value}` });
const idOf = (value) => openRef(value, SECRET).id;

/** Logs `user` in on `gate` (on the session of `cookie`, if any): the response. */
async function login(gate, user, cookie = null) {
  origin.respond = () => ({ status: 200, headers: { "x-session-user-id": user } });
  try {
    return await gate.fetch("/login", { headers: cookie ? as(cookie) : {} });
  } finally {
    origin.respond = () => ({ status: 200 });
  }
}

/** The user the origin saw on a request with `value`'s cookie. */
async function userSeen(gate, value) {
  await gate.fetch("/whoami", { headers: as(value) });
  return origin.last().headers["x-session-user-id"];
}

test("evict_oldest: a third login deletes exactly the oldest and signals it evicted", async () => {
  const first = sessionCookie(await login(evicting, "ann"));
  const bob = sessionCookie(await login(evicting, "bob"));
  const second = sessionCookie(await login(evicting, "ann"));
  const third = sessionCookie(await login(evicting, "ann"));
  const ids = (await evicting.rows()).map((r) => r.id);
  assert.ok(!ids.includes(idOf(first)), "the oldest is gone");
  for (const kept of [second, third, bob]) assert.ok(ids.includes(idOf(kept)));
  const [row] = await evicting.waitForSignal((r) => r.name === "session_deleted" && r.payload.kwargs.reason === "evicted");
  assert.equal(row.session_id, idOf(first));
  assert.equal((await evicting.signals()).filter((r) => r.payload.kwargs?.reason === "evicted").length, 1, "exactly one");
  assert.equal(await userSeen(evicting, first), undefined, "the evicted browser is anonymous");
  assert.equal(await userSeen(evicting, third), "ann");
  assert.equal(await userSeen(evicting, bob), "bob", "other users untouched");
});

test("evict_oldest: the login's write and the eviction are one D1 batch", async () => {
  const first = sessionCookie(await login(evicting, "eve"));
  origin.respond = () => ({ status: 200, headers: { "x-session-update": '{"cart":[1]}' } });
  const visitor = sessionCookie(await evicting.fetch("/cart"));
  origin.respond = () => ({ status: 200 });
  sessionCookie(await login(evicting, "eve"));
  await evicting.d1Log();
  await login(evicting, "eve", visitor);
  const log = await evicting.d1Log();
  const writes = log.filter((s) => s.write);
  assert.equal(writes.length, 2, JSON.stringify(log));
  assert.match(writes[0].sql, /^UPDATE sessions/);
  assert.match(writes[1].sql, /^DELETE FROM sessions/);
  assert.ok(writes[0].batch && writes[0].batch === writes[1].batch, "one batch: one transaction, one round trip");
  assert.ok(!(await evicting.rows()).some((r) => r.id === idOf(first)), "the oldest is gone");
});

test("evict_oldest: the steady state is still one D1 read and no write", async () => {
  const v = sessionCookie(await login(evicting, "steady"));
  await evicting.d1Log();
  await evicting.fetch("/page", { headers: as(v) });
  assert.deepEqual((await evicting.d1Log()).map((s) => s.write), [false]);
});

test("reject: a login beyond the cap is not performed and the old sessions are left alone", async () => {
  const a = sessionCookie(await login(rejecting, "ann"));
  const b = sessionCookie(await login(rejecting, "ann"));
  // A visitor with a session of its own, then the refused login on it.
  origin.respond = () => ({ status: 200, headers: { "x-session-update": '{"cart":[1]}' } });
  const visitor = sessionCookie(await rejecting.fetch("/cart"));
  origin.respond = () => ({ status: 200 });
  const before = await rejecting.rows();
  const res = await login(rejecting, "ann", visitor);
  assert.equal(res.status, 200, "the origin's answer goes through");
  assert.equal(sessionCookie(res), null, "no new cookie: nothing was written for the login");
  assert.deepEqual(await rejecting.rows(), before, "nothing changed in D1");
  assert.equal(await userSeen(rejecting, visitor), undefined, "still anonymous");
  assert.equal(await userSeen(rejecting, a), "ann");
  assert.equal(await userSeen(rejecting, b), "ann");
  const [row] = await rejecting.waitForSignal((r) => r.name === "session_data_save_failed" && r.payload.kwargs.reason === "limit_reached");
  assert.equal(row.session_id, idOf(visitor));
  assert.ok(rejecting.logs.some((l) => l.includes("session_login_refused")));
  // A login without a session writes nothing either.
  const fresh = await login(rejecting, "ann");
  assert.equal(sessionCookie(fresh), null);
  assert.equal((await rejecting.rows()).filter((r) => r.user_id === "ann").length, 2);
});

test("the cookie store refuses SESSION_MAX_PER_USER at configuration", async () => {
  const gate = await startGateway(origin.url, { SESSION_STORE: "cookie", SESSION_MAX_PER_USER: "2" }, { d1: false });
  try {
    const res = await gate.health();
    assert.equal(res.status, 503);
    const j = await res.json();
    assert.deepEqual(j.config.map((p) => p.setting), ["SESSION_MAX_PER_USER"]);
    assert.match(j.config[0].problem, /SESSION_STORE=cookie/);
  } finally {
    await gate.dispose();
  }
});
