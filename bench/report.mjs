// The bench's markdown: the machine, the method, the table of medians, the issue's
// targets, and the crossings per request.
const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "-");
const ratio = (a, b) => (a && b ? a / b : NaN);

/** Whom each row is compared with, besides the pass-through. */
const PEER = { "sg-cookie": "hono-sessions", "sg-cookie-off": "hono-sessions", "sg-d1-off": "hono-hmac-d1", "sg-d1": "sg-d1-off", "hono-hmac-d1": "hono-hmac" };

function summarize(rows) {
  const by = {};
  for (const r of rows) {
    by[r.key] = {
      label: r.label,
      rps: median(r.runs.map((x) => x.rps)),
      each: r.runs.map((x) => Math.round(x.rps)),
      p50: median(r.runs.map((x) => x.p50Ms)),
      p99: median(r.runs.map((x) => x.p99Ms)),
      cpu: median(r.runs.map((x) => x.cpuUsPerReq)),
      errors: r.runs.reduce((a, x) => a + x.errors, 0),
    };
  }
  return by;
}

function targets(by) {
  const t = (name, got, goal, at) => ({ name, got, goal, met: Number.isFinite(got) ? at(got) : null });
  const r = (a, b) => ratio(by[a]?.rps, by[b]?.rps);
  return [
    t("cookie store >= 1.5x hono + hono-sessions", r("sg-cookie", "hono-sessions"), "1.50x", (x) => x >= 1.5),
    t("cookie store, signals off >= 1.5x hono + hono-sessions", r("sg-cookie-off", "hono-sessions"), "1.50x", (x) => x >= 1.5),
    t("D1 steady state (signals off) >= 1.0x hono + HMAC + D1", r("sg-d1-off", "hono-hmac-d1"), "1.00x", (x) => x >= 1.0),
    t("D1 steady state (default signals) >= 1.0x hono + HMAC + D1", r("sg-d1", "hono-hmac-d1"), "1.00x", (x) => x >= 1.0),
    t("no session >= 0.85x the JS pass-through", r("sg-none", "passthrough"), "0.85x", (x) => x >= 0.85),
    { ...t("default signals cost <= 10% vs signals off", 1 - r("sg-d1", "sg-d1-off"), "10%", (x) => x <= 0.10), percent: true },
  ];
}

function crossingsTable(cases) {
  const keys = new Set(cases.flatMap((c) => Object.keys(c.perRequest)));
  const total = (prefix) => (c) => Object.entries(c.perRequest).filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
  const lines = [
    `| per request | ${cases.map((c) => c.label).join(" | ")} |`,
    `|---|${cases.map(() => "---:").join("|")}|`,
  ];
  const row = (name, f) => lines.push(`| ${name} | ${cases.map((c) => fmt(f(c), 1)).join(" | ")} |`);
  row("**wasm -> JS calls (all imports)**", total("wasm->js "));
  row("**JS -> wasm calls (all exports)**", total("js->wasm "));
  for (const kind of ["Headers.", "Request.", "Response.", "D1.", "Queue.", "fetch"]) row(`**${kind.replace(/\.$/, "")}** (JS API calls)`, total(kind));
  const detail = [...keys].filter((k) => !k.startsWith("wasm->js ") && !k.startsWith("js->wasm ")).sort();
  for (const k of detail) row(k, (c) => c.perRequest[k] ?? 0);
  const imports = [...keys].filter((k) => k.startsWith("wasm->js ") || k.startsWith("js->wasm "));
  const sum = (k) => cases.reduce((a, c) => a + (c.perRequest[k] ?? 0), 0);
  lines.push("", "The crossings by name (wasm-bindgen's import/export names, hash dropped), most frequent first:", "",
    `| name | ${cases.map((c) => c.label).join(" | ")} |`, `|---|${cases.map(() => "---:").join("|")}|`);
  for (const k of imports.sort((a, b) => sum(b) - sum(a))) row(`\`${k}\``, (c) => c.perRequest[k] ?? 0);
  return lines.join("\n");
}

export function report({ rows, machine, method, crossings }) {
  const by = summarize(rows);
  const base = by.passthrough?.rps;
  const out = [];
  out.push("## Machine", "", ...Object.entries(machine).map(([k, v]) => `- ${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`), "");
  out.push("## Method", "",
    `${method.generator} -t${method.threads} -c${method.connections}, ${method.seconds} s per row per repetition, ${method.reps} repetitions in rotated order, ` +
    `median; GET ${method.path} with browser-like headers (and the row's session cookie, minted through the worker before each measurement). ` +
    "CPU: utime + stime of the row's workerd process (the worker, local D1, the queue consumer) from the start of the measurement until the process is idle again, per request.", "");
  out.push("## Results", "",
    "| row | req/s | each rep | p50 ms | p99 ms | x pass-through | x peer | CPU us/req |",
    "|---|---:|---|---:|---:|---:|---|---:|");
  for (const [key, s] of Object.entries(by)) {
    const other = by[`${key}-base`] ? `${key}-base` : PEER[key];
    const peer = other && by[other] ? `${fmt(ratio(s.rps, by[other].rps), 2)}x ${other}` : "";
    out.push(`| ${s.label} | ${fmt(s.rps)} | ${s.each.join(", ")} | ${fmt(s.p50, 2)} | ${fmt(s.p99, 2)} | ${fmt(ratio(s.rps, base), 2)} | ${peer} | ${fmt(s.cpu)} |`);
  }
  const errors = Object.entries(by).filter(([, s]) => s.errors);
  if (errors.length) out.push("", `Errors (non-2xx or socket): ${errors.map(([k, s]) => `${k} ${s.errors}`).join(", ")}`);
  out.push("", "## Targets (issue 13)", "", "| target | measured | met |", "|---|---:|---|");
  for (const t of targets(by)) {
    const got = t.percent ? `${fmt(t.got * 100, 1)}%` : `${fmt(t.got, 2)}x`;
    out.push(`| ${t.name} | ${got} | ${t.met === null ? "not measured" : t.met ? "met" : "not met"} |`);
  }
  if (crossings) out.push("", "## Crossings per sessiongate request", "", crossingsTable(crossings));
  return `${out.join("\n")}\n`;
}
