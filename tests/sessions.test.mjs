// The self-service API (/__session/api/sessions) end to end: real D1, two browsers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startGateway, sessionCookie } from "./support/harness.mjs";

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

const SAME = { "sec-fetch-site": "same-origin" };

/** A browser logged in as `user`: its session cookie value. */
async function login(user) {
  origin.respond = () => ({ status: 200, headers: { "x-session-user-id": user } });
  const value = sessionCookie(await gate.fetch("/login"));
  origin.respond = () => ({ status: 200 });
  return value;
}

const api = (value, path = "", init = {}) =>
  gate.fetch(`/__session/api/sessions${path}`, {
    ...init,
    headers: { ...SAME, ...(value && { cookie: `session_id=${value}` }), ...init.headers },
  });

test("two browsers of one user are listed by handle; revoking the other ends it on its next request", async () => {
  const phone = await login("ann");
  const laptop = await login("ann");
  const res = await api(phone);
  assert.equal(res.status, 200);
  const { sessions } = await res.json();
  assert.equal(sessions.length, 2);
  assert.equal(sessions.filter((s) => s.current).length, 1);
  for (const s of sessions) {
    assert.match(s.handle, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!phone.includes(s.handle) && !laptop.includes(s.handle), "a handle is not the id");
    assert.match(s.created_at, /Z$/);
  }
  const other = sessions.find((s) => !s.current);
  const revoked = await api(phone, `/${other.handle}/revoke`, { method: "POST" });
  assert.equal(revoked.status, 204);
  await gate.fetch("/next", { headers: { cookie: `session_id=${laptop}` } });
  assert.equal(origin.last().headers["x-session-user-id"], undefined, "the laptop is logged out");
  await gate.fetch("/next", { headers: { cookie: `session_id=${phone}` } });
  assert.equal(origin.last().headers["x-session-user-id"], "ann", "this one stays");
  await gate.waitForSignal((r) => r.name === "session_deleted" && r.payload.kwargs.reason === "revoked_by_user");
});

test("another user's handle is 404, anonymous is 401, cross-site is 403", async () => {
  const ann = await login("ann2");
  const bob = await login("bob2");
  const bobs = (await (await api(bob)).json()).sessions[0].handle;
  assert.equal((await api(ann, `/${bobs}/revoke`, { method: "POST" })).status, 404);
  assert.equal((await api(undefined)).status, 401);
  const cross = await api(ann, "/revoke-others", { method: "POST", headers: { "sec-fetch-site": "cross-site" } });
  assert.equal(cross.status, 403);
  assert.equal((await api(ann, "", { method: "POST" })).status, 405);
  await gate.fetch("/still", { headers: { cookie: `session_id=${bob}` } });
  assert.equal(origin.last().headers["x-session-user-id"], "bob2", "bob untouched");
});

test("revoke-others leaves this session and other users alone; the steady state is still one read", async () => {
  const keep = await login("carl");
  await login("carl");
  await login("carl");
  const dora = await login("dora");
  const res = await api(keep, "/revoke-others", { method: "POST" });
  assert.deepEqual(await res.json(), { revoked: 2 });
  const rows = await gate.rows();
  assert.equal(rows.filter((r) => r.user_id === "carl").length, 1);
  assert.equal(rows.filter((r) => r.user_id === "dora").length, 1);
  await gate.d1Log();
  await gate.fetch("/steady", { headers: { cookie: `session_id=${dora}` } });
  assert.deepEqual((await gate.d1Log()).map((s) => s.write), [false], "one read, no write");
});

test("the cookie store says plainly that it keeps no list", async () => {
  const cookies = await startGateway(origin.url, { SESSION_STORE: "cookie" });
  try {
    const res = await cookies.fetch("/__session/api/sessions", { headers: SAME });
    assert.equal(res.status, 501);
    assert.match((await res.json()).error, /cookie store keeps no list/);
  } finally {
    await cookies.dispose();
  }
});

test("an origin that renders its own page ends sessions by command: X-Session-Revoke and revoke-others", async () => {
  const phone = await login("erin");
  const laptop = await login("erin");
  const tablet = await login("erin");
  const listed = (await (await api(phone)).json()).sessions;
  const laptopHandle = listed.find((s) => !s.current && s.created_at).handle;
  origin.respond = () => ({ status: 200, headers: { "x-session-revoke": laptopHandle } });
  const res = await gate.fetch("/devices", { headers: { cookie: `session_id=${phone}` } });
  assert.equal(res.headers.get("x-session-revoke"), null, "the command never reaches the client");
  assert.equal((await (await api(phone)).json()).sessions.length, 2);
  origin.respond = () => ({ status: 200, headers: { "x-session-action": "revoke-others" } });
  await gate.fetch("/devices", { headers: { cookie: `session_id=${phone}` } });
  origin.respond = () => ({ status: 200 });
  for (const other of [laptop, tablet]) {
    await gate.fetch("/after", { headers: { cookie: `session_id=${other}` } });
    assert.equal(origin.last().headers["x-session-user-id"], undefined);
  }
  await gate.fetch("/after", { headers: { cookie: `session_id=${phone}` } });
  assert.equal(origin.last().headers["x-session-user-id"], "erin");
});

test("the origin receives the user's session list only on SESSION_LIST_PATHS", async () => {
  const listing = await startGateway(origin.url, { SESSION_LIST_PATHS: "/account/sessions" });
  try {
    const signIn = async () => {
      origin.respond = () => ({ status: 200, headers: { "x-session-user-id": "fay" } });
      const v = sessionCookie(await listing.fetch("/login"));
      origin.respond = () => ({ status: 200 });
      return v;
    };
    const phone = await signIn();
    await signIn();
    await listing.fetch("/account/sessions", { headers: { cookie: `session_id=${phone}`, "x-session-list": "forged" } });
    const list = JSON.parse(Buffer.from(origin.last().headers["x-session-list"], "base64url").toString("utf8"));
    assert.equal(list.sessions.length, 2);
    assert.equal(list.sessions.filter((s) => s.current).length, 1);
    await listing.fetch("/elsewhere", { headers: { cookie: `session_id=${phone}`, "x-session-list": "forged" } });
    assert.equal(origin.last().headers["x-session-list"], undefined, "not elsewhere, and never the client's");
  } finally {
    await listing.dispose();
  }
});
