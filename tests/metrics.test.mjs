// Metrics end to end: one Analytics Engine data point per proxied request (Miniflare's
// SESSION_METRICS dataset, its writes recorded by the test entry), with the outcome, the
// store, the commands applied and the D1 and origin times; none without the binding.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startGateway, sessionCookie, signRef, SECRET } from "./support/harness.mjs";
import { randomUUID } from "node:crypto";

let origin;
let gate;

before(async () => {
  origin = await startOrigin();
  gate = await startGateway(origin.url, {}, { metrics: true });
});
after(async () => {
  await gate?.dispose();
  await origin?.close();
});

const as = (value) => ({ cookie: `session_id=${value}` });

/** The one data point a request to `path` leaves. */
async function pointOf(path, { cookie, respond } = {}) {
  origin.respond = () => ({ status: 200, headers: respond ?? {} });
  await gate.metrics();
  const res = await gate.fetch(path, { headers: cookie ? as(cookie) : {} });
  const points = await gate.metrics();
  assert.equal(points.length, 1, JSON.stringify(points));
  return { res, point: points[0] };
}

test("each proxied request writes one data point with its outcome, store, commands and times", async () => {
  const login = await pointOf("/login", { respond: { "x-session-user-id": "ann", "x-session-lifetime": "remember" } });
  assert.deepEqual(login.point.indexes, ["new"]);
  const cookieOf = (res) => sessionCookie(res);
  const loginId = cookieOf(login.res).split(".")[0];
  assert.deepEqual(login.point.blobs, ["d1", "new", "login,lifetime", loginId.slice(0, 8)]);
  const [d1Ms, originMs, renewed, created, loggedIn] = login.point.doubles;
  assert.ok(d1Ms >= 0 && originMs >= 0, JSON.stringify(login.point.doubles));
  assert.deepEqual([renewed, created, loggedIn], [0, 1, 1]);

  const cookie = sessionCookie(login.res);
  const steady = await pointOf("/page", { cookie });
  assert.deepEqual(steady.point.blobs, ["d1", "hit", "", loginId.slice(0, 8)]);
  assert.deepEqual(steady.point.doubles.slice(2), [0, 0, 0]);

  const forged = await pointOf("/page", { cookie: `${cookie.slice(0, -4)}AAAA` });
  assert.deepEqual(forged.point.indexes, ["forged"]);

  const ghost = await pointOf("/page", { cookie: signRef(SECRET, randomUUID()) });
  assert.deepEqual(ghost.point.indexes, ["new"], "a valid cookie naming no session");

  await gate.failD1("all");
  try {
    const fallback = await pointOf("/page", { cookie });
    assert.deepEqual(fallback.point.blobs.slice(0, 2), ["cookie-fallback", "fallback"]);
  } finally {
    await gate.failD1("none");
  }
});

test("no dataset bound: nothing is written and requests are served", async () => {
  const bare = await startGateway(origin.url);
  try {
    origin.respond = () => ({ status: 200 });
    const res = await bare.fetch("/page");
    assert.equal(res.status, 200);
    assert.deepEqual(await bare.metrics(), []);
  } finally {
    await bare.dispose();
  }
});
