// The origin middlewares for Express, Django and Rack (examples/express, examples/django,
// examples/rack), each in its real server (node, gunicorn, puma) behind the real gateway:
// the app sees the session and changes it through the helpers' response commands; a
// request sent straight to the app with a forged, stale, or replayed assertion is refused
// (401: the middlewares' default) and the app exposes no session.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer, request } from "node:http";
import { createHmac, createHash } from "node:crypto";
import path from "node:path";
import { startGateway, ROOT } from "./support/harness.mjs";

const ORIGIN_SECRET = "framework-origin-secret-framework-origin-secret";
const venv = (bin) => path.join(ROOT, ".venv/bin", bin);

// Each framework's real server, listening on `port` (loopback).
const frameworks = {
  express: (port) => [process.execPath, [path.join(ROOT, "examples/express/app.mjs"), String(port)], {}],
  django: (port) => [
    venv("gunicorn"),
    ["--bind", `127.0.0.1:${port}`, "--workers", "1", "--chdir", path.join(ROOT, "examples/django"), "demo.wsgi:application"],
    { DJANGO_ALLOWED_HOSTS: "gate.example,127.0.0.1" },
  ],
  rack: (port) => [
    "puma",
    ["--bind", `tcp://127.0.0.1:${port}`, "--threads", "1:4", "--environment", "production", path.join(ROOT, "examples/rack/config.ru")],
    {},
  ],
};

/** Stops a server: SIGINT (a quick shutdown for node, gunicorn and puma), SIGKILL after 3 s. */
async function stop(child) {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }
  // A worker process left behind must not hold the test process open by its pipes.
  child.stdout.destroy();
  child.stderr.destroy();
}

/** A free loopback port. */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a framework's server with `audience`; resolves with its URL once it answers. */
async function startApp(kind, audience) {
  const port = await freePort();
  const [cmd, args, env] = frameworks[kind](port);
  const child = spawn(cmd, args, {
    env: { ...process.env, ...env, ORIGIN_SECRET, ORIGIN_AUDIENCE: audience },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  let exited = null;
  child.on("exit", (code) => (exited = code));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (exited !== null) throw new Error(`${kind} server exited with ${exited}:\n${output}`);
    try {
      await fetch(`${url}/`);
      return { url, child };
    } catch {
      if (Date.now() > deadline) {
        await stop(child);
        throw new Error(`${kind} server did not answer within 15 s:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * A pass-through between gateway and app that records what the gateway sends (the
 * assertions to replay). The gateway reaches the app at this address, so it is the
 * app's audience.
 */
async function startRecorder() {
  const seen = [];
  let target = null;
  const server = createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, headers: { ...req.headers } });
    const up = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode, upRes.headers);
      upRes.pipe(res);
    });
    up.on("error", (e) => res.writeHead(502).end(String(e)));
    req.pipe(up);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    seen,
    host: `127.0.0.1:${server.address().port}`,
    url: `http://127.0.0.1:${server.address().port}`,
    forwardTo: (url) => (target = url),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

function jwt(claims, secret = ORIGIN_SECRET) {
  const enc = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const body = `${enc({ alg: "HS256", typ: "JWT" })}.${enc(claims)}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

const ruby = spawnSync("ruby", ["-e", 'require "rack"'], { stdio: "ignore" }).status === 0;

for (const kind of Object.keys(frameworks)) {
  describe(`${kind} middleware`, { skip: kind === "rack" && !ruby && "ruby with rack not installed (bash scripts/setup.sh --tests)" }, () => {
    let recorder, app, server, gate;
    before(async () => {
      recorder = await startRecorder();
      ({ url: app, child: server } = await startApp(kind, recorder.host));
      recorder.forwardTo(app);
      gate = await startGateway(recorder.url, { ORIGIN_SECRET });
    });
    after(async () => {
      await gate?.dispose();
      if (server) await stop(server);
      await recorder?.close();
    });

    it("through the gateway: the app sees the session; login, update and logout by the helpers", async () => {
      let cookie = "";
      const go = async (p, body) => {
        const res = await gate.fetch(p, {
          method: body ? "POST" : "GET",
          headers: { ...(cookie && { cookie }), ...(body && { "content-type": "application/x-www-form-urlencoded" }) },
          body,
        });
        const set = res.headers.getSetCookie().find((l) => l.startsWith("session_id="));
        if (set) cookie = /Max-Age=0/.test(set) ? "" : set.split(";")[0];
        for (const name of res.headers.keys()) assert.ok(!name.startsWith("x-session-"), `${name} reached the client`);
        return res;
      };
      const view = async () => {
        const res = await go("/session.json");
        assert.equal(res.status, 200, `${kind} refused a gateway request`);
        return res.json();
      };
      const first = await view();
      assert.deepEqual([first.id, first.user, first.data], [null, null, {}], "a visitor without a session");
      assert.equal((await go("/login", "user=alice")).status, 303);
      assert.ok(cookie, "the login created a session");
      const in1 = await view();
      assert.equal(in1.user, "alice");
      assert.match(in1.id, /^[0-9a-f-]{36}$/);
      await go("/cart", "item=apple");
      await go("/cart", "item=caf%C3%A9");
      const in2 = await view();
      assert.deepEqual(in2.data, { cart: ["apple", "café"] }, "updates merged, non-ASCII included");
      assert.equal(in2.id, in1.id);
      // The raw path (percent-encoding untouched) is what the assertion signs.
      assert.notEqual((await go("/caf%C3%A9/x?y=%20&z=%2F")).status, 401, "an encoded path verifies");
      if (kind === "django") {
        // USE_X_FORWARDED_HOST and SECURE_PROXY_SSL_HEADER: the client-facing host and scheme.
        assert.deepEqual([in2.host, in2.secure], ["gate.example", true]);
      }
      await go("/logout", "x=1");
      const out = await view();
      assert.deepEqual([out.id, out.user, out.data], [null, null, {}], "logged out: no session");
      assert.equal(cookie, "", "the cookie was cleared");
    });

    it("straight to the app: forged, stale and replayed assertions are refused", async () => {
      // Capture a real assertion: a logged-in request through the gateway.
      let res = await gate.fetch("/login", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "user=bob",
      });
      const cookie = res.headers.getSetCookie().find((l) => l.startsWith("session_id=")).split(";")[0];
      res = await gate.fetch("/session.json?view=1", { headers: { cookie } });
      assert.equal(res.status, 200);
      const captured = recorder.seen.findLast((r) => r.url === "/session.json?view=1").headers;
      const sessionHeaders = Object.fromEntries(
        Object.entries(captured).filter(([k]) => ["x-session-id", "x-session-user-id", "x-session-data", "x-session-assertion"].includes(k)),
      );
      assert.equal(sessionHeaders["x-session-user-id"], "bob");
      const direct = (p, headers, method = "GET") => fetch(`${app}${p}`, { method, headers, redirect: "manual" });
      const refused = async (p, headers, why, method) => {
        const r = await direct(p, headers, method);
        assert.equal(r.status, 401, why);
        const text = await r.text();
        assert.ok(!text.includes("bob") && !text.includes("mallory"), `${why}: no session exposed`);
      };

      // The captured assertion, replayed within its minute to the very request it was
      // made for, is accepted (so the refusals below are for their stated reasons).
      res = await direct("/session.json?view=1", sessionHeaders);
      assert.equal(res.status, 200);
      assert.equal((await res.json()).user, "bob");
      await refused("/session.json?view=2", sessionHeaders, "replayed to another query");
      await refused("/session.json", sessionHeaders, "replayed to another path");
      await refused("/logout", sessionHeaders, "replayed to another method and path", "POST");
      await refused("/session.json?view=1", { ...sessionHeaders, "x-session-user-id": "mallory" }, "user swapped");

      // Assertions signed here, for a session we make up.
      const now = Math.floor(Date.now() / 1000);
      const data = Buffer.from('{"role":"admin"}').toString("base64url");
      const claims = {
        iss: "sessiongate", aud: recorder.host, sub: "mallory", sid: "00000000-0000-4000-8000-000000000000",
        iat: now, exp: now + 60, method: "GET", path: "/session.json",
        data_sha256: createHash("sha256").update(data).digest("base64url"),
      };
      const made = (assertion) => ({
        "x-session-id": claims.sid, "x-session-user-id": "mallory", "x-session-data": data,
        ...(assertion && { "x-session-assertion": assertion }),
      });
      res = await direct("/session.json", made(jwt(claims)));
      assert.equal(res.status, 200, "a well-made assertion (the secret is the test's) is accepted");
      assert.deepEqual((await res.json()).data, { role: "admin" });
      await refused("/session.json", made(null), "missing");
      await refused("/session.json", made(jwt(claims, "another-secret-another-secret-another")), "forged (wrong key)");
      await refused("/session.json", made(jwt({ ...claims, iat: now - 300, exp: now - 240 })), "stale (expired)");
      await refused("/session.json", made(jwt({ ...claims, aud: "elsewhere.example" })), "another audience");
      await refused("/session.json", made(jwt({ ...claims, iss: "someone-else" })), "another issuer");
      const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${jwt(claims).split(".")[1]}.`;
      await refused("/session.json", made(none), "alg none");
    });
  });
}

describe("express middleware: helpers and options, in process", () => {
  it("merges updates, checks user ids, and lets an invalid request through as anonymous when asked", async () => {
    const { sessiongate } = await import("../examples/express/sessiongate.mjs");
    const mw = sessiongate({ secret: ORIGIN_SECRET, audience: "App.Internal:8080", onInvalid: "anonymous" });
    const server = createServer((req, res) => {
      mw(req, res, () => {
        const s = req.sessiongate;
        if (!s) return res.end(JSON.stringify({ anonymous: req.sessiongateError }));
        if (req.url === "/bad-user") {
          try {
            s.login("a, b");
          } catch (e) {
            return res.end(JSON.stringify({ refused: e.message }));
          }
        }
        s.login("carol", { keepData: true }).update({ a: { x: 1 }, b: 1 }).update({ a: { y: 2 }, b: null });
        if (req.url === "/out") s.logout();
        res.end(JSON.stringify({ user: s.user }));
      });
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${server.address().port}`;
    try {
      const now = Math.floor(Date.now() / 1000);
      const signed = (p) => ({
        "x-session-data": "e30",
        "x-session-assertion": jwt({
          iss: "sessiongate", aud: "app.internal:8080", iat: now, exp: now + 60, method: "GET", path: p,
          data_sha256: createHash("sha256").update("e30").digest("base64url"),
        }),
      });
      let res = await fetch(`${base}/in`, { headers: signed("/in") });
      assert.equal(res.headers.get("x-session-user-id"), "carol");
      assert.equal(res.headers.get("x-session-action"), "keep-data");
      assert.deepEqual(JSON.parse(Buffer.from(res.headers.get("x-session-update"), "base64url")), { a: { x: 1, y: 2 }, b: null });
      res = await fetch(`${base}/out`, { headers: signed("/out") });
      assert.deepEqual([res.headers.get("x-session-action"), res.headers.get("x-session-user-id"), res.headers.get("x-session-update")], ["delete", null, null]);
      res = await fetch(`${base}/bad-user`, { headers: signed("/bad-user") });
      assert.match((await res.json()).refused, /comma/);
      res = await fetch(`${base}/in`, { headers: signed("/elsewhere") });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { anonymous: "request" });
      assert.equal(res.headers.get("x-session-user-id"), null);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
