// sessiongate middleware for Express (4 or 5) and plain node:http: trusts the session
// headers sessiongate adds only after verifying X-Session-Assertion, and gives helpers
// that send the session commands back. No dependencies (node:crypto); copy this file.
//
//   import { sessiongate } from "./sessiongate.mjs";
//   app.use(sessiongate({ secret: process.env.ORIGIN_SECRET, audience: "app.internal:8080" }));
//   app.get("/", (req, res) => res.send(req.sessiongate.user ?? "anonymous"));
//   app.post("/login", (req, res) => { req.sessiongate.login("alice"); res.redirect(303, "/"); });
//
// A request whose assertion is missing, forged, expired, for another audience, for another
// request (method, raw path) or whose X-Session-* headers do not match it is refused with
// 401 and never reaches the app (`onInvalid: "anonymous"` lets it through with
// `req.sessiongate = null` instead).
import { createHmac, createHash, timingSafeEqual } from "node:crypto";

const MAX_USER_ID_BYTES = 256;

/**
 * Verifies the assertion of one request. `headers` as node gives them (lower-case names),
 * `method` and `rawPath` (the request target exactly as sent: `req.originalUrl` in
 * Express, `req.url` in node:http). Returns `{ ok: true, claims }` or `{ ok: false, reason }`.
 */
export function verifyAssertion(headers, method, rawPath, options) {
  const { secret, audience, issuer = "sessiongate", prefix = "x-session-", leeway = 0 } = options;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const token = headers[`${prefix}assertion`];
  if (typeof token !== "string" || !token) return { ok: false, reason: "missing" };
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) return { ok: false, reason: "malformed" };
  const [h, p, s] = parts;
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  if (header?.alg !== "HS256") return { ok: false, reason: "algorithm" };
  const want = Buffer.from(createHmac("sha256", secret).update(`${h}.${p}`).digest("base64url"));
  const got = Buffer.from(s);
  if (got.length !== want.length || !timingSafeEqual(got, want)) return { ok: false, reason: "signature" };
  if (claims === null || typeof claims !== "object") return { ok: false, reason: "malformed" };
  if (typeof claims.exp !== "number" || typeof claims.iat !== "number") return { ok: false, reason: "malformed" };
  if (now >= claims.exp + leeway) return { ok: false, reason: "expired" };
  if (claims.iss !== issuer) return { ok: false, reason: "issuer" };
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(audience)) return { ok: false, reason: "audience" };
  if (claims.method !== method || claims.path !== rawPath) return { ok: false, reason: "request" };
  const data = headers[`${prefix}data`] ?? "";
  if (claims.data_sha256 !== createHash("sha256").update(data).digest("base64url")) return { ok: false, reason: "data" };
  if ((claims.sid ?? null) !== (headers[`${prefix}id`] ?? null)) return { ok: false, reason: "sid" };
  if ((claims.sub ?? null) !== (headers[`${prefix}user-id`] ?? null)) return { ok: false, reason: "sub" };
  return { ok: true, claims };
}

/** Checks a user id the way the gateway does (it ignores one it would refuse). */
function checkUserId(user) {
  if (typeof user !== "string" || user !== user.trim() || !user) throw new TypeError("sessiongate: user id must be a non-empty string without surrounding spaces");
  if (!/^[\x20-\x7e]+$/.test(user)) throw new TypeError("sessiongate: user id must be printable ASCII");
  if (user.length > MAX_USER_ID_BYTES) throw new TypeError("sessiongate: user id longer than 256 bytes");
  if (user.includes(",")) throw new TypeError("sessiongate: user id may not hold a comma");
}

/** Composes two JSON merge patches (RFC 7396): objects merge key by key, the later value wins. */
function composePatch(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    const isObj = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
    out[k] = isObj(prev) && isObj(v) ? composePatch(prev, v) : v;
  }
  return out;
}

/**
 * The session sessiongate vouches for, with the command helpers. `setHeader(name, value)`
 * and `removeHeader(name)` write to the response; the helpers must run before the
 * response's headers are sent.
 */
export class Session {
  constructor(headers, { prefix = "x-session-", res }) {
    const data = headers[`${prefix}data`];
    this.id = headers[`${prefix}id`] ?? null;
    this.user = headers[`${prefix}user-id`] ?? null;
    this.data = data ? JSON.parse(Buffer.from(data, "base64url").toString("utf8")) : {};
    this.isNew = headers[`${prefix}new`] === "1";
    this.expiresAt = headers[`${prefix}expires-at`] ?? null;
    this.store = headers[`${prefix}store`] ?? null;
    /** Bytes of session data the gateway withheld (over its header budget), else null. */
    this.dataOmitted = headers[`${prefix}data-omitted`] ? Number(headers[`${prefix}data-omitted`]) : null;
    Object.defineProperties(this, {
      _prefix: { value: prefix },
      _res: { value: res },
      _patch: { value: null, writable: true },
      _actions: { value: new Set() },
    });
  }

  _set(name, value) {
    if (this._res.headersSent) throw new Error("sessiongate: response headers already sent");
    if (value === null) this._res.removeHeader(this._prefix + name);
    else this._res.setHeader(this._prefix + name, value);
  }

  _flushActions() {
    this._set("action", this._actions.size ? [...this._actions].join(", ") : null);
  }

  /** Logs `user` in (or switches user); the gateway moves the session to a new id. */
  login(user, { keepData = false } = {}) {
    checkUserId(user);
    this._actions.delete("delete");
    if (keepData) this._actions.add("keep-data");
    this._flushActions();
    this._set("user-id", user);
    return this;
  }

  /** Merges `patch` into the session data (JSON merge patch: `null` deletes a key). */
  update(patch) {
    if (patch === null || typeof patch !== "object" || Array.isArray(patch)) throw new TypeError("sessiongate: update takes an object");
    this._patch = composePatch(this._patch ?? {}, patch);
    this._actions.delete("delete");
    this._flushActions();
    // base64url: any JSON (non-ASCII included) is a valid header value this way.
    this._set("update", Buffer.from(JSON.stringify(this._patch)).toString("base64url"));
    return this;
  }

  /** Logs out: the gateway deletes the session and clears its cookie. Drops earlier login/update calls. */
  logout() {
    this._patch = null;
    this._actions.clear();
    this._actions.add("delete");
    this._set("user-id", null);
    this._set("update", null);
    this._flushActions();
    return this;
  }

  /** Any other action of X-Session-Action: "cycle", "clear", "create", "revoke-user", "revoke-others". */
  action(...names) {
    for (const n of names) this._actions.add(n);
    this._flushActions();
    return this;
  }
}

/**
 * The middleware. Options: `secret` (ORIGIN_SECRET), `audience` (this origin's host as
 * the gateway reaches it, e.g. "app.internal:8080": a fixed value, never the request's
 * Host), `issuer` (WORKER_NAME, default "sessiongate"), `prefix` (default "X-Session-"),
 * `leeway` (seconds of clock skew allowed on `exp`, default 0), `onInvalid` ("reject":
 * 401, the default; or "anonymous": `req.sessiongate = null` and on to the app).
 */
export function sessiongate(options = {}) {
  const {
    secret = process.env.ORIGIN_SECRET,
    audience = process.env.ORIGIN_AUDIENCE,
    issuer = process.env.SESSIONGATE_ISSUER ?? "sessiongate",
    prefix = "X-Session-",
    leeway = 0,
    onInvalid = "reject",
  } = options;
  if (!secret) throw new Error("sessiongate: secret (ORIGIN_SECRET) is required");
  if (!audience) throw new Error("sessiongate: audience (the origin's host as the gateway reaches it) is required");
  if (!["reject", "anonymous"].includes(onInvalid)) throw new Error('sessiongate: onInvalid is "reject" or "anonymous"');
  const opts = { secret, audience: audience.toLowerCase(), issuer, prefix: prefix.toLowerCase(), leeway };
  return function sessiongateMiddleware(req, res, next) {
    const rawPath = req.originalUrl ?? req.url;
    const result = verifyAssertion(req.headers, req.method, rawPath, opts);
    let session = null;
    if (result.ok) {
      try {
        session = new Session(req.headers, { prefix: opts.prefix, res });
      } catch {
        session = null; // undecodable data: vouched for, yet unusable
      }
    }
    req.sessiongate = session;
    if (!session) {
      req.sessiongateError = result.ok ? "data" : result.reason;
      if (onInvalid === "reject") {
        res.statusCode = 401;
        res.setHeader("content-type", "text/plain; charset=utf-8");
        res.end("session assertion missing or invalid\n");
        return;
      }
    }
    next();
  };
}

export default sessiongate;
