// Sessions people can see and end, end to end in Miniflare with real D1: the context
// each session records, the admin API behind SESSION_ADMIN_TOKEN, its paging, revokes,
// signals and counts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startGateway, sessionCookie, openRef, ADMIN_TOKEN, SECRET } from "./support/harness.mjs";

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

const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
const SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile/15E148 Safari/604.1";

/** A browser logged in as `user` from `ua` at `cf`'s place: its session cookie value. */
async function login(user, { ua = FIREFOX, ip = "203.0.113.77", cf = { country: "PT", city: "Lisbon", colo: "LIS", asn: 3243 } } = {}) {
  origin.respond = () => ({ status: 200, headers: { "x-session-user-id": user } });
  const res = await gate.fetch("/login", { headers: { "user-agent": ua, "cf-connecting-ip": ip }, cf });
  origin.respond = () => ({ status: 200 });
  return sessionCookie(res);
}

const as = (value) => ({ cookie: `session_id=${value}` });
const admin = (path, init = {}, token = ADMIN_TOKEN) =>
  gate.fetch(`/__session/admin/api${path}`, {
    ...init,
    headers: { ...(token && { authorization: `Bearer ${token}` }), ...init.headers },
  });
const json = async (res) => {
  assert.ok(res.ok, `${res.status} ${await res.clone().text()}`);
  return res.json();
};
/** The user the origin saw on a request with `value`'s cookie. */
async function userSeen(value) {
  await gate.fetch("/whoami", { headers: as(value) });
  return origin.last().headers["x-session-user-id"];
}

test("two browsers of one user are listed with their context, the current one marked", async () => {
  const laptop = await login("ann", { ua: FIREFOX, ip: "203.0.113.77" });
  const phone = await login("ann", { ua: SAFARI, ip: "2001:db8:abcd:12::1", cf: { country: "DE", city: "Berlin", colo: "TXL", asn: 3320 } });
  const { sessions } = await json(await gate.fetch("/__session/api/sessions", { headers: { ...as(laptop), "sec-fetch-site": "same-origin" } }));
  assert.equal(sessions.length, 2);
  const [newest, oldest] = sessions;
  assert.equal(newest.current, false);
  assert.equal(oldest.current, true);
  assert.equal(newest.user_agent, SAFARI);
  assert.deepEqual([newest.country, newest.city, newest.colo, newest.asn], ["DE", "Berlin", "TXL", 3320]);
  assert.equal(newest.network, "2001:db8:abcd::/48", "an IPv6 client only as its /48");
  assert.equal(oldest.network, "203.0.113.0/24", "an IPv4 client only as its /24");
  assert.match(oldest.authenticated_at, /Z$/, "when the user logged in");
  const text = JSON.stringify(sessions);
  assert.ok(!text.includes("203.0.113.77") && !text.includes("abcd:12::1"), "never the address");
  const rows = await gate.rows();
  assert.ok(rows.filter((r) => r.user_id === "ann").every((r) => !r.context.includes("203.0.113.77")), "not in D1 either");
  assert.equal(await userSeen(phone), "ann");
});

test("the steady state is still one D1 read and no write, context or not", async () => {
  const v = await login("steady");
  await gate.d1Log();
  await gate.fetch("/page", { headers: { ...as(v), "user-agent": "Other/1.0" }, cf: { country: "FR" } });
  assert.deepEqual((await gate.d1Log()).map((s) => s.write), [false]);
});

test("the admin API is refused without the token or with a wrong one, and off without SESSION_ADMIN_TOKEN", async () => {
  for (const token of [null, "wrong-token", ADMIN_TOKEN.slice(0, -1)]) {
    const res = await admin("/sessions", {}, token);
    assert.equal(res.status, 401, String(token));
    assert.equal(res.headers.get("www-authenticate"), "Bearer");
    assert.ok(!(await res.text()).includes(ADMIN_TOKEN));
  }
  const off = await startGateway(origin.url, { SESSION_ADMIN_TOKEN: null });
  try {
    const res = await off.fetch("/__session/admin/api/sessions", { headers: { authorization: "Bearer anything" } });
    assert.equal(res.status, 404);
    assert.match((await res.json()).error, /SESSION_ADMIN_TOKEN/);
  } finally {
    await off.dispose();
  }
  assert.ok(!gate.logs.some((l) => l.includes(ADMIN_TOKEN)), "the token is never logged");
});

test("admin paging is newest first and stable while sessions are inserted", async () => {
  const user = "pager";
  for (let i = 0; i < 5; i++) await login(user);
  const seen = [];
  let cursor = null;
  let inserted = 0;
  do {
    const page = await json(await admin(`/sessions?user=${user}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`));
    seen.push(...page.sessions.map((s) => s.handle));
    for (const s of page.sessions) assert.equal(s.user_id, user);
    cursor = page.next;
    if (inserted++ < 2) await login(user); // concurrent inserts between pages
  } while (cursor);
  assert.equal(new Set(seen).size, seen.length, "no session twice");
  assert.equal(seen.length, 5, "each session that existed at the start, once");
  const all = await json(await admin(`/sessions?user=${user}&limit=50`));
  assert.equal(all.sessions.length, 7);
  const times = all.sessions.map((s) => s.created_at);
  assert.deepEqual([...times].sort().reverse(), times, "newest first");
  assert.equal((await admin("/sessions?cursor=garbage")).status, 400);
});

test("an admin revoke ends that session on its very next request, with its reason in the signals", async () => {
  const victim = await login("mallory");
  const bystander = await login("mallory");
  const list = await json(await admin("/sessions?user=mallory"));
  const target = list.sessions[1]; // the older one: `victim`
  const shown = await json(await admin(`/sessions/${target.handle}`));
  assert.equal(shown.session.user_id, "mallory");
  const res = await admin(`/sessions/${target.handle}/revoke`, { method: "POST" });
  assert.deepEqual(await json(res), { revoked: 1, queued: false });
  assert.equal(await userSeen(victim), undefined, "logged out");
  assert.equal(await userSeen(bystander), "mallory", "the other one stays");
  assert.equal((await admin(`/sessions/${target.handle}/revoke`, { method: "POST" })).status, 404);
  assert.equal((await admin(`/sessions/${target.handle}/revoke`)).status, 405);
  await gate.waitForSignal((r) => r.name === "session_deleted" && r.payload.kwargs.reason === "revoked_by_admin");
  const signals = await json(await admin(`/signals?session=${target.handle}&name=session_deleted`));
  assert.equal(signals.signals.length, 1);
  assert.equal(signals.signals[0].reason, "revoked_by_admin");
  assert.equal(signals.signals[0].session, target.handle);
  const victimId = openRef(victim, SECRET).id;
  assert.ok(!JSON.stringify(signals).includes(victimId), "handles, never ids");
});

test("revoking every session of a user leaves other users alone", async () => {
  const a1 = await login("eve@example.com");
  const a2 = await login("eve@example.com");
  const other = await login("frank");
  const eves = (await json(await admin(`/sessions?user=${encodeURIComponent("eve@example.com")}`))).sessions;
  assert.equal(eves.length, 2);
  const res = await json(await admin(`/users/${encodeURIComponent("eve@example.com")}/revoke`, { method: "POST" }));
  assert.equal(res.revoked, 2);
  assert.equal(await userSeen(a1), undefined);
  assert.equal(await userSeen(a2), undefined);
  assert.equal(await userSeen(other), "frank");
  const left = await json(await admin(`/sessions?user=${encodeURIComponent("eve@example.com")}`));
  assert.equal(left.sessions.length, 0);
  for (const { handle } of eves) {
    const deleted = async () => (await json(await admin(`/signals?session=${handle}&name=session_deleted`))).signals;
    const deadline = Date.now() + 8000;
    while ((await deleted()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual((await deleted()).map((s) => s.reason), ["revoked_by_admin"], "each one's signal, with the reason");
  }
});

test("counts, purge, and the signals feed filtered by user and name", async () => {
  await login("gina");
  await gate.waitForSignal((r) => r.name === "session_created" && r.user_id === "gina");
  const stats = await json(await admin("/stats"));
  assert.ok(stats.active >= 1 && stats.created_last_hour >= 1, JSON.stringify(stats));
  assert.equal(typeof stats.ended_last_hour, "number");
  const live = (await gate.rows()).length;
  // An expired row: purge removes it now, not at the next cron.
  await gate.db.prepare("INSERT INTO sessions (id, data, created_at, expires_at, updated_at) VALUES ('00000000-0000-4000-8000-000000000001', '{}', 1, 2, 1)").run();
  assert.deepEqual(await json(await admin("/purge", { method: "POST" })), { purged: 1 });
  assert.equal((await gate.rows()).length, live);
  const feed = await json(await admin("/signals?user=gina&name=session_created&limit=5"));
  assert.ok(feed.signals.length >= 1);
  assert.ok(feed.signals.every((s) => s.user_id === "gina" && s.name === "session_created"));
});

test("in cookie mode the admin API says what it cannot do and still revokes a user", async () => {
  const cookies = await startGateway(origin.url, { SESSION_STORE: "cookie" });
  try {
    const call = (path, init = {}) => cookies.fetch(`/__session/admin/api${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const listed = await call("/sessions");
    assert.equal(listed.status, 501);
    assert.match((await listed.json()).error, /cookie store keeps no list/);
    origin.respond = () => ({ status: 200, headers: { "x-session-user-id": "hana" } });
    const value = sessionCookie(await cookies.fetch("/login"));
    origin.respond = () => ({ status: 200 });
    assert.equal((await call("/users/hana/revoke", { method: "POST" })).status, 200);
    await new Promise((r) => setTimeout(r, 1100)); // the per-user time is in whole seconds
    await cookies.fetch("/after", { headers: { cookie: `session_id=${value}` } });
    assert.equal(origin.last().headers["x-session-user-id"], undefined, "refused after the revoke");
  } finally {
    await cookies.dispose();
  }
});
