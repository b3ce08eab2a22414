// One bounded load run with wrk (autocannon with workers when wrk is missing).
import { spawn, spawnSync } from "node:child_process";

export const WRK = !spawnSync("wrk", ["-v"]).error;

const UNIT_MS = { us: 1e-3, ms: 1, s: 1e3, m: 60e3 };
const ms = (v, unit) => Number(v) * UNIT_MS[unit];

function parse(out) {
  const num = (re) => Number(out.match(re)?.[1] ?? NaN);
  const pct = (p) => {
    const m = out.match(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m"));
    return m ? ms(m[1], m[2]) : NaN;
  };
  const socket = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const errors = (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0)
    + (num(/Non-2xx or 3xx responses: (\d+)/) || 0);
  return { requests: num(/(\d+) requests in/), rps: num(/Requests\/sec:\s+([\d.]+)/), p50Ms: pct(50), p99Ms: pct(99), errors };
}

async function wrk(url, headers, { seconds, connections, threads }) {
  const args = ["-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, "--latency", "--timeout", "5s"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  const child = spawn("wrk", [...args, url], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const code = await new Promise((r) => child.once("exit", r));
  if (code !== 0) throw new Error(`wrk exited ${code}:\n${out}`);
  return parse(out);
}

async function autocannon(url, headers, { seconds, connections, threads }) {
  const { default: run } = await import("autocannon");
  const r = await run({ url, headers, connections, duration: seconds, workers: threads });
  return { requests: r.requests.total, rps: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors + r.non2xx };
}

/** { requests, rps, p50Ms, p99Ms, errors } of loading `url` for `seconds`. */
export function loadWith(url, headers, options) {
  return (WRK ? wrk : autocannon)(url, headers, options);
}
