// A demo origin behind sessiongate: reads the session from X-Session-* headers and
// changes it with response headers. With ORIGIN_SECRET set it trusts those headers only
// after verifying X-Session-Assertion (a standard HS256 JWT) with `jose`.
//   ORIGIN_SECRET=... ORIGIN_AUDIENCE=host:port node examples/origin-node/server.mjs [port]
// (default port 8788, loopback). ORIGIN_AUDIENCE is this origin's host as the gateway
// reaches it (the host of its ORIGIN_URL): a fixed value, never the request's own Host.
//
// Its page teaches what happens between browser, gateway and origin: every X-Session-*
// header this request carried, the data decoded, the assertion's claims with each check,
// the commands the origin sent back on its last response and what the gateway did with
// them, and a button that sends a forged X-Session-User-Id (the gateway drops it).
import { createServer } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { jwtVerify, compactVerify, decodeJwt } from "jose";

const port = Number(process.argv[2] ?? process.env.PORT ?? 8788);
const secret = process.env.ORIGIN_SECRET ? new TextEncoder().encode(process.env.ORIGIN_SECRET) : null;
const issuer = process.env.SESSIONGATE_ISSUER ?? "sessiongate";
const audience = process.env.ORIGIN_AUDIENCE ?? `127.0.0.1:${port}`;
const script = readFileSync(new URL("./demo.js", import.meta.url));

const sha256 = (s) => createHash("sha256").update(s).digest("base64url");
const short = (id) => (id ? `${id.slice(0, 8)}…` : "none");

/** Every check of X-Session-Assertion against this request, each passed or failed. */
async function checkAssertion(req) {
  const token = req.headers["x-session-assertion"];
  const data = req.headers["x-session-data"] ?? "";
  if (!secret) return { present: Boolean(token), claims: null, checks: [], valid: true };
  if (!token) {
    return { present: false, claims: null, checks: [{ name: "present", ok: false, detail: "no X-Session-Assertion: not sent by the gateway" }], valid: false };
  }
  let claims = null;
  try {
    claims = decodeJwt(token);
  } catch {
    return { present: true, claims: null, checks: [{ name: "present", ok: false, detail: "not a JWT" }], valid: false };
  }
  const now = Math.floor(Date.now() / 1000);
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok: Boolean(ok), detail });
  let signed = false;
  try {
    await compactVerify(token, secret, { algorithms: ["HS256"] });
    signed = true;
  } catch {}
  check("signature", signed, signed ? "HS256 with ORIGIN_SECRET" : "does not verify with ORIGIN_SECRET");
  check("issuer", claims.iss === issuer, `iss ${JSON.stringify(claims.iss)}, expected ${JSON.stringify(issuer)}`);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  check("audience", aud.includes(audience), `aud ${JSON.stringify(claims.aud)}, expected ${JSON.stringify(audience)} (this origin, a fixed setting)`);
  const fresh = Number.isFinite(claims.exp) && Number.isFinite(claims.iat) && claims.exp > now;
  check("expiry", fresh, Number.isFinite(claims.exp) ? (claims.exp > now ? `expires in ${claims.exp - now} s` : `expired ${now - claims.exp} s ago`) : "no exp");
  check("method", claims.method === req.method, `${claims.method} for this ${req.method}`);
  check("path", claims.path === req.url, `${claims.path} for this ${req.url}`);
  const sid = req.headers["x-session-id"] ?? null;
  check("sid", (claims.sid ?? null) === sid, `sid ${claims.sid ?? "(none)"}, X-Session-Id ${sid ?? "(none)"}`);
  const user = req.headers["x-session-user-id"] ?? null;
  check("sub", (claims.sub ?? null) === user, `sub ${claims.sub ?? "(none)"}, X-Session-User-Id ${user ?? "(none)"}`);
  const digest = sha256(data);
  check("data hash", claims.data_sha256 === digest, claims.data_sha256 === digest ? "SHA-256 of X-Session-Data matches data_sha256" : `data_sha256 ${claims.data_sha256}, X-Session-Data hashes to ${digest}`);
  let valid = checks.every((c) => c.ok);
  if (valid) {
    // The same verdict from the library's own checks (signature, iss, aud, exp, iat).
    try {
      await jwtVerify(token, secret, { algorithms: ["HS256"], issuer, audience, requiredClaims: ["exp", "iat"] });
    } catch {
      valid = false;
    }
  }
  return { present: true, claims, checks, valid };
}

function decodeData(raw) {
  if (!raw) return {};
  try {
    return JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    return null;
  }
}

/** What this request carried: its X-Session-* headers (any spelling), data decoded, the assertion. */
async function inspect(req) {
  const received = Object.entries(req.headers)
    .filter(([name]) => /^x[-_]session[-_]/i.test(name))
    .map(([name, value]) => ({ name, value: String(value) }));
  return { received, data: decodeData(req.headers["x-session-data"]), assertion: await checkAssertion(req) };
}

/** The session sessiongate vouches for (from an `inspect` result), or null. */
function session(req, seen) {
  if (!seen.assertion.valid) return null;
  return {
    id: req.headers["x-session-id"] ?? null,
    user: req.headers["x-session-user-id"] ?? null,
    store: req.headers["x-session-store"] ?? null,
    expiresAt: req.headers["x-session-expires-at"] ?? null,
    data: seen.data ?? {},
  };
}

// --- the inspector: what this browser's last commands did ------------------------------
// The gateway strips the command headers from the response, so the browser never sees
// them; the origin remembers what it asked per browser (its own cookie, which the gateway
// passes through) and reads the outcome from the session of that browser's next request.
const INSPECTOR_COOKIE = "demo_inspector";
const inspectors = new Map();

function inspectorId(req) {
  const m = /(?:^|;\s*)demo_inspector=([0-9a-f]{32})(?:;|$)/.exec(req.headers.cookie ?? "");
  return m ? m[1] : null;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** What the gateway did with `last.commands`, judged from the session `now`. */
function outcome(last, now) {
  const { before, commands } = last;
  const lines = [];
  const say = (ok, text) => lines.push({ ok, text });
  const actions = (commands["X-Session-Action"] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (actions.includes("delete")) {
    if (!now.id && !now.user) say(true, "logged out: row deleted, cookie cleared (this request arrived without a session)");
    else say(false, `not logged out: this request still has session ${short(now.id)} (${now.user ?? "anonymous"})`);
  }
  if ("X-Session-User-Id" in commands) {
    const user = commands["X-Session-User-Id"];
    if (now.user !== user) say(false, `login as ${user} not applied: this request is ${now.user ?? "anonymous"}`);
    else if (!before.id) say(true, `logged in as ${user}: new session ${short(now.id)} created, cookie set`);
    else if (now.id !== before.id) say(true, `logged in as ${user}: id cycled ${short(before.id)} → ${short(now.id)} (no id from before the login carries it)`);
    else say(false, `logged in as ${user}, but the id was not cycled`);
    const cart = before.data?.cart;
    if (now.user === user && Array.isArray(cart) && cart.length && !before.user) {
      say(same(now.data.cart, cart), same(now.data.cart, cart) ? "data kept: the visitor's cart survived the login" : "the visitor's cart was not kept");
    }
  }
  if ("X-Session-Update" in commands) {
    let patch = {};
    try {
      patch = JSON.parse(commands["X-Session-Update"]);
    } catch {}
    const applied = Object.entries(patch).every(([k, v]) => (v === null ? !(k in now.data) : same(now.data[k], v)));
    const created = !before.id && now.id ? `; new session ${short(now.id)} created, cookie set` : "";
    say(applied, applied ? `data merged: ${JSON.stringify(patch)} saved in the session row${created}` : `update ${JSON.stringify(patch)} not found in this request's data`);
  }
  return lines;
}

/** Records the commands of a response for this browser's inspector. */
function remember(id, req, status, commands, s) {
  if (!id) return;
  inspectors.set(id, {
    request: `${req.method} ${req.url}`,
    status,
    commands,
    before: { id: s.id, user: s.user, data: s.data },
    outcome: null,
  });
  if (inspectors.size > 1000) inspectors.delete(inspectors.keys().next().value);
}

/** The last commands of this browser, with their outcome judged on its first request since. */
function lastCommands(id, s) {
  const last = id ? inspectors.get(id) : null;
  if (last && !last.outcome && s) last.outcome = outcome(last, s);
  return last ?? null;
}

async function form(req) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const mark = (ok) => (ok ? '<span class="ok">✓ passed</span>' : '<span class="bad">✗ failed</span>');

function receivedSection(seen) {
  const rows = seen.received
    .map((h) => `<tr data-header="${escape(h.name)}"><td><code>${escape(h.name)}</code></td><td><code>${escape(h.value)}</code></td></tr>`)
    .join("");
  return `<section id="received"><h2>What the origin received on this request</h2>
<p>Every <code>X-Session-*</code> header of this request, as the gateway set it (any that a browser sent was deleted first).</p>
<table><thead><tr><th>header</th><th>value</th></tr></thead><tbody>${rows || '<tr><td colspan="2">none</td></tr>'}</tbody></table>
<h3>X-Session-Data, decoded (base64url JSON)</h3>
<pre id="data">${escape(seen.data === null ? "(not valid base64url JSON)" : JSON.stringify(seen.data, null, 2))}</pre></section>`;
}

function assertionSection(a) {
  if (!secret) {
    return `<section id="assertion"><h2>The assertion</h2><p>No <code>ORIGIN_SECRET</code> here: this origin does not verify <code>X-Session-Assertion</code>, and must be reachable only through the gateway.</p></section>`;
  }
  const claims = a.claims
    ? Object.entries(a.claims)
        .map(([k, v]) => {
          const when = (k === "iat" || k === "exp") && Number.isFinite(v) ? ` (${new Date(v * 1000).toISOString()})` : "";
          return `<tr data-claim="${escape(k)}"><td><code>${escape(k)}</code></td><td><code>${escape(typeof v === "string" ? v : JSON.stringify(v))}</code>${escape(when)}</td></tr>`;
        })
        .join("")
    : "";
  const checks = a.checks
    .map((c) => `<li data-check="${escape(c.name)}" data-ok="${c.ok}">${mark(c.ok)} <b>${escape(c.name)}</b>: ${escape(c.detail)}</li>`)
    .join("");
  return `<section id="assertion"><h2>The assertion: <code>X-Session-Assertion</code></h2>
<p>A JWT (HS256, signed with <code>ORIGIN_SECRET</code>) vouching for the headers above. The origin accepts the request only when every check passes
(a request straight to this origin's port, past the gateway, gets 401).</p>
${claims ? `<table><thead><tr><th>claim</th><th>value</th></tr></thead><tbody>${claims}</tbody></table>` : ""}
<ul id="checks">${checks}</ul>
<p id="verdict" data-valid="${a.valid}">${a.valid ? mark(true) + " every check passed: the session headers are the gateway's" : mark(false) + " refused"}</p></section>`;
}

function lastSection(last) {
  if (!last) {
    return `<section id="last"><h2>Commands sent back</h2><p id="no-commands">None yet. Log in, add to the cart or log out: the origin answers with response headers (<code>X-Session-User-Id</code>, <code>X-Session-Update</code>, <code>X-Session-Action</code>) that the gateway applies and strips, so the browser's devtools never show them. They appear here, with what the gateway did.</p></section>`;
  }
  const sent = Object.entries(last.commands)
    .map(([k, v]) => `<tr data-command="${escape(k)}"><td><code>${escape(k)}</code></td><td><code>${escape(v)}</code></td></tr>`)
    .join("");
  const did = (last.outcome ?? []).map((o) => `<li data-ok="${o.ok}">${o.ok ? "✓" : "✗"} ${escape(o.text)}</li>`).join("");
  return `<section id="last"><h2>Commands sent back on the last response</h2>
<p>To <code>${escape(last.request)}</code> the origin answered ${escape(last.status)} with (the gateway removed these before the browser saw the response):</p>
<table><thead><tr><th>response header</th><th>value</th></tr></thead><tbody>${sent}</tbody></table>
<h3>What the gateway did</h3><p>Read from the session this browser brought on its next request:</p><ul id="outcome">${did}</ul></section>`;
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
section{border-top:1px solid #ddd;margin-top:1.5rem}table{border-collapse:collapse;width:100%;font-size:13px}
td,th{text-align:left;border-bottom:1px solid #eee;padding:.2rem .5rem;vertical-align:top}td code{word-break:break-all}
#received td:first-child{white-space:nowrap}
pre{background:#f6f6f6;padding:.5rem;overflow:auto}.ok{color:#17702a;font-weight:600}.bad{color:#b3261e;font-weight:600}
ul{padding-left:1.2rem}form{display:inline-block;margin:.2rem .5rem .2rem 0}`;

function page(s, seen, last) {
  const cart = Array.isArray(s.data.cart) ? s.data.cart : [];
  return `<!doctype html><meta charset="utf-8"><title>demo origin</title>
<style>${STYLE}</style>
<h1>Demo origin behind sessiongate</h1>
<p>This page is the app behind the gateway. It shows what it received from the gateway, and what the gateway did with what it asked for.</p>
<p>Session: <code id="sid">${escape(s.id ?? "none yet")}</code> (store ${escape(s.store)}, expires ${escape(s.expiresAt ?? "-")})</p>
<p>User: <b id="user">${escape(s.user ?? "anonymous")}</b></p>
<p>Cart: <span id="cart">${cart.length ? cart.map(escape).join(", ") : "empty"}</span></p>
<form method="post" action="/login"><input name="user" placeholder="user name" required> <button>Log in</button></form>
<form method="post" action="/cart"><input name="item" placeholder="item" required> <button>Add to cart</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
${lastSection(last)}
${receivedSection(seen)}
${assertionSection(seen.assertion)}
<section id="forge"><h2>Try to forge a header</h2>
<p>This button fetches this origin's <code>/inspect.json</code> through the gateway with
<code>X-Session-User-Id: admin</code>, <code>X_Session_User_Id: root</code> and a forged <code>X-Session-Data</code>.
The gateway deletes every <code>X-Session-*</code> header a client sends (any case, <code>_</code> for <code>-</code>) before it sets its own.</p>
<button id="forge-button" type="button">Send a forged X-Session-User-Id</button>
<div id="forge-result" aria-live="polite"></div></section>
<section id="behind"><h2>Behind the gateway</h2>
<p><a href="/__session/sessions/">Your sessions</a> · <a href="/__session/admin/">Admin dashboard</a> · <a href="/__session/">gateway status</a></p>
<p>In a terminal: <code>npm run sessions</code> (the D1 rows), <code>npm run signals -- --follow</code> (lifecycle signals as they arrive).</p></section>
<script src="/demo.js" defer></script>`;
}

function refusedPage(seen) {
  return `<!doctype html><meta charset="utf-8"><title>demo origin: refused</title>
<style>${STYLE}</style>
<h1>401: this request did not come through the gateway</h1>
<p>The origin refuses it: its session headers are not vouched for by a valid assertion. Open the gateway's address instead.</p>
${assertionSection(seen.assertion)}
${receivedSection(seen)}`;
}

createServer(async (req, res) => {
  if (req.url === "/demo.js") {
    res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(script);
    return;
  }
  const seen = await inspect(req);
  const s = session(req, seen);
  if (!s) {
    if (req.method === "GET" && /text\/html/.test(req.headers.accept ?? "")) {
      res.writeHead(401, { "content-type": "text/html; charset=utf-8" }).end(refusedPage(seen));
    } else {
      res.writeHead(401, { "content-type": "text/plain" }).end("session assertion missing or invalid\n");
    }
    return;
  }
  let inspector = inspectorId(req);
  const headers = {};
  if (!inspector) {
    inspector = randomBytes(16).toString("hex");
    headers["set-cookie"] = `${INSPECTOR_COOKIE}=${inspector}; Path=/; HttpOnly; SameSite=Lax`;
  }
  const last = lastCommands(inspectorId(req), s);
  const back = { ...headers, location: "/", "content-type": "text/plain" };
  const command = (commands, body) => {
    remember(inspector, req, 303, commands, s);
    res.writeHead(303, { ...back, ...commands }).end(body);
  };
  if (req.method === "POST" && req.url === "/login") {
    const user = (await form(req)).get("user") ?? "";
    command({ "X-Session-User-Id": user }, "logged in\n");
  } else if (req.method === "POST" && req.url === "/cart") {
    const item = (await form(req)).get("item") ?? "";
    const cart = [...(Array.isArray(s.data.cart) ? s.data.cart : []), item];
    command({ "X-Session-Update": JSON.stringify({ cart }) }, "added\n");
  } else if (req.method === "POST" && req.url === "/logout") {
    command({ "X-Session-Action": "delete" }, "logged out\n");
  } else if (req.url === "/session.json") {
    res.writeHead(200, { ...headers, "content-type": "application/json" }).end(JSON.stringify(s));
  } else if (req.url === "/inspect.json") {
    const body = { session: s, received: seen.received, data: seen.data, assertion: { claims: seen.assertion.claims, checks: seen.assertion.checks, valid: seen.assertion.valid }, last };
    res.writeHead(200, { ...headers, "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(body));
  } else {
    res.writeHead(200, { ...headers, "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(page(s, seen, last));
  }
}).listen(port, "127.0.0.1", () => console.log(`demo origin on http://127.0.0.1:${port}`));
