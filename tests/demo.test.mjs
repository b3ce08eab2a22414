// The demo page (examples/origin-node/server.mjs, the origin of `npm run dev`) in a real
// browser through the gateway, set up as dev.sh sets it (ORIGIN_SECRET shared, the
// origin's host as ORIGIN_AUDIENCE): it shows what the origin received, the assertion's
// checks, the commands it sent back with what the gateway did, and a forged
// X-Session-User-Id dropped on the way. Screenshots: artifacts/screenshots/demo-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { startGateway, ROOT } from "./support/harness.mjs";
import { launchChromium, screenshot, watchErrors } from "./support/browser.mjs";

const ORIGIN_SECRET = "demo-origin-secret-demo-origin-secret-01";
const WAIT = { timeout: 10_000 };

let child;
let originUrl;
let gate;
let browser;
const errors = [];

async function freePort() {
  const srv = createServer();
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

before(async () => {
  const port = await freePort();
  child = spawn(process.execPath, [path.join(ROOT, "examples/origin-node/server.mjs"), String(port)], {
    env: { ...process.env, ORIGIN_SECRET, ORIGIN_AUDIENCE: `127.0.0.1:${port}` },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => /on http/.test(String(d)) && resolve());
    child.on("exit", (code) => reject(new Error(`demo origin exited with ${code}`)));
  });
  originUrl = `http://127.0.0.1:${port}`;
  gate = await startGateway(originUrl, { ORIGIN_SECRET }, { assets: true, listen: true });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await gate?.dispose();
  child?.kill();
});

/** The text of each element matching `selector`, whitespace collapsed. */
const texts = async (page, selector) =>
  (await page.locator(selector).allTextContents()).map((t) => t.replace(/\s+/g, " ").trim());
/** The received X-Session-* headers the page lists: {name: value}. */
async function received(page) {
  const rows = page.locator("#received tr[data-header]");
  const out = {};
  for (let i = 0; i < (await rows.count()); i++) {
    out[await rows.nth(i).getAttribute("data-header")] = (await rows.nth(i).locator("td").nth(1).textContent()).trim();
  }
  return out;
}
/** Every assertion check on the page: {name: passed}. */
async function checks(page) {
  const items = page.locator("#checks li[data-check]");
  const out = {};
  for (let i = 0; i < (await items.count()); i++) {
    out[await items.nth(i).getAttribute("data-check")] = (await items.nth(i).getAttribute("data-ok")) === "true";
  }
  return out;
}
const ALL_PASSED = Object.fromEntries(
  ["signature", "issuer", "audience", "expiry", "method", "path", "sid", "sub", "data hash"].map((c) => [c, true]),
);

async function submit(page, action, field, value) {
  const formEl = page.locator(`form[action="${action}"]`);
  if (field) await formEl.locator(`input[name="${field}"]`).fill(value);
  await Promise.all([page.waitForURL(/\/$/, WAIT), page.waitForResponse((r) => r.url().endsWith(action), WAIT), formEl.locator("button").click()]);
  await page.waitForLoadState("load");
}

test("demo page: received headers, assertion checks, commands and what the gateway did, a forged header dropped", async () => {
  const context = await browser.newContext({ baseURL: gate.url });
  const page = watchErrors(await context.newPage(), errors);

  // A first visit: no session yet; the origin lists what it got and every check passes.
  await page.goto("/");
  let got = await received(page);
  assert.equal(got["x-session-new"], "1");
  assert.equal(got["x-session-store"], "d1");
  assert.equal(got["x-session-data"], "e30");
  assert.ok(got["x-session-assertion"]?.split(".").length === 3, "the assertion is listed");
  assert.equal(got["x-session-id"], undefined, "no session id before anything is written");
  assert.deepEqual(await checks(page), ALL_PASSED);
  assert.equal(await page.getAttribute("#verdict", "data-valid"), "true");
  assert.equal(await page.textContent("#assertion tr[data-claim=\"aud\"] td:nth-child(2) code"), new URL(originUrl).host);
  assert.equal(await page.locator("#no-commands").isVisible(), true);
  await screenshot(page, "demo-01-first-visit");

  // A visitor's cart: the update command creates the session.
  await submit(page, "/cart", "item", "apple");
  assert.deepEqual(await texts(page, "#last tr[data-command] td:first-child"), ["X-Session-Update"]);
  let outcome = await texts(page, "#outcome li");
  assert.equal(outcome.length, 1);
  assert.match(outcome[0], /^✓ data merged: \{"cart":\["apple"\]\} saved in the session row; new session [0-9a-f]{8}… created, cookie set$/);
  const visitorSid = (await page.textContent("#sid")).trim();
  assert.match(visitorSid, /^[0-9a-f-]{36}$/);
  assert.equal((await received(page))["x-session-id"], visitorSid);
  assert.deepEqual(JSON.parse(await page.textContent("#data")), { cart: ["apple"] });
  await screenshot(page, "demo-02-cart");

  // Log in: the id is cycled, the visitor's cart kept.
  await submit(page, "/login", "user", "alice");
  assert.equal(await page.textContent("#user"), "alice");
  assert.deepEqual(await texts(page, "#last tr[data-command] td"), ["X-Session-User-Id", "alice"]);
  outcome = await texts(page, "#outcome li");
  const sid = (await page.textContent("#sid")).trim();
  assert.notEqual(sid, visitorSid);
  assert.deepEqual(outcome, [
    `✓ logged in as alice: id cycled ${visitorSid.slice(0, 8)}… → ${sid.slice(0, 8)}… (no id from before the login carries it)`,
    "✓ data kept: the visitor's cart survived the login",
  ]);
  got = await received(page);
  assert.equal(got["x-session-user-id"], "alice");
  assert.equal(got["x-session-new"], "0");
  assert.equal(await page.textContent("#assertion tr[data-claim=\"sub\"] td:nth-child(2) code"), "alice");
  assert.equal(await page.textContent("#assertion tr[data-claim=\"sid\"] td:nth-child(2) code"), sid);
  assert.deepEqual(await checks(page), ALL_PASSED);
  assert.deepEqual((await gate.rows()).map((r) => [r.id, r.user_id]), [[sid, "alice"]], "one D1 row, the cycled id");
  await screenshot(page, "demo-03-logged-in");

  // The forged headers: the origin never sees them, only the gateway's own values.
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/inspect.json"), WAIT),
    page.click("#forge-button"),
  ]);
  const seen = await answer.json();
  const byName = Object.fromEntries(seen.received.map((h) => [h.name, h.value]));
  assert.equal(byName["x-session-user-id"], "alice", "the real user, not admin");
  assert.equal(byName["x_session_user_id"], undefined, "the underscore spelling never arrives");
  assert.notEqual(byName["x-session-data"], "eyJyb2xlIjoiYWRtaW4ifQ");
  assert.equal(seen.assertion.valid, true);
  await page.locator("#forge-summary").waitFor(WAIT);
  assert.equal(await page.getAttribute("#forge-summary", "data-dropped"), "true");
  assert.deepEqual(await page.locator("#forge-result tr[data-dropped]").evaluateAll((rows) => rows.map((r) => r.dataset.dropped)), ["true", "true", "true"]);
  assert.match(await page.textContent("#forge-summary"), /Every forged header was dropped: the origin saw the real user, alice, and the assertion verified\./);
  await screenshot(page, "demo-04-forged-header-dropped");

  // Log out: the row is deleted and the cookie cleared, as the next request shows.
  await submit(page, "/logout");
  assert.deepEqual(await texts(page, "#outcome li"), ["✓ logged out: row deleted, cookie cleared (this request arrived without a session)"]);
  assert.equal(await page.textContent("#user"), "anonymous");
  assert.equal((await page.textContent("#sid")).trim(), "none yet");
  assert.equal((await received(page))["x-session-id"], undefined);
  assert.deepEqual(await gate.rows(), []);
  assert.ok(!(await context.cookies()).some((c) => c.name === "session_id"), "the session cookie is gone");
  await screenshot(page, "demo-05-logged-out");

  // Straight to the origin, past the gateway: refused, and the page says which check failed.
  const direct = await page.goto(originUrl + "/");
  assert.equal(direct.status(), 401);
  assert.deepEqual(await checks(page), { present: false });
  await screenshot(page, "demo-06-direct-to-origin-refused");

  await context.close();
  assert.deepEqual(errors, []);
});
