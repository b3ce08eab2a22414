// hono + a WebCrypto HMAC-signed session id written by hand: verify, forward the id.
import { Hono } from "hono";
import { issue, verified } from "./signed-id.mjs";
import { forward } from "./forward.mjs";

const app = new Hono();
app.get("/login", async (c) => {
  await issue(c);
  return c.body(null, 204);
});
app.all("*", async (c) => {
  const id = await verified(c);
  return forward(c.req.raw, c.env.ORIGIN_URL, id && { "x-session-id": id });
});

export default app;
