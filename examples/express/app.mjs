// A tiny Express app behind sessiongate, using the middleware in ./sessiongate.mjs.
//   ORIGIN_SECRET=... ORIGIN_AUDIENCE=127.0.0.1:8790 node examples/express/app.mjs [port]
// (default port 8790, loopback). Then run the gateway with ORIGIN_URL=http://127.0.0.1:8790.
import express from "express";
import { sessiongate } from "./sessiongate.mjs";

const port = Number(process.argv[2] ?? process.env.PORT ?? 8790);
const app = express();
app.disable("x-powered-by");
app.use(sessiongate({ audience: process.env.ORIGIN_AUDIENCE ?? `127.0.0.1:${port}` }));
app.use(express.urlencoded({ extended: false }));

app.get("/session.json", (req, res) => {
  const { id, user, data } = req.sessiongate;
  res.json({ id, user, data });
});

app.post("/login", (req, res) => {
  req.sessiongate.login(String(req.body.user ?? ""));
  res.redirect(303, "/");
});

app.post("/cart", (req, res) => {
  const cart = Array.isArray(req.sessiongate.data.cart) ? req.sessiongate.data.cart : [];
  req.sessiongate.update({ cart: [...cart, String(req.body.item ?? "")] });
  res.redirect(303, "/");
});

app.post("/logout", (req, res) => {
  req.sessiongate.logout();
  res.redirect(303, "/");
});

app.get("/", (req, res) => {
  const s = req.sessiongate;
  res.type("text").send(`user: ${s.user ?? "anonymous"}\ncart: ${JSON.stringify(s.data.cart ?? [])}\n`);
});

// A bad user id (comma, control character) is a 400, not a silent no-op at the gateway.
app.use((err, req, res, next) => {
  if (err instanceof TypeError && /^sessiongate:/.test(err.message)) res.status(400).type("text").send(`${err.message}\n`);
  else next(err);
});

app.listen(port, "127.0.0.1", () => console.log(`express origin on http://127.0.0.1:${port}`));
