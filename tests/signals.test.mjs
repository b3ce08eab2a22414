// Lifecycle signals end to end: produced by real scenarios, sent on a real local queue,
// consumed by the same worker into session_signals in real local D1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { startOrigin, startGateway, sessionCookie, signRef, SECRET } from "./support/harness.mjs";

let origin;
let gate;
/** Every MAC the gateway issued in this file: none may appear in a signal or a log. */
const macs = new Set();

before(async () => {
  origin = await startOrigin();
  // Every signal, the per-request read included (the default leaves that one out).
  gate = await startGateway(origin.url, { SESSION_SIGNAL_FILTER: "all" });
});
after(async () => {
  await gate?.dispose();
  await origin?.close();
});

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const now = () => Math.floor(Date.now() / 1000);

async function send(g, path, { cookie, respond, method = "GET" } = {}) {
  origin.respond = respond ? () => ({ status: 200, headers: respond }) : () => ({ status: 200 });
  const res = await g.fetch(path, { method, headers: cookie ? { cookie: `session_id=${cookie}` } : {} });
  assert.equal(res.status, 200, `${method} ${path}`);
  const value = sessionCookie(res);
  if (value) macs.add(value.split(".").at(-1));
  return value;
}

const idOf = (cookie) => cookie.split(".")[0];
const setExpiry = (id, at) => gate.db.prepare("UPDATE sessions SET expires_at = ?1 WHERE id = ?2").bind(at, id).run();

/** The one audit row of `name` for `sessionId` (or the only one of `name`). */
async function one(name, sessionId) {
  const rows = await gate.waitForSignal((r) => r.name === name && (sessionId === undefined || r.session_id === sessionId));
  return rows[rows.length - 1];
}

test("each of the 16 signals is caused by a real scenario and lands in session_signals with its kwargs", async () => {
  // Fresh isolate: the first proxied request initializes the manager.
  await send(gate, "/first");
  // session_created + session_data_saved: the origin writes.
  const s1 = await send(gate, "/add", { respond: { "x-session-update": '{"cart":["apple"],"n":1}' } });
  // session_data_retrieved: the next request.
  await send(gate, "/cart", { cookie: s1 });
  // session_cycled: login.
  const s2 = await send(gate, "/login", { cookie: s1, respond: { "x-session-user-id": "alice" } });
  // session_renewed: time passes (the last renewal moved two minutes back).
  await setExpiry(idOf(s2), now() + 1800 - 120);
  await send(gate, "/later", { cookie: s2 });
  // session_data_retrieval_failed: a valid MAC for an id that does not exist.
  const ghost = randomUUID();
  await send(gate, "/ghost", { cookie: signRef(SECRET, ghost) });
  // session_expired: a row past its expiry.
  const s3 = await send(gate, "/x", { respond: { "x-session-action": "create" } });
  await setExpiry(idOf(s3), now() - 5);
  await send(gate, "/stale", { cookie: s3 });
  // session_cookie_rejected: a forged cookie.
  await send(gate, "/forged", { cookie: "not-a-session-cookie" });
  // session_deleted: logout.
  const s4 = await send(gate, "/x", { respond: { "x-session-action": "create" } });
  await send(gate, "/logout", { cookie: s4, method: "POST", respond: { "x-session-action": "delete" } });

  // Failures, with D1 broken on the request path.
  const s5 = await send(gate, "/x", { respond: { "x-session-update": '{"k":1}' } });
  await gate.failD1("write");
  await send(gate, "/add", { respond: { "x-session-update": '{"lost":1}' } }); // session_creation_failed
  await send(gate, "/save", { cookie: s5, respond: { "x-session-update": '{"k":2}' } }); // session_data_save_failed
  await setExpiry(idOf(s5), now() + 1800 - 120);
  await send(gate, "/renew", { cookie: s5 }); // session_renewal_failed
  await send(gate, "/logout", { cookie: s5, respond: { "x-session-action": "delete" } }); // session_deletion_failed
  await gate.failD1("all");
  await send(gate, "/down", { cookie: s5 }); // session_store_degraded
  await gate.failD1("none");
  // sessions_purged: the cron.
  await setExpiry(idOf(s5), now() - 1);
  await gate.scheduled();

  const initialized = await one("session_manager_initialized");
  assert.deepEqual(initialized.payload.kwargs, { timeout: 1800 });
  const created = await one("session_created", idOf(s1));
  assert.deepEqual(created.payload.kwargs, { session_id: idOf(s1), user_id: null });
  const saved = await one("session_data_saved", idOf(s1));
  assert.deepEqual(saved.payload.kwargs.saved_keys, ["cart", "n"]);
  const retrieved = await one("session_data_retrieved", idOf(s1));
  assert.deepEqual(retrieved.payload.kwargs.data_keys.sort(), ["cart", "n"]);
  const cycled = await one("session_cycled", idOf(s2));
  assert.deepEqual(cycled.payload.kwargs, { old_session_id: idOf(s1), session_id: idOf(s2), user_id: "alice" });
  assert.equal(cycled.user_id, "alice");
  const renewed = await one("session_renewed", idOf(s2));
  assert.match(renewed.payload.kwargs.expires_at, RFC3339);
  assert.ok(Date.parse(renewed.payload.kwargs.expires_at) / 1000 >= now() + 1700);
  const missing = await one("session_data_retrieval_failed", ghost);
  assert.equal(missing.payload.kwargs.reason, "not_found_or_expired");
  const expired = await one("session_expired", idOf(s3));
  assert.match(expired.payload.kwargs.expired_at, RFC3339);
  const rejected = await one("session_cookie_rejected");
  assert.deepEqual(rejected.payload.kwargs, { reason: "malformed", count: 1 });
  const deleted = await one("session_deleted", idOf(s4));
  assert.equal(deleted.payload.kwargs.reason, "logout");
  const creationFailed = await one("session_creation_failed");
  assert.equal(creationFailed.payload.kwargs.user_id, null);
  assert.equal(creationFailed.payload.kwargs.exception.type, "StoreError");
  assert.match(creationFailed.payload.kwargs.exception.message, /injected failure/);
  const saveFailed = await gate.waitForSignal(
    (r) => r.name === "session_data_save_failed" && r.session_id === idOf(s5) && r.payload.kwargs.reason === "db_error",
  );
  assert.match(saveFailed[0].payload.kwargs.exception.message, /injected failure/);
  const renewalFailed = await one("session_renewal_failed", idOf(s5));
  assert.equal(renewalFailed.payload.kwargs.reason, "db_error");
  const deletionFailed = await one("session_deletion_failed", idOf(s5));
  assert.equal(deletionFailed.payload.kwargs.reason, "db_error");
  // The refused writes were diverted (`write_failed`) before: wait for the read's own.
  const [degraded] = await gate.waitForSignal(
    (r) => r.name === "session_store_degraded" && r.payload.kwargs.reason === "read_failed",
  );
  assert.match(degraded.payload.kwargs.exception.message, /injected failure/);
  const purged = await one("sessions_purged");
  // s3, and s5 unless the queued revocation of its refused logout deleted it first.
  assert.ok(purged.payload.kwargs.count >= 1, JSON.stringify(purged.payload.kwargs));
  assert.ok(!(await gate.rows()).some((r) => r.id === idOf(s3) || r.id === idOf(s5)), "both gone");
  assert.equal(purged.payload.kwargs.signals_pruned, 0);

  const all = await gate.signals();
  const names = new Set(all.map((r) => r.name));
  assert.equal(names.size, 16, [...names].join(", "));
  assert.equal(all.filter((r) => r.name === "session_manager_initialized").length, 1, "once per isolate");
  for (const row of all) {
    const p = row.payload;
    assert.equal(p.signal, row.name);
    assert.equal(p.id, row.id);
    assert.match(p.id, UUID);
    assert.match(p.at, RFC3339);
    assert.equal(row.at, Date.parse(p.at) / 1000);
    assert.deepEqual(p.sender, { class: "SessionManager", worker: "sessiongate" });
    assert.ok(p.request_id, "request id");
  }
  const text = JSON.stringify(all) + gate.logs.join("\n");
  assert.ok(macs.size >= 5);
  for (const mac of macs) assert.ok(!text.includes(mac), "a MAC leaked into a signal or a log");
  assert.ok(!text.includes(SECRET), "the secret leaked");
  assert.ok(!text.includes("not-a-session-cookie"), "a rejected cookie value leaked");
});

test("one send_batch per request, after the response", async () => {
  await gate.queueLog();
  await send(gate, "/batch", { respond: { "x-session-update": '{"a":1}', "x-session-user-id": "bo" } });
  await new Promise((r) => setTimeout(r, 200));
  const calls = await gate.queueLog();
  assert.equal(calls.length, 1, JSON.stringify(calls));
  assert.equal(calls[0].method, "sendBatch");
  assert.equal(calls[0].count, 2, "session_created + session_data_saved");
});

test("the same message delivered twice leaves one row", async () => {
  const envelope = {
    signal: "session_deleted",
    id: randomUUID(),
    at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    sender: { class: "SessionManager", worker: "sessiongate" },
    request_id: "dup-test",
    kwargs: { session_id: randomUUID() },
  };
  await gate.enqueue(envelope);
  await gate.enqueue(envelope);
  await gate.waitForSignal((r) => r.id === envelope.id);
  await new Promise((r) => setTimeout(r, 1500)); // let the second delivery land too
  const rows = (await gate.signals()).filter((r) => r.id === envelope.id);
  assert.equal(rows.length, 1);
  assert.equal(gate.logs.filter((l) => l.includes(envelope.id)).length >= 2, true, "both deliveries were consumed and logged");
});

test("when D1 refuses the audit insert the batch is retried later, and lands", async () => {
  const retrying = await startGateway(origin.url, { SESSION_SIGNAL_RETRY_SECONDS: "1" });
  try {
    const ddl = (await retrying.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'session_signals'").first()).sql;
    await retrying.db.prepare("DROP TABLE session_signals").run();
    const id = randomUUID();
    await retrying.enqueue({
      signal: "session_deleted",
      id,
      at: "2026-11-24T00:00:00Z",
      sender: { class: "SessionManager", worker: "sessiongate" },
      request_id: "retry-test",
      kwargs: { session_id: randomUUID() },
    });
    const deadline = Date.now() + 8000;
    while (!retrying.logs.some((l) => l.includes("signal_store_failed"))) {
      assert.ok(Date.now() < deadline, "no signal_store_failed log");
      await new Promise((r) => setTimeout(r, 50));
    }
    await retrying.db.prepare(ddl).run();
    const [row] = await retrying.waitForSignal((r) => r.id === id, 10000);
    assert.equal(row.name, "session_deleted");
  } finally {
    await retrying.dispose();
  }
});

test("a malformed queue message is dropped with a log line, not retried forever", async () => {
  await gate.enqueue({ signal: "session_hacked", id: "x" });
  const deadline = Date.now() + 8000;
  while (!gate.logs.some((l) => l.includes("signal_rejected"))) {
    assert.ok(Date.now() < deadline, "no signal_rejected log");
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(!(await gate.signals()).some((r) => r.id === "x"));
});

test("a failing queue never fails the request; the failure is logged", async () => {
  await gate.failQueue(true);
  try {
    const cookie = await send(gate, "/q", { respond: { "x-session-update": '{"q":1}' } });
    assert.ok(cookie, "the session was still created");
    const deadline = Date.now() + 5000;
    while (!gate.logs.some((l) => l.includes("signal_send_failed") && l.includes("injected failure"))) {
      assert.ok(Date.now() < deadline, "no signal_send_failed log");
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await gate.failQueue(false);
  }
});

test("without a queue binding requests still work and the failure is logged", async () => {
  const bare = await startGateway(origin.url, {}, { queue: false });
  try {
    const cookie = await send(bare, "/nq", { respond: { "x-session-update": '{"q":1}' } });
    assert.ok(cookie);
    assert.ok(bare.logs.some((l) => l.includes("signal_send_failed") && l.includes("binding SESSION_SIGNALS is missing")));
  } finally {
    await bare.dispose();
  }
});

test("the default filter queues every lifecycle event and nothing on a steady-state request", async () => {
  const lifecycle = await startGateway(origin.url);
  try {
    const s = await send(lifecycle, "/f", { respond: { "x-session-update": '{"a":1}' } });
    await lifecycle.waitForSignal((r) => r.name === "session_created");
    await new Promise((r) => setTimeout(r, 300));
    await lifecycle.queueLog();
    for (let i = 0; i < 5; i++) await send(lifecycle, "/steady", { cookie: s });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await lifecycle.queueLog(), [], "no message for a request that changes nothing");
    await send(lifecycle, "/out", { cookie: s, respond: { "x-session-action": "delete" } });
    await lifecycle.waitForSignal((r) => r.name === "session_deleted");
    assert.ok(!(await lifecycle.signals()).some((r) => r.name === "session_data_retrieved"));
  } finally {
    await lifecycle.dispose();
  }
});

test("SESSION_SIGNAL_FILTER filters what is sent", async () => {
  const only = await startGateway(origin.url, { SESSION_SIGNAL_FILTER: "session_created" });
  try {
    await send(only, "/f", { respond: { "x-session-update": '{"a":1}' } });
    await only.waitForSignal((r) => r.name === "session_created");
    await new Promise((r) => setTimeout(r, 1200));
    assert.deepEqual([...new Set((await only.signals()).map((r) => r.name))], ["session_created"]);
  } finally {
    await only.dispose();
  }
  const none = await startGateway(origin.url, { SESSION_SIGNAL_FILTER: "none" });
  try {
    await send(none, "/f", { respond: { "x-session-update": '{"a":1}' } });
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await none.queueLog(), []);
  } finally {
    await none.dispose();
  }
});

test("the cron removes expired rows only, prunes old signals, and reports the counts", async () => {
  const cron = await startGateway(origin.url, { SESSION_SIGNAL_RETENTION_DAYS: "30" });
  try {
    const t = now();
    const insert = (id, expires, absolute) =>
      cron.db
        .prepare("INSERT INTO sessions (id, data, created_at, expires_at, absolute_expires_at, updated_at) VALUES (?1, '{}', ?2, ?3, ?4, ?2)")
        .bind(id, t - 100, expires, absolute)
        .run();
    const live = [randomUUID(), randomUUID()];
    await insert(live[0], t + 600, null);
    await insert(live[1], t + 600, t + 7200);
    await insert(randomUUID(), t - 1, null); // idle-expired
    await insert(randomUUID(), t, null); // expires exactly now
    await insert(randomUUID(), t + 600, t - 10); // past its absolute cap
    await cron.db
      .prepare("INSERT INTO session_signals (id, name, payload, at) VALUES ('old', 'session_deleted', '{}', ?1), ('recent', 'session_deleted', '{}', ?2)")
      .bind(t - 31 * 86400, t - 29 * 86400)
      .run();
    await cron.scheduled();
    assert.deepEqual((await cron.rows()).map((r) => r.id).sort(), [...live].sort());
    const [purged] = await cron.waitForSignal((r) => r.name === "sessions_purged");
    assert.deepEqual(purged.payload.kwargs, { count: 3, signals_pruned: 1 });
    const ids = (await cron.signals()).map((r) => r.id);
    assert.ok(ids.includes("recent") && !ids.includes("old"));
  } finally {
    await cron.dispose();
  }
});
