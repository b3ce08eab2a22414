// hono + hono-sessions: the session encrypted in the cookie (iron: AES-256-CBC +
// HMAC-SHA256), read on every request and forwarded as headers. Options as its README
// gives them; with an idle timeout the middleware slides the expiry, so it reseals and
// sets the cookie on every response (its default, autoExtendExpiration).
import { Hono } from "hono";
import { sessionMiddleware, CookieStore } from "hono-sessions";
import { forward } from "./forward.mjs";

const app = new Hono();
app.use("*", sessionMiddleware({
  store: new CookieStore(),
  encryptionKey: "bench-only-key-bench-only-key-bench-only-key",
  expireAfterSeconds: 3 * 3600,
  cookieOptions: { path: "/", httpOnly: true, secure: true, sameSite: "Lax" },
}));
app.get("/login", (c) => {
  const session = c.get("session");
  session.set("user_id", "bench");
  session.set("data", { cart: ["a", "b", "c"], theme: "dark" });
  return c.body(null, 204);
});
app.all("*", (c) => {
  const session = c.get("session");
  const user = session.get("user_id");
  return forward(c.req.raw, c.env.ORIGIN_URL, user && {
    "x-session-user-id": user,
    "x-session-data": JSON.stringify(session.get("data") ?? {}),
  });
});

export default app;
