// The admin dashboard: /__session/admin/api/* with the admin token as a bearer. The token
// lives in sessionStorage (this tab only), never in localStorage or a cookie.
import { el, device, place, network, orUnknown, time, errorText, plural } from "/__session/common.js";

const API = "/__session/admin/api";
const KEY = "sessiongate-admin-token";
const POLL_MS = 3000;
const SIGNALS = ["session_manager_initialized", "session_created", "session_creation_failed",
  "session_renewed", "session_renewal_failed", "session_deleted", "session_deletion_failed",
  "session_data_retrieved", "session_data_retrieval_failed", "session_data_saved",
  "session_data_save_failed", "session_cycled", "session_expired", "sessions_purged",
  "session_store_degraded", "session_cookie_rejected", "session_reauth_required"];
const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem(KEY);

function say(text) {
  $("status").textContent = "";
  setTimeout(() => { $("status").textContent = text; }, 50);
}

function showError(text) {
  $("api-error").textContent = text ?? "";
  $("api-error").hidden = !text;
}

/** Back to the sign-in form, forgetting the token and everything shown. */
function signOut(message) {
  sessionStorage.removeItem(KEY);
  clearTimeout(pollTimer);
  pollTimer = null;
  for (const id of ["sessions", "signals", "health"]) $(id).replaceChildren();
  $("dashboard").hidden = true;
  $("signin-view").hidden = false;
  $("signin-error").textContent = message ?? "";
  $("signin-error").hidden = !message;
  $("token").value = "";
  $("token").focus();
}

class Stop extends Error {}

/** fetch with the bearer. 401 and "API off" end the dashboard (throws Stop); other answers are returned. */
async function api(path, { method = "GET", base = API } = {}) {
  let res;
  try {
    res = await fetch(base + path, {
      method, cache: "no-store", credentials: "omit",
      headers: { authorization: `Bearer ${token()}`, accept: "application/json" },
    });
  } catch {
    showError("The gateway could not be reached.");
    throw new Stop();
  }
  if (res.status === 401) {
    signOut("Wrong token: the gateway refused it. Sign in again.");
    throw new Stop();
  }
  if (res.status === 404 && method === "GET" && !path.startsWith("/sessions/")) {
    const text = await errorText(res);
    signOut(`The admin API is not available: ${text}`);
    throw new Stop();
  }
  return res;
}

const show = (v) => (v === null || v === undefined ? "n/a" : String(v));

async function loadStats() {
  const res = await api("/stats");
  if (!res.ok) return showError(`Counts: ${await errorText(res)}`);
  const s = await res.json();
  $("stat-active").textContent = show(s.active);
  $("stat-created").textContent = show(s.created_last_hour);
  $("stat-ended").textContent = show(s.ended_last_hour);
}

// --- sessions ---
let query = { user: "", next: null };

function sessionRow(s) {
  const what = device(s.user_agent);
  const who = s.user_id ?? null;
  return el("tr", { "data-handle": s.handle, "data-user": who ?? null },
    el("td", {}, who === null ? el("span", { className: "muted" }, "anonymous") : who),
    el("td", {}, el("span", { title: s.user_agent ?? "User-Agent unknown" }, what)),
    el("td", {}, place(s)),
    el("td", {}, network(s)),
    el("td", {}, orUnknown(s.colo)),
    el("td", {}, time(s.last_seen_at)),
    el("td", {}, time(s.created_at)),
    el("td", {}, time(s.expires_at)),
    el("td", {},
      el("div", { className: "row" },
        el("button", { type: "button", className: "danger", "data-action": "revoke",
          "aria-label": `Revoke ${who ?? "anonymous"}'s session on ${what}` }, "Revoke"),
        who === null ? null : el("button", { type: "button", className: "danger", "data-action": "revoke-user" },
          "Revoke all of this user's sessions"),
        el("button", { type: "button", "data-action": "signals",
          "aria-label": `Signals of ${who ?? "anonymous"}'s session on ${what}` }, "Signals"))));
}

async function loadSessions(more = false) {
  const params = new URLSearchParams({ limit: "50" });
  if (query.user) params.set("user", query.user);
  if (more && query.next) params.set("cursor", query.next);
  const res = await api(`/sessions?${params}`);
  if (!res.ok) {
    if (!more) $("sessions").replaceChildren();
    $("sessions-empty").hidden = true;
    query.next = null;
    $("sessions-caption").textContent = "Sessions could not be listed";
    document.querySelector('[data-action="more"]').hidden = true;
    return showError(`Sessions: ${await errorText(res)}`);
  }
  const { sessions = [], next = null } = await res.json();
  const rows = sessions.map(sessionRow);
  if (more) $("sessions").append(...rows); else $("sessions").replaceChildren(...rows);
  query.next = next;
  sessionsShown();
  document.querySelector('[data-action="more"]').hidden = !next;
  return rows;
}

function sessionsShown() {
  const shown = $("sessions").rows.length;
  $("sessions-caption").textContent =
    `${plural(shown, "session", "sessions")}${query.user ? ` of user “${query.user}”` : ""}${query.next ? " shown" : ""}, newest first`;
  $("sessions-empty").hidden = shown > 0;
}

async function revoke(tr, button) {
  const who = tr.dataset.user ?? "anonymous";
  if (!confirm(`Revoke this session of ${who}? It ends on its next request.`)) return;
  button.disabled = true;
  const res = await api(`/sessions/${encodeURIComponent(tr.dataset.handle)}/revoke`, { method: "POST" });
  if (res.ok || res.status === 404) {
    const queued = res.status === 202;
    say(res.status === 404 ? "That session had already ended."
      : queued ? `Revoking a session of ${who}: queued, it ends within seconds.` : `Revoked a session of ${who}.`);
    tr.remove();
    sessionsShown();
    $("sessions-heading").focus();
    loadStats().catch(ignoreStop);
  } else {
    button.disabled = false;
    say(`Could not revoke: ${await errorText(res)}`);
  }
}

async function revokeUser(tr, button) {
  const who = tr.dataset.user;
  if (!confirm(`Revoke every session of user “${who}”? They are logged out everywhere.`)) return;
  button.disabled = true;
  const res = await api(`/users/${encodeURIComponent(who)}/revoke`, { method: "POST" });
  if (!res.ok) {
    button.disabled = false;
    return say(`Could not revoke ${who}'s sessions: ${await errorText(res)}`);
  }
  const { revoked = 0 } = await res.json();
  say(`Revoked ${plural(revoked, "session", "sessions")} of ${who}.`);
  await loadSessions();
  $("sessions-heading").focus();
  loadStats().catch(ignoreStop);
}

async function purge(button) {
  button.disabled = true;
  try {
    const res = await api("/purge", { method: "POST" });
    if (!res.ok) return say(`Purge failed: ${await errorText(res)}`);
    const { purged = 0 } = await res.json();
    say(`Purged ${plural(purged, "expired session", "expired sessions")}.`);
    await loadStats();
  } finally {
    button.disabled = false;
  }
}

// --- signals (polled) ---
let pollTimer = null;
let shownSignals = "";

function signalRow(s) {
  return el("tr", { "data-signal": s.id },
    el("td", {}, time(s.at)),
    el("td", {}, el("code", {}, s.name)),
    el("td", {}, s.user_id ?? "none"),
    el("td", {}, s.session ? el("code", {}, s.session) : "none"),
    el("td", {}, s.reason ?? "none"),
    el("td", {}, el("details", {}, el("summary", {}, "JSON"), el("pre", {}, JSON.stringify(s.payload ?? {}, null, 2)))));
}

async function loadSignals() {
  const params = new URLSearchParams({ limit: "50" });
  const name = $("signal-name").value.trim();
  const session = $("signal-session").value.trim();
  if (name) params.set("name", name);
  if (session) params.set("session", session);
  const res = await api(`/signals?${params}`);
  if (!res.ok) {
    $("signals-caption").textContent = `Signals could not be read: ${await errorText(res)}`;
    return;
  }
  const { signals = [] } = await res.json();
  const key = params + "|" + signals.map((s) => s.id).join(",");
  if (key === shownSignals) return; // unchanged: keep open <details> and focus as they are
  shownSignals = key;
  $("signals").replaceChildren(...signals.map(signalRow));
  $("signals-caption").textContent = `${plural(signals.length, "signal", "signals")}, newest first${name ? ` (${name})` : ""}`;
}

function poll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    if ($("live").checked && !document.hidden && token()) await loadSignals().catch(ignoreStop);
    if (token()) poll();
  }, POLL_MS);
}

// --- health ---
const INFO = new Set(["version", "store", "mode", "settings", "rate_limits"]);
function healthState(key, value) {
  if (INFO.has(key)) return ["info", ""];
  // The origin is reported, not required: a string is route mode.
  if (key === "origin") return value && value.reachable === false ? ["problem", "problem"] : ["ok", "ok"];
  if (value === "ok" || (typeof value === "string" && value.startsWith("not used"))) return ["ok", "ok"];
  return ["problem", "problem"];
}

function healthText(value) {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map((p) => (p && p.setting ? `${p.setting}: ${p.problem}` : JSON.stringify(p))).join("; ");
  if (value && typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join("; ");
  }
  return show(value);
}

async function loadHealth() {
  const res = await api("/health", { base: "/__session" });
  let body;
  try { body = await res.json(); } catch { body = { status: `${res.status} ${res.statusText}` }; }
  $("health").replaceChildren(...Object.entries(body).map(([key, value]) => {
    const [state, cls] = healthState(key, value);
    const shown = healthText(value);
    return el("tr", { "data-check": key },
      el("th", { scope: "row" }, key), el("td", {}, shown), el("td", { className: cls }, state));
  }));
}

// --- wiring ---
function ignoreStop(e) {
  if (!(e instanceof Stop)) throw e;
}

async function start() {
  $("signin-view").hidden = true;
  $("signin-error").hidden = true;
  $("dashboard").hidden = false;
  showError(null);
  await loadStats(); // the probe: a wrong token or an API that is off ends here
  await Promise.all([loadSessions(), loadSignals(), loadHealth()]);
  poll();
}

$("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("token").value.trim();
  if (!value) return;
  sessionStorage.setItem(KEY, value);
  $("token").value = "";
  start().then(() => say("Signed in."), ignoreStop);
});

$("search").addEventListener("submit", (e) => {
  e.preventDefault();
  query = { user: $("user").value.trim(), next: null };
  loadSessions().then((rows) => rows && say(`${plural(rows.length, "session", "sessions")} found.`), ignoreStop);
});

$("signal-filter").addEventListener("submit", (e) => {
  e.preventDefault();
  loadSignals().catch(ignoreStop);
});
$("live").addEventListener("change", () => say($("live").checked ? "Live signals on." : "Live signals paused."));
$("signal-names").replaceChildren(...SIGNALS.map((n) => el("option", { value: n })));

document.addEventListener("click", (e) => {
  const button = e.target.closest("button[data-action]");
  if (!button) return;
  const tr = button.closest("tr");
  const run = {
    "sign-out": () => { signOut(null); say("Signed out."); },
    revoke: () => revoke(tr, button),
    "revoke-user": () => revokeUser(tr, button),
    signals: () => { $("signal-session").value = tr.dataset.handle; $("signal-name").value = ""; return loadSignals(); },
    purge: () => purge(button),
    more: () => loadSessions(true),
    "clear-search": () => { $("user").value = ""; query = { user: "", next: null }; return loadSessions(); },
    health: () => loadHealth(),
  }[button.dataset.action];
  if (run) Promise.resolve(run()).catch(ignoreStop);
});

if (token()) start().catch(ignoreStop);
else $("token").focus();
