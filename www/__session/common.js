// Shared by the pages under /__session/ (ES module, no dependencies).

/** `el("td", {className: "x", title: "y"}, child, "text", ...)`: a DOM node, text never parsed as HTML. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k in node && !k.startsWith("data") && k !== "scope") node[k] = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

const UNKNOWN = "unknown";
const known = (v) => v !== undefined && v !== null && v !== "";

/** "Chrome on Linux" from a User-Agent, with simple rules; "unknown" when there is none. */
export function device(ua) {
  if (!known(ua)) return UNKNOWN;
  const browser =
    /Edg(?:e|A|iOS)?\//.test(ua) ? "Edge" :
    /OPR\/|Opera/.test(ua) ? "Opera" :
    /SamsungBrowser\//.test(ua) ? "Samsung Internet" :
    /Firefox\/|FxiOS\//.test(ua) ? "Firefox" :
    /HeadlessChrome\//.test(ua) ? "Headless Chrome" :
    /Chrome\/|CriOS\/|Chromium\//.test(ua) ? "Chrome" :
    /Version\/[\d.]+.*Safari\//.test(ua) ? "Safari" :
    /^curl\//.test(ua) ? "curl" :
    /bot|crawler|spider/i.test(ua) ? "Bot" : null;
  const os =
    /Windows NT/.test(ua) ? "Windows" :
    /Android/.test(ua) ? "Android" :
    /iPhone|iPod/.test(ua) ? "iOS" :
    /iPad/.test(ua) ? "iPadOS" :
    /CrOS/.test(ua) ? "ChromeOS" :
    /Mac OS X|Macintosh/.test(ua) ? "macOS" :
    /Linux|X11/.test(ua) ? "Linux" : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? "Unknown browser";
}

/** "City, CC" (or the part that is known), else "unknown". */
export function place(s) {
  const parts = [s.city, s.country].filter(known);
  return parts.length ? parts.join(", ") : UNKNOWN;
}

/** "203.0.113.0/24 · AS64496" (or the part that is known), else "unknown". */
export function network(s) {
  const parts = [s.network, known(s.asn) ? `AS${s.asn}` : null].filter(known);
  return parts.length ? parts.join(" · ") : UNKNOWN;
}

export const orUnknown = (v) => (known(v) ? String(v) : UNKNOWN);

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const STEPS = [[60, "second"], [60, "minute"], [24, "hour"], [30, "day"], [12, "month"], [Infinity, "year"]];

/** "5 minutes ago" / "in 3 hours" for an RFC 3339 time. */
export function relative(iso, now = Date.now()) {
  let n = (Date.parse(iso) - now) / 1000;
  for (const [size, unit] of STEPS) {
    if (Math.abs(n) < size) return rtf.format(Math.round(n), unit);
    n /= size;
  }
  return iso;
}

/** A <time> showing the relative time, with the absolute one as title and datetime. */
export function time(iso) {
  if (!known(iso) || Number.isNaN(Date.parse(iso))) return document.createTextNode(UNKNOWN);
  const abs = new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "long" });
  return el("time", { dateTime: iso, title: abs }, relative(iso));
}

/** The `error` of a JSON error body, or the status line. */
export async function errorText(res) {
  try {
    const body = await res.json();
    if (body && typeof body.error === "string") return body.error;
  } catch { /* not JSON */ }
  return `${res.status} ${res.statusText}`.trim();
}

export const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
