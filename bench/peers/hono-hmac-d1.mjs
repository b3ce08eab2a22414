// hono + the signed id + one D1 read by primary key (sessiongate's sessions table):
// verify, read the row, forward the id, user and data of a live session.
import { Hono } from "hono";
import { issue, verified } from "./signed-id.mjs";
import { forward } from "./forward.mjs";

const now = () => Math.floor(Date.now() / 1000);
const app = new Hono();
app.get("/login", async (c) => {
  const id = await issue(c);
  const t = now();
  await c.env.SESSIONS_DB.prepare("INSERT INTO sessions (id, user_id, data, created_at, expires_at, updated_at) VALUES (?1, 'bench', ?2, ?3, ?4, ?3)")
    .bind(id, JSON.stringify({ cart: ["a", "b", "c"], theme: "dark" }), t, t + 3 * 3600).run();
  return c.body(null, 204);
});
app.all("*", async (c) => {
  const id = await verified(c);
  const row = id && await c.env.SESSIONS_DB.prepare("SELECT user_id, data, expires_at FROM sessions WHERE id = ?1")
    .bind(id).first();
  const live = row && row.expires_at > now();
  return forward(c.req.raw, c.env.ORIGIN_URL, live && {
    "x-session-id": id,
    "x-session-user-id": row.user_id,
    "x-session-data": row.data,
  });
});

export default app;
