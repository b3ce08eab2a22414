// The pages under /__session/ in a real browser (Debian's Chromium, headless, driven by
// playwright-core): "Your sessions" ends another device's session, and the admin
// dashboard ends this one. The gateway serves www/ through its ASSETS binding on a
// loopback port; the origin logs users in with the X-Session-User-Id response command.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { startOrigin, startGateway, ADMIN_TOKEN, ROOT } from "./support/harness.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = path.join(ROOT, "artifacts/screenshots");
const WAIT = { timeout: 10_000 };
// Another device, told apart by its User-Agent.
const FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0";

let origin;
let gate;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  origin = await startOrigin();
  // GET /login?user=NAME logs NAME in; every page says who the origin sees.
  origin.respond = (rec) => {
    const url = new URL(rec.url, "http://origin");
    const user = rec.headers["x-session-user-id"] ?? "anonymous";
    if (url.pathname === "/login") {
      const name = url.searchParams.get("user");
      return { status: 200, headers: { "content-type": "text/html", "x-session-user-id": name }, body: `<p id="who">logged in: ${name}</p>` };
    }
    return { status: 200, headers: { "content-type": "text/html" }, body: `<p id="who">user: ${user}</p>` };
  };
  gate = await startGateway(origin.url, {}, { assets: true, listen: true });
  // Playwright starts Chromium with a fresh temporary profile (user data dir) each launch.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await gate?.dispose();
  await origin?.close();
});

// Script errors and CSP violations of every page (a failed fetch's status is not one).
const errors = [];
const dialogs = [];
function watch(page) {
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("dialog", (d) => { dialogs.push(`${d.type()}: ${d.message()}`); d.accept(); }); // confirm() before a revoke
  return page;
}

const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

/** A new browser (own cookie jar) logged in as `user` at the origin, through the gateway. */
async function device(user, options = {}) {
  const context = await browser.newContext({ baseURL: gate.url, ...options });
  const page = watch(await context.newPage());
  await page.goto(`/login?user=${user}`);
  assert.equal(await page.textContent("#who"), `logged in: ${user}`);
  assert.ok((await context.cookies()).some((c) => c.name === "session_id"), "the browser kept the session cookie");
  return page;
}

/** Who the origin sees on this browser's next request (its page and its headers agree). */
let visits = 0;
async function whoAmI(page) {
  const url = `/whoami?visit=${++visits}`; // the browser's own requests (favicon) interleave
  await page.goto(url);
  const seen = origin.seen.find((r) => r.url === url);
  const who = await page.textContent("#who");
  assert.equal(who, `user: ${seen.headers["x-session-user-id"] ?? "anonymous"}`);
  return who;
}

let a; // device A, ann: stays logged in through the first test, is revoked by the admin
let handleA;

test("Your sessions: both devices listed, the other one signed out from this one", async () => {
  a = await device("ann");
  const b = await device("ann", { userAgent: FIREFOX_WINDOWS });

  const served = await a.goto("/__session/sessions/");
  assert.match(served.headers()["content-security-policy"], /script-src 'self'.*frame-ancestors 'none'/, "www/_headers applies");
  const rows = a.locator("tbody tr[data-handle]");
  await rows.nth(1).waitFor(WAIT);
  assert.equal(await rows.count(), 2);
  const current = a.locator('tr[data-current="true"]');
  assert.equal(await current.count(), 1);
  assert.match(await current.textContent(), /This device/);
  handleA = await current.getAttribute("data-handle");
  const other = a.locator("tbody tr[data-handle]:not([data-current])");
  assert.equal(await current.locator('[data-action="revoke"]').count(), 0, "no Sign out on this device's row");
  // The device from the User-Agent; the place as the API has it (Miniflare's stand-in
  // request.cf); the network is the loopback client's /24, never its address.
  assert.match(await other.locator("td").first().textContent(), /^Firefox on Windows$/);
  assert.match(await current.locator("td").first().textContent(), /^Headless Chrome on Linux\s*This device$/);
  const { sessions } = await a.evaluate(() => fetch("/__session/api/sessions").then((r) => r.json()));
  const mine = sessions.find((s) => s.current);
  const where = [mine.city, mine.country].filter(Boolean).join(", ") || "unknown";
  const location = await current.locator("td").nth(1).textContent();
  assert.ok(location.startsWith(where), `${location} starts with ${where}`);
  assert.ok(location.includes("127.0.0.0/24") && !location.includes("127.0.0.1"), location);
  assert.equal(await a.locator('[data-action="revoke-others"]').isVisible(), true);
  await shot(a, "01-sessions-two-devices");

  await other.locator('[data-action="revoke"]').click();
  await a.locator("#status", { hasText: "Signed out" }).waitFor(WAIT);
  assert.match(dialogs.pop(), /^confirm: Sign out the session on /);
  await a.waitForFunction(() => document.querySelectorAll("tbody tr[data-handle]").length === 1, null, WAIT);
  assert.equal(await a.getAttribute("tbody tr[data-handle]", "data-handle"), handleA);
  assert.equal(await a.locator('[data-action="revoke-others"]').isVisible(), false, "nothing else to sign out");
  await shot(a, "02-sessions-after-sign-out");

  assert.equal(await whoAmI(b), "user: anonymous");
  assert.equal(await whoAmI(a), "user: ann");
  await b.goto("/__session/sessions/");
  await b.locator("#problem-text", { hasText: "You are not logged in." }).waitFor(WAIT);
  assert.equal(await b.locator("#list").isVisible(), false);
  await shot(b, "03-sessions-logged-out");
  await b.context().close();
  assert.deepEqual(errors, []);
});

test("admin dashboard: a wrong token is refused; A's session found by user and revoked", async () => {
  assert.ok(a && handleA, "the first test left A logged in");
  const bob = await device("bob"); // another user: the search must leave him out
  const admin = watch(await (await browser.newContext({ baseURL: gate.url })).newPage());
  await admin.goto("/__session/admin/");
  await admin.fill("#token", "not-the-token");
  await admin.click('#signin button[type="submit"]');
  await admin.locator("#signin-error", { hasText: /wrong token/i }).waitFor(WAIT);
  assert.equal(await admin.evaluate(() => sessionStorage.length), 0, "a refused token is not kept");
  await shot(admin, "04-admin-wrong-token");

  await admin.fill("#token", ADMIN_TOKEN);
  await admin.click('#signin button[type="submit"]');
  await admin.locator("#dashboard").waitFor({ state: "visible", ...WAIT });
  const kept = await admin.evaluate(() => ({ session: Object.values(sessionStorage), local: localStorage.length, cookie: document.cookie }));
  assert.deepEqual(kept, { session: [ADMIN_TOKEN], local: 0, cookie: "" }, "the token is in sessionStorage only");
  await admin.locator("#health tr[data-check]").first().waitFor(WAIT);
  const checks = await admin.locator("#health tr[data-check]").evaluateAll((trs) =>
    Object.fromEntries(trs.map((tr) => [tr.dataset.check, tr.cells[2].textContent])));
  for (const ok of ["status", "config", "d1", "queue", "origin"]) assert.equal(checks[ok], "ok", `${ok}: ${JSON.stringify(checks)}`);
  await admin.locator("#signals tr").first().waitFor(WAIT);

  await admin.getByLabel("User", { exact: true }).fill("ann");
  await admin.click('#search button[type="submit"]');
  const rowA = admin.locator(`#sessions tr[data-handle="${handleA}"]`);
  await rowA.waitFor(WAIT);
  // The unfiltered table may still be on screen: wait for the search's answer to replace it.
  await admin.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#sessions tr[data-handle]")];
    return rows.length > 0 && rows.every((tr) => tr.dataset.user === "ann");
  }, null, WAIT).catch(() => {});
  const users = await admin.locator("#sessions tr[data-handle]").evaluateAll((trs) => trs.map((tr) => tr.dataset.user));
  assert.deepEqual(users, ["ann"], "ann's one live session, bob's left out");
  await shot(admin, "05-admin-search");

  await rowA.locator('[data-action="revoke"]').click();
  await admin.locator("#status", { hasText: "Revoked" }).waitFor(WAIT);
  assert.match(dialogs.pop(), /^confirm: Revoke this session of ann/);
  await rowA.waitFor({ state: "detached", ...WAIT });
  await shot(admin, "06-admin-after-revoke");

  assert.equal(await whoAmI(a), "user: anonymous", "A is logged out");
  assert.equal(await whoAmI(bob), "user: bob", "bob is untouched");

  await admin.getByLabel("User", { exact: true }).fill("bob");
  await admin.click('#search button[type="submit"]');
  await admin.locator("#sessions tr[data-user=bob]").first().waitFor(WAIT);
  await admin.locator("#sessions tr[data-user=bob] [data-action=revoke-user]").first().click();
  await admin.locator("#status", { hasText: "Revoked 1 session of bob" }).waitFor(WAIT);
  assert.match(dialogs.pop(), /^confirm: Revoke every session of user “bob”/);
  assert.equal(await admin.locator("#sessions tr[data-handle]").count(), 0);
  assert.equal(await whoAmI(bob), "user: anonymous", "bob is logged out everywhere");

  await admin.click('[data-action="sign-out"]');
  await admin.locator("#token").waitFor({ state: "visible", ...WAIT });
  assert.equal(await admin.evaluate(() => sessionStorage.length), 0, "signing out forgets the token");
  assert.deepEqual(errors, []);
});
