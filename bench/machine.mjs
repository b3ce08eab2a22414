// The machine and the workerd processes' CPU time, from /proc.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { WRK } from "./wrk.mjs";

const TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));

/** pid -> [comm, ppid, utime + stime in ticks] of every process. */
function processes() {
  const out = new Map();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // ended meanwhile
    }
    const close = stat.lastIndexOf(")");
    const fields = stat.slice(close + 2).split(" "); // from the state field on
    out.set(Number(pid), [stat.slice(stat.indexOf("(") + 1, close), Number(fields[1]), Number(fields[11]) + Number(fields[12])]);
  }
  return out;
}

/** The workerd processes this bench started (descendants of this process). */
export function workerdPids() {
  const all = processes();
  const ours = (pid) => {
    for (let p = pid; p > 1; p = all.get(p)?.[1] ?? 0) if (p === process.pid) return true;
    return false;
  };
  return [...all].filter(([pid, [comm]]) => comm === "workerd" && ours(pid)).map(([pid]) => pid);
}

/** User + system CPU seconds `pids` have used so far. */
export function cpuSeconds(pids) {
  const all = processes();
  return pids.reduce((sum, pid) => sum + (all.get(pid)?.[2] ?? 0), 0) / TICKS;
}

const version = (pkg) => JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), "utf8")).version;

export function machine(extra) {
  const cpu = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown";
  const wrk = WRK ? spawnSync("wrk", ["-v"], { encoding: "utf8" }).stdout.split("\n")[0].split(" [")[0] : "wrk missing: autocannon with workers";
  const git = spawnSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).stdout.trim();
  return {
    nproc: execFileSync("nproc", { encoding: "utf8" }).trim(),
    cpu,
    kernel: execFileSync("uname", ["-r"], { encoding: "utf8" }).trim(),
    node: process.version,
    workerd: version("workerd"),
    miniflare: version("miniflare"),
    hono: version("hono"),
    "hono-sessions": version("hono-sessions"),
    esbuild: version("esbuild"),
    wrk,
    commit: git,
    ...extra,
  };
}
