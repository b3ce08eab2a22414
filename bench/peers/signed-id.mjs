// A session id signed by hand with WebCrypto: cookie `sid=<uuid>.<base64url HMAC-SHA256>`.
import { getCookie, setCookie } from "hono/cookie";

const utf8 = new TextEncoder();
let key; // imported once per isolate

function hmacKey(secret) {
  key ??= crypto.subtle.importKey("raw", utf8.encode(secret), { name: "HMAC", hash: "SHA-256" },
    false, ["sign", "verify"]);
  return key;
}

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const unb64url = (s) => Uint8Array.from(atob(s.replaceAll("-", "+").replaceAll("_", "/")), (c) => c.charCodeAt(0));

/** Sets a new signed id's cookie; returns the id. */
export async function issue(c) {
  const id = crypto.randomUUID();
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(c.env.SESSION_SECRET), utf8.encode(id));
  setCookie(c, "sid", `${id}.${b64url(mac)}`, { path: "/", httpOnly: true, secure: true, sameSite: "Lax" });
  return id;
}

/** The cookie's id if its MAC verifies, else null. */
export async function verified(c) {
  const value = getCookie(c, "sid");
  const dot = value?.indexOf(".") ?? -1;
  if (dot < 0) return null;
  const id = value.slice(0, dot);
  let mac;
  try {
    mac = unb64url(value.slice(dot + 1));
  } catch {
    return null;
  }
  const ok = await crypto.subtle.verify("HMAC", await hmacKey(c.env.SESSION_SECRET), mac, utf8.encode(id));
  return ok ? id : null;
}
