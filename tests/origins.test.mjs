// The origin examples (Node and Python) behind the real gateway: they verify
// X-Session-Assertion with a standard JWT library, and refuse requests whose assertion
// is missing, forged, stale, or does not match the headers it vouches for.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { createHmac, createHash } from "node:crypto";
import path from "node:path";
import { startGateway, ROOT } from "./support/harness.mjs";

const ORIGIN_SECRET = "origin-secret-origin-secret-origin-secret";
const examples = {
  node: [process.execPath, [path.join(ROOT, "examples/origin-node/server.mjs")]],
  python: [path.join(ROOT, ".venv/bin/python"), [path.join(ROOT, "examples/origin-python/app.py")]],
};
const running = [];

/** Starts an example on a free port; resolves once it listens. */
async function startExample(kind, port) {
  const [cmd, args] = examples[kind];
  const child = spawn(cmd, [...args, String(port)], {
    env: { ...process.env, ORIGIN_SECRET, ORIGIN_AUDIENCE: `127.0.0.1:${port}` },
    stdio: ["ignore", "pipe", "inherit"],
  });
  running.push(child);
  await new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => /on http/.test(String(d)) && resolve());
    child.on("exit", (code) => reject(new Error(`${kind} origin exited with ${code}`)));
  });
  return `http://127.0.0.1:${port}`;
}

after(() => running.forEach((c) => c.kill()));

function jwt(claims, secret = ORIGIN_SECRET) {
  const enc = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const body = `${enc({ alg: "HS256", typ: "JWT" })}.${enc(claims)}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

let port = 18790;
for (const kind of Object.keys(examples)) {
  test(`${kind} origin: login, cart and logout through the gateway`, async () => {
    const originUrl = await startExample(kind, port++);
    const gate = await startGateway(originUrl, { ORIGIN_SECRET });
    try {
      let cookie = "";
      const go = async (p, body) => {
        const res = await gate.fetch(p, {
          method: body ? "POST" : "GET",
          headers: { ...(cookie && { cookie }), ...(body && { "content-type": "application/x-www-form-urlencoded" }) },
          body,
        });
        const set = res.headers.getSetCookie().find((l) => l.startsWith("session_id="));
        if (set) cookie = /Max-Age=0/.test(set) ? "" : set.split(";")[0];
        return res;
      };
      const view = async () => {
        const res = await go("/session.json");
        assert.equal(res.status, 200, `${kind} refused a gateway request`);
        return res.json();
      };
      assert.equal((await view()).user, null);
      assert.equal((await go("/login", "user=alice")).status, 303);
      assert.equal((await view()).user, "alice");
      await go("/cart", "item=apple");
      assert.equal((await go("/caf%C3%A9/x?y=%20")).status, 200, "an encoded path verifies");
      await go("/cart", "item=pear");
      assert.deepEqual((await view()).data.cart, ["apple", "pear"]);
      await go("/logout", "x=1");
      const after = await view();
      assert.equal(after.user, null);
      assert.equal(after.id, null);
    } finally {
      await gate.dispose();
    }
  });

  test(`${kind} origin: missing, forged, stale and mismatched assertions are refused`, async () => {
    const originUrl = await startExample(kind, port++);
    const host = new URL(originUrl).host;
    const now = Math.floor(Date.now() / 1000);
    const data = Buffer.from('{"role":"admin"}').toString("base64url");
    const claims = {
      iss: "sessiongate", aud: host, sub: "mallory", sid: "00000000-0000-4000-8000-000000000000",
      iat: now, exp: now + 60, method: "GET", path: "/session.json",
      data_sha256: createHash("sha256").update(data).digest("base64url"),
    };
    const headers = (assertion) => ({
      "x-session-id": claims.sid, "x-session-user-id": "mallory", "x-session-data": data,
      ...(assertion && { "x-session-assertion": assertion }),
    });
    const call = (h) => fetch(`${originUrl}/session.json`, { headers: h });
    // A correct assertion is accepted: the refusals below are for their stated reason.
    assert.equal((await call(headers(jwt(claims)))).status, 200);
    assert.equal((await call(headers(null))).status, 401, "missing");
    assert.equal((await call(headers(jwt(claims, "some-other-secret-some-other-secret")))).status, 401, "forged");
    assert.equal((await call(headers(jwt({ ...claims, iat: now - 300, exp: now - 240 })))).status, 401, "stale");
    assert.equal((await call(headers(jwt({ ...claims, aud: "elsewhere.example" })))).status, 401, "other audience");
    assert.equal((await call({ ...headers(jwt(claims)), "x-session-user-id": "root" })).status, 401, "user swapped");
    assert.equal((await call({ ...headers(jwt(claims)), "x-session-data": "e30" })).status, 401, "data swapped");
    assert.equal((await call(headers(jwt({ ...claims, path: "/other" })))).status, 401, "another request");
    // An assertion minted for another origin, replayed here with that origin's Host.
    const replay = (extra) =>
      new Promise((resolve, reject) => {
        const req = request(`${originUrl}/session.json`, { headers: { ...headers(jwt({ ...claims, aud: "blog.example" })), ...extra } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.on("error", reject);
        req.end();
      });
    assert.equal(await replay({ host: "blog.example" }), 401, "audience is fixed, not the Host header");
    // A percent-encoded path round-trips exactly.
    const encoded = jwt({ ...claims, path: "/session.json?q=caf%C3%A9%20x" });
    assert.equal((await fetch(`${originUrl}/session.json?q=caf%C3%A9%20x`, { headers: headers(encoded) })).status, 200);
  });
}

test("without ORIGIN_SECRET the gateway sends no assertion", async () => {
  const { startOrigin } = await import("./support/harness.mjs");
  const origin = await startOrigin();
  const gate = await startGateway(origin.url);
  try {
    await gate.fetch("/x", { headers: { "x-session-assertion": "forged.by.client" } });
    assert.equal(origin.last().headers["x-session-assertion"], undefined, "the client's copy is stripped too");
  } finally {
    await gate.dispose();
    await origin.close();
  }
});
