// A demo origin behind sessiongate: reads the session from X-Session-* headers and
// changes it with response headers. With ORIGIN_SECRET set it trusts those headers only
// after verifying X-Session-Assertion (a standard HS256 JWT) with `jose`.
//   ORIGIN_SECRET=... ORIGIN_AUDIENCE=host:port node examples/origin-node/server.mjs [port]
// (default port 8788, loopback). ORIGIN_AUDIENCE is this origin's host as the gateway
// reaches it (the host of its ORIGIN_URL): a fixed value, never the request's own Host.
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { jwtVerify } from "jose";

const port = Number(process.argv[2] ?? process.env.PORT ?? 8788);
const secret = process.env.ORIGIN_SECRET ? new TextEncoder().encode(process.env.ORIGIN_SECRET) : null;
const issuer = process.env.SESSIONGATE_ISSUER ?? "sessiongate";
const audience = process.env.ORIGIN_AUDIENCE ?? `127.0.0.1:${port}`;

/** The session sessiongate vouches for, or null when the assertion does not check out. */
async function session(req) {
  const data = req.headers["x-session-data"] ?? "";
  if (secret) {
    const token = req.headers["x-session-assertion"];
    if (!token) return null;
    try {
      const { payload } = await jwtVerify(token, secret, {
        algorithms: ["HS256"],
        issuer,
        audience,
        requiredClaims: ["exp", "iat"],
      });
      const digest = createHash("sha256").update(data).digest("base64url");
      if (payload.method !== req.method || payload.path !== req.url || payload.data_sha256 !== digest) return null;
      if ((payload.sid ?? null) !== (req.headers["x-session-id"] ?? null)) return null;
      if ((payload.sub ?? null) !== (req.headers["x-session-user-id"] ?? null)) return null;
    } catch {
      return null;
    }
  }
  return {
    id: req.headers["x-session-id"] ?? null,
    user: req.headers["x-session-user-id"] ?? null,
    store: req.headers["x-session-store"] ?? null,
    expiresAt: req.headers["x-session-expires-at"] ?? null,
    data: data ? JSON.parse(Buffer.from(data, "base64url").toString("utf8")) : {},
  };
}

async function form(req) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(s) {
  const cart = Array.isArray(s.data.cart) ? s.data.cart : [];
  return `<!doctype html><meta charset="utf-8"><title>demo origin</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style>
<h1>Demo origin behind sessiongate</h1>
<p>Session: <code>${escape(s.id ?? "none yet")}</code> (store ${escape(s.store)}, expires ${escape(s.expiresAt ?? "-")})</p>
<p>User: <b>${escape(s.user ?? "anonymous")}</b></p>
<p>Cart: ${cart.length ? cart.map(escape).join(", ") : "empty"}</p>
<form method="post" action="/login"><input name="user" placeholder="user name" required> <button>Log in</button></form>
<form method="post" action="/cart"><input name="item" placeholder="item" required> <button>Add to cart</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
<p><a href="/__session/sessions/">Your sessions</a> · <a href="/__session/admin/">Admin dashboard</a> · <a href="/__session/">gateway status</a></p>`;
}

createServer(async (req, res) => {
  const s = await session(req);
  if (!s) {
    res.writeHead(401, { "content-type": "text/plain" }).end("session assertion missing or invalid\n");
    return;
  }
  const back = { location: "/", "content-type": "text/plain" };
  if (req.method === "POST" && req.url === "/login") {
    const user = (await form(req)).get("user") ?? "";
    res.writeHead(303, { ...back, "x-session-user-id": user }).end("logged in\n");
  } else if (req.method === "POST" && req.url === "/cart") {
    const item = (await form(req)).get("item") ?? "";
    const cart = [...(Array.isArray(s.data.cart) ? s.data.cart : []), item];
    res.writeHead(303, { ...back, "x-session-update": JSON.stringify({ cart }) }).end("added\n");
  } else if (req.method === "POST" && req.url === "/logout") {
    res.writeHead(303, { ...back, "x-session-action": "delete" }).end("logged out\n");
  } else if (req.url === "/session.json") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(s));
  } else {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page(s));
  }
}).listen(port, "127.0.0.1", () => console.log(`demo origin on http://127.0.0.1:${port}`));
