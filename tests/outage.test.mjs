// A D1 outage end to end: the session survives on the reference cookie's signed
// snapshot, writes wait in the signed pending cookie, and reach D1 when it is back.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startOrigin, startGateway, sessionCookie, dataSeen, signRef, openRef, now, SECRET } from "./support/harness.mjs";

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
  await gate.failD1("none");
  origin.respond = () => ({ status: 200, body: "ok" });
});

/** The browser: keeps the cookies the gateway sets, sends them back. */
function browser() {
  const jar = new Map();
  return {
    jar,
    async get(path, respond, { method = "GET", headers = {}, status = 200 } = {}) {
      origin.respond = respond ? () => ({ status: 200, headers: respond, body: "ok" }) : () => ({ status: 200, body: "ok" });
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
      const res = await gate.fetch(path, { method, headers: { ...headers, ...(cookie && { cookie }) } });
      assert.equal(res.status, status, path);
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(";");
        const eq = pair.indexOf("=");
        const [name, value] = [pair.slice(0, eq), pair.slice(eq + 1)];
        if (/Max-Age=0/.test(line)) jar.delete(name);
        else jar.set(name, value);
      }
      return { res, seen: origin.last() };
    },
  };
}

const storeRow = async (id) => (await gate.rows()).find((r) => r.id === id);

test("a logged-in user stays logged in through an outage and nothing written is lost", async () => {
  const b = browser();
  await b.get("/login", { "x-session-user-id": "alice", "x-session-update": '{"cart":["apple"],"theme":"dark"}' });
  const ref = b.jar.get("session_id");
  const { id } = openRef(ref, SECRET);

  await gate.failD1("all");
  // Identity from the snapshot; the D1-only data is not visible.
  let { seen } = await b.get("/during");
  assert.equal(seen.headers["x-session-store"], "cookie-fallback");
  assert.equal(seen.headers["x-session-user-id"], "alice");
  assert.equal(seen.headers["x-session-id"], id);
  assert.deepEqual(dataSeen(seen), {});
  // Writes during the outage go to the pending cookie.
  let { res } = await b.get("/add", { "x-session-update": '{"cart":["apple","pear"]}' });
  assert.match(res.headers.getSetCookie().join("\n"), /^session_id-pending=p1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Max-Age=1800; Path=\/; HttpOnly; Secure; SameSite=Lax$/m);
  assert.equal(b.jar.get("session_id"), ref, "the reference cookie is unchanged");
  ({ seen } = await b.get("/more", { "x-session-update": '{"note":"gift"}' }));
  assert.deepEqual(dataSeen(seen), { cart: ["apple", "pear"] }, "what was written during the outage is visible");
  assert.ok(b.jar.has("session_id-pending"));

  await gate.failD1("none");
  ({ res, seen } = await b.get("/after"));
  assert.equal(seen.headers["x-session-store"], "d1");
  assert.equal(seen.headers["x-session-user-id"], "alice");
  assert.deepEqual(dataSeen(seen), { cart: ["apple", "pear"], theme: "dark", note: "gift" }, "written back, per key, nothing lost");
  assert.ok(!b.jar.has("session_id-pending"), "the pending cookie is cleared");
  assert.deepEqual(JSON.parse((await storeRow(id)).data), { cart: ["apple", "pear"], theme: "dark", note: "gift" });
  assert.equal(seen.headers.cookie, undefined, "neither cookie reaches the origin");

  // One session_store_degraded per request in the outage (three requests).
  const degraded = await gate.waitForSignal((r) => r.name === "session_store_degraded");
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal((await gate.signals()).filter((r) => r.name === "session_store_degraded").length, 3, JSON.stringify(degraded.length));
});

test("past the fallback window the user is anonymous during an outage", async () => {
  const b = browser();
  await b.get("/login", { "x-session-user-id": "bob" });
  const { id } = openRef(b.jar.get("session_id"), SECRET);
  // The same session, its cookie issued 16 minutes ago (the window is 15 minutes).
  b.jar.set("session_id", signRef(SECRET, id, { user: "bob", t: now() - 960 }));
  await gate.failD1("all");
  const { seen, res } = await b.get("/during", { "x-session-update": '{"lost":"no: refused"}' });
  assert.equal(seen.headers["x-session-store"], "unavailable");
  assert.equal(seen.headers["x-session-user-id"], undefined);
  assert.equal(res.headers.getSetCookie().length, 0, "the cookie is kept for when D1 is back");
  await gate.failD1("none");
  const { seen: back } = await b.get("/after");
  assert.equal(back.headers["x-session-user-id"], "bob", "D1 back: logged in again");
});

test("a logout during the outage is applied when D1 is back", async () => {
  const b = browser();
  await b.get("/login", { "x-session-user-id": "carol" });
  const { id } = openRef(b.jar.get("session_id"), SECRET);
  await gate.failD1("all");
  await b.get("/logout", { "x-session-action": "delete" });
  assert.ok(!b.jar.has("session_id"), "the session cookie is cleared at once");
  assert.ok(b.jar.has("session_id-pending"), "the logout waits for D1");
  assert.ok(await storeRow(id), "still in D1 during the outage");
  await gate.failD1("none");
  const { seen } = await b.get("/after");
  assert.equal(seen.headers["x-session-new"], "1");
  assert.equal(await storeRow(id), undefined, "deleted on write-back");
  assert.ok(!b.jar.has("session_id-pending"));
});

test("a forged pending cookie is dropped and writes nothing", async () => {
  const b = browser();
  await b.get("/login", { "x-session-user-id": "dan", "x-session-update": '{"k":1}' });
  const { id } = openRef(b.jar.get("session_id"), SECRET);
  b.jar.set("session_id-pending", "p1.eyJvcCI6ImRlbGV0ZSJ9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  const { seen } = await b.get("/x");
  assert.equal(seen.headers["x-session-user-id"], "dan");
  assert.ok(!b.jar.has("session_id-pending"), "cleared");
  assert.deepEqual(JSON.parse((await storeRow(id)).data), { k: 1 });
});

test("a visitor's first write during the outage creates the session when D1 is back", async () => {
  const b = browser();
  await gate.failD1("all");
  const { res } = await b.get("/add", { "x-session-update": '{"cart":["fig"]}' });
  const ref = b.jar.get("session_id");
  assert.ok(ref && b.jar.has("session_id-pending"), "reference and pending cookies issued");
  assert.match(res.headers.getSetCookie().join("\n"), /^session_id=/m);
  const { id } = openRef(ref, SECRET);
  const { seen } = await b.get("/during");
  assert.equal(seen.headers["x-session-store"], "cookie-fallback");
  assert.deepEqual(dataSeen(seen), { cart: ["fig"] });
  await gate.failD1("none");
  const { seen: back } = await b.get("/after");
  assert.equal(back.headers["x-session-store"], "d1");
  assert.equal(back.headers["x-session-id"], id);
  assert.deepEqual(dataSeen(back), { cart: ["fig"] });
  assert.deepEqual(JSON.parse((await storeRow(id)).data), { cart: ["fig"] });
  assert.ok(!b.jar.has("session_id-pending"));
});

test("when D1 reads but refuses writes, successive writes compose in the pending cookie", async () => {
  const b = browser();
  await b.get("/login", { "x-session-user-id": "erin", "x-session-update": '{"base":1}' });
  const { id } = openRef(b.jar.get("session_id"), SECRET);
  await gate.failD1("write");
  await b.get("/one", { "x-session-update": '{"cart":["kiwi"]}' });
  assert.ok(b.jar.has("session_id-pending"));
  const { seen } = await b.get("/two", { "x-session-update": '{"theme":"light"}' });
  assert.equal(seen.headers["x-session-store"], "cookie-fallback", "the failed write-back shows the outage");
  assert.deepEqual(dataSeen(seen), { cart: ["kiwi"] });
  await gate.failD1("none");
  const { seen: back } = await b.get("/after");
  assert.deepEqual(dataSeen(back), { base: 1, cart: ["kiwi"], theme: "light" });
  assert.deepEqual(JSON.parse((await storeRow(id)).data), { base: 1, cart: ["kiwi"], theme: "light" });
  assert.ok(!b.jar.has("session_id-pending"));
});

test("POST /__session/logout during an outage logs out now and deletes the row when D1 is back", async () => {
  const b = browser();
  await b.get("/login", { "x-session-user-id": "fay" });
  const { id } = openRef(b.jar.get("session_id"), SECRET);
  await gate.failD1("all");
  await b.get("/__session/logout", null, { method: "POST", headers: { origin: "https://gate.example" }, status: 204 });
  assert.ok(!b.jar.has("session_id"));
  assert.match(b.jar.get("session_id-pending") ?? "", /^p1\./, "the delete waits in the pending cookie");
  await gate.failD1("none");
  assert.ok(await storeRow(id), "still there until the next request");
  await b.get("/after");
  assert.equal(await storeRow(id), undefined, "deleted on write-back");
});
