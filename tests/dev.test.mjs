// `npm run dev` (scripts/dev.sh): which origin it puts behind the gateway and why
// (--print-config, in a scratch copy of the repo's layout), then the real thing: wrangler
// dev in front of a second origin given with --origin, on a PORT of its own and a state
// directory of its own (DEV_STATE), until its ready line; a request through it reaches
// that origin with the X-Session-* headers, and `npm run sessions` / `signals` read the
// state it wrote.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { createServer } from "node:net";
import { mkdtempSync, mkdirSync, copyFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startOrigin, ROOT } from "./support/harness.mjs";

const run = promisify(execFile);

async function freePort() {
  const srv = createServer();
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

// --- the choice of origin, without starting anything --------------------------------
let scratch;
before(() => {
  scratch = mkdtempSync(path.join(tmpdir(), "sessiongate-dev-"));
  mkdirSync(path.join(scratch, "scripts"));
  for (const f of ["dev.sh", "env.sh"]) copyFileSync(path.join(ROOT, "scripts", f), path.join(scratch, "scripts", f));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

/** `dev.sh --print-config` in the scratch repo with these files: {code, out}. */
async function printConfig({ toml = "", devVars = null, args = [], env = {} } = {}) {
  writeFileSync(path.join(scratch, "wrangler.toml"), `name = "sessiongate"\n${toml}`);
  rmSync(path.join(scratch, ".dev.vars"), { force: true });
  if (devVars !== null) writeFileSync(path.join(scratch, ".dev.vars"), devVars);
  try {
    const { stdout } = await run("bash", [path.join(scratch, "scripts/dev.sh"), "--print-config", ...args], {
      env: { ...process.env, PORT: "", ORIGIN_PORT: "", DEV_STATE: "", ...env },
    });
    return { code: 0, out: stdout };
  } catch (e) {
    return { code: e.code, out: `${e.stdout}${e.stderr}` };
  }
}
const TOML_VARS = '[vars]\nSESSION_TIMEOUT_MINUTES = "180"\nORIGIN_URL = "http://127.0.0.1:4000"   # the app\n';

test("dev.sh: the demo origin only when no origin is given anywhere", async () => {
  // The repo's own wrangler.toml has ORIGIN_URL commented out, as here.
  const { code, out } = await printConfig({ toml: '[vars]\n# ORIGIN_URL = "https://app.internal.example"\n' });
  assert.equal(code, 0, out);
  assert.match(out, /^origin: http:\/\/127\.0\.0\.1:8788 \(the demo origin: no --origin, and no ORIGIN_URL in \.dev\.vars or wrangler\.toml \[vars\]\)$/m);
  assert.match(out, /^gateway: http:\/\/127\.0\.0\.1:8787\/$/m);
  assert.match(out, /^state: \.dev\/state$/m);
  assert.match(out, /^demo origin: yes, on port 8788$/m);
  assert.match(out, /^wrangler dev --ip 127\.0\.0\.1 --port 8787 --persist-to \.dev\/state --var ORIGIN_URL:http:\/\/127\.0\.0\.1:8788$/m);
});

test("dev.sh: ORIGIN_URL from wrangler.toml [vars], then .dev.vars over it, then --origin over both", async () => {
  let r = await printConfig({ toml: TOML_VARS });
  assert.match(r.out, /^origin: http:\/\/127\.0\.0\.1:4000 \(ORIGIN_URL in wrangler\.toml \[vars\]\)$/m);
  assert.match(r.out, /^demo origin: no$/m);
  assert.doesNotMatch(r.out, /--var/, "wrangler reads wrangler.toml itself");

  // Another table's ORIGIN_URL is not [vars]'.
  r = await printConfig({ toml: '[vars]\nA = "1"\n[env.staging.vars]\nORIGIN_URL = "http://127.0.0.1:4999"\n' });
  assert.match(r.out, /^demo origin: yes/m);

  r = await printConfig({ toml: TOML_VARS, devVars: 'SESSION_SECRET="x"\nORIGIN_URL="http://127.0.0.1:5000"\n' });
  assert.match(r.out, /^origin: http:\/\/127\.0\.0\.1:5000 \(ORIGIN_URL in \.dev\.vars\)$/m);
  assert.doesNotMatch(r.out, /--var/);

  r = await printConfig({
    toml: TOML_VARS,
    devVars: "ORIGIN_URL=http://127.0.0.1:5000\n",
    args: ["--origin", "http://127.0.0.1:3000", "--log-level", "warn"],
    env: { PORT: "9001", DEV_STATE: "/tmp/st" },
  });
  assert.match(r.out, /^origin: http:\/\/127\.0\.0\.1:3000 \(given with --origin\)$/m);
  assert.match(r.out, /^gateway: http:\/\/127\.0\.0\.1:9001\/$/m);
  assert.match(r.out, /^wrangler dev --ip 127\.0\.0\.1 --port 9001 --persist-to \/tmp\/st --var ORIGIN_URL:http:\/\/127\.0\.0\.1:3000 --log-level warn$/m, "other arguments pass through");

  r = await printConfig({ args: ["--origin=http://app.local:8080/base", "--var", "OTHER:1"] });
  assert.match(r.out, /^origin: http:\/\/app\.local:8080\/base \(given with --origin\)$/m);
  assert.match(r.out, /--var ORIGIN_URL:http:\/\/app\.local:8080\/base --var OTHER:1$/m);

  // wrangler's own way of giving it counts as given on the command line.
  r = await printConfig({ toml: TOML_VARS, args: ["--var", "ORIGIN_URL:http://127.0.0.1:3100"] });
  assert.match(r.out, /^origin: http:\/\/127\.0\.0\.1:3100 \(given with --origin\)$/m);
  assert.equal(r.out.match(/ORIGIN_URL:/g).length, 1);
});

test("dev.sh: an origin that is no URL, or is the gateway itself, is refused with the reason", async () => {
  let r = await printConfig({ args: ["--origin", "127.0.0.1:3000"] });
  assert.notEqual(r.code, 0);
  assert.match(r.out, /the origin must be an http:\/\/ or https:\/\/ URL \(got '127\.0\.0\.1:3000', given with --origin\)/);
  r = await printConfig({ args: ["--origin", "http://localhost:8790/"], env: { PORT: "8790" } });
  assert.notEqual(r.code, 0);
  assert.match(r.out, /is this gateway's own address \(PORT=8790\)/);
  r = await printConfig({ devVars: 'ORIGIN_URL="http://127.0.0.1:8787"\n' });
  assert.match(r.out, /is this gateway's own address/);
});

// --- the real thing: wrangler dev in front of an origin given with --origin -----------
test("npm run dev -- --origin URL: wrangler dev in front of that origin, ready once it answers", { timeout: 600_000 }, async (t) => {
  const origin = await startOrigin();
  origin.respond = (rec) =>
    rec.url === "/login"
      ? { status: 200, headers: { "x-session-user-id": "dev-user", "x-session-update": '{"plan":"free"}' }, body: "in" }
      : { status: 200, headers: { "content-type": "text/plain" }, body: `hello from the second origin: ${rec.url}` };
  const port = await freePort();
  const state = mkdtempSync(path.join(tmpdir(), "sessiongate-dev-state-"));
  const env = { ...process.env, PORT: String(port), DEV_STATE: state, ORIGIN_PORT: String(await freePort()) };
  const started = Date.now();
  const child = spawn("bash", [path.join(ROOT, "scripts/dev.sh"), "--origin", origin.url, "--inspector-port", String(await freePort())], {
    cwd: ROOT,
    env,
    detached: true, // its own process group: wrangler, workerd and the readiness check end with it
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, 10_000);
    await exited;
    clearTimeout(timer);
    await origin.close();
    rmSync(state, { recursive: true, force: true });
  });

  const base = `http://127.0.0.1:${port}`;
  const readyLine = new RegExp(`^ready: open ${base.replace(/[.]/g, "\\.")}/`, "m");
  await Promise.race([
    new Promise((resolve) => {
      const poll = setInterval(() => readyLine.test(out) && (clearInterval(poll), resolve()), 100);
    }),
    exited.then(({ code, signal }) => {
      throw new Error(`dev.sh ended (${code ?? signal}) before its ready line:\n${out}`);
    }),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no ready line within 300 s:\n${out}`)), 300_000).unref()),
  ]);
  const wrangler = /^ready: .*\(after (\d+) s\)/m.exec(out)?.[1];
  t.diagnostic(`ready after ${((Date.now() - started) / 1000).toFixed(1)} s (wrangler dev with its build: ${wrangler} s)`);

  // The choice in one line, before wrangler; no demo origin; the progress line; the
  // ready banner after the health check found the origin.
  assert.match(out, new RegExp(`^dev: origin: ${origin.url.replace(/[.]/g, "\\.")} \\(given with --origin\\)$`, "m"));
  assert.doesNotMatch(out, /demo origin on/);
  assert.match(out, /^dev: building the worker \(Rust to wasm/m);
  assert.match(out, new RegExp(`^dev: origin ${origin.url.replace(/[.]/g, "\\.")} is reachable \\(its GET / answered the health probe with 200\\)$`, "m"));
  assert.doesNotMatch(out, /dev: problem:/);
  assert.ok(out.indexOf("dev: origin:") < out.indexOf("wrangler 4"), "the origin line comes before wrangler's output");
  const seenBefore = origin.seen.length; // the health probe's GET /

  // A request through the gateway reaches the second origin with the session headers.
  const res = await fetch(`${base}/hello?x=1`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "hello from the second origin: /hello?x=1");
  const rec = origin.seen.slice(seenBefore).find((r) => r.url === "/hello?x=1");
  assert.ok(rec, "the origin received the request");
  assert.equal(rec.headers["x-session-new"], "1");
  assert.equal(rec.headers["x-session-data"], "e30");
  assert.equal(rec.headers["x-session-store"], "d1");
  assert.equal(rec.headers["x-session-assertion"].split(".").length, 3, "signed with ORIGIN_SECRET from .dev.vars");
  assert.equal(rec.headers["sessiongate-hop"], "sessiongate");

  // A login through it: the row lands in DEV_STATE, where `npm run sessions` reads it.
  const login = await fetch(`${base}/login`, { headers: { "x-session-user-id": "forged" } });
  assert.equal(login.status, 200);
  assert.ok(login.headers.getSetCookie().some((c) => c.startsWith("__Host-session_id=")), "the session cookie is set");
  assert.equal(origin.seen.find((r) => r.url === "/login").headers["x-session-user-id"], undefined, "a client's X-Session-User-Id never arrives");
  const inspect = (...args) => run("bash", [path.join(ROOT, "scripts/inspect.sh"), ...args], { env, cwd: ROOT });
  const { stdout: sessions } = await inspect("sessions");
  assert.match(sessions, /^id\s+user\s+data\s+created\s+updated\s+expires in\s+version$/m);
  assert.match(sessions, /^[0-9a-f]{8}…\s+dev-user\s+\{"plan":"free"\}\s/m);
  assert.match(sessions, /^1 session\(s\), latest first/m);
  // Signals reach the audit table through the local queue and its consumer (a batch
  // waits up to max_batch_timeout, 5 s).
  let signals = "";
  for (let i = 0; i < 10 && !/session_cycled|session_created/.test(signals); i++) {
    await new Promise((r) => setTimeout(r, 2000));
    ({ stdout: signals } = await inspect("signals"));
  }
  assert.match(signals, /session_created\s+session [0-9a-f]{8}…\s+user dev-user/);
});
