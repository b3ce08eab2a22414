// The origin every row forwards to: nginx (Debian's), a small 200, one worker process, in
// the foreground with its pid and logs under a temp dir; the Node origin when nginx is
// not installed. GET /login also answers with the commands that log sessiongate in.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNet, connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

// Debian puts it in /usr/sbin, often off a user's PATH.
const NGINX = existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
const LOGIN = { "x-session-user-id": "bench", "x-session-update": '{"cart":["a","b","c"],"theme":"dark"}' };

async function freePort() {
  const s = createNet().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function listening(port, child) {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) return false;
    const ok = await new Promise((r) => connect(port, "127.0.0.1").once("connect", function () { this.end(); r(true); }).once("error", () => r(false)));
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function nginxConf(dir, port) {
  const login = Object.entries(LOGIN).map(([k, v]) => `add_header ${k} '${v}';`).join(" ");
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    default_type text/plain;
    location = /login { ${login} return 200 "ok\\n"; }
    location / { return 200 "ok\\n"; }
  }
}
`;
}

async function startNginx() {
  const version = spawnSync(NGINX, ["-v"], { encoding: "utf8" });
  if (version.error) return null;
  const dir = mkdtempSync(path.join(tmpdir(), "sessiongate-bench-nginx-"));
  const port = await freePort();
  writeFileSync(path.join(dir, "nginx.conf"), nginxConf(dir, port));
  const child = spawn(NGINX, ["-p", dir, "-e", `${dir}/error.log`, "-c", `${dir}/nginx.conf`], { stdio: "ignore" });
  if (!(await listening(port, child))) {
    child.kill();
    console.error(`nginx did not start (see ${dir}/error.log): using the Node origin`);
    return null;
  }
  const stop = async () => {
    child.kill("SIGQUIT");
    await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
    rmSync(dir, { recursive: true, force: true });
  };
  return { kind: version.stderr.trim().replace(/^nginx version: /, ""), url: `http://127.0.0.1:${port}`, stop };
}

async function startNode() {
  const server = createServer((req, res) => {
    req.resume();
    const login = req.url === "/login" ? LOGIN : {};
    req.on("end", () => res.writeHead(200, { "content-type": "text/plain", ...login }).end("ok\n"));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const stop = () => new Promise((r) => server.close(r));
  return { kind: `Node ${process.version} http (nginx not found)`, url: `http://127.0.0.1:${server.address().port}`, stop };
}

export async function startOrigin() {
  return (await startNginx()) ?? startNode();
}
