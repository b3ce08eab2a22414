// "Your sessions": the logged-in user's sessions, from /__session/api/sessions.
import { el, device, place, network, orUnknown, time, errorText, plural } from "/__session/common.js";

const API = "/__session/api/sessions";
const $ = (id) => document.getElementById(id);
const status = $("status");

function say(text) {
  // Cleared first, so the same message twice is announced twice.
  status.textContent = "";
  setTimeout(() => { status.textContent = text; }, 50);
}

function showProblem(text, retry) {
  $("loading").hidden = true;
  $("list").hidden = true;
  $("problem-text").textContent = text;
  $("retry").hidden = !retry;
  $("problem").hidden = false;
}

function row(s) {
  const what = device(s.user_agent);
  const cells = [
    el("td", {},
      el("span", { title: s.user_agent ?? "User-Agent unknown" }, what),
      s.current ? [" ", el("span", { className: "badge" }, "This device")] : null),
    el("td", {}, place(s), el("br"), el("span", { className: "muted" }, network(s))),
    el("td", {}, time(s.last_seen_at)),
    el("td", {}, time(s.authenticated_at), el("br"),
      el("span", { className: "muted" }, "started ", time(s.created_at))),
    el("td", {}, time(s.expires_at)),
    el("td", {}, s.current
      ? el("span", { className: "muted" }, "Current session")
      : el("button", {
        type: "button", className: "danger", "data-action": "revoke",
        "aria-label": `Sign out ${what}${place(s) === "unknown" ? "" : ` in ${place(s)}`}`,
      }, "Sign out")),
  ];
  return el("tr", { "data-handle": s.handle, "data-current": s.current ? "true" : null, "data-device": what }, cells);
}

async function load() {
  $("problem").hidden = true;
  $("loading").hidden = false;
  let res;
  try {
    res = await fetch(API, { credentials: "same-origin", headers: { accept: "application/json" } });
  } catch {
    return showProblem("The gateway could not be reached. Check your connection and try again.", true);
  }
  if (res.status === 401) return showProblem("You are not logged in.", false);
  if (!res.ok) return showProblem(await errorText(res), res.status >= 500 && res.status !== 501);
  const { sessions = [] } = await res.json();
  $("rows").replaceChildren(...sessions.map(row));
  $("count").textContent = `${plural(sessions.length, "session", "sessions")}, newest first`;
  const others = sessions.some((s) => !s.current);
  document.querySelector('[data-action="revoke-others"]').hidden = !others;
  $("no-others").hidden = others;
  $("loading").hidden = true;
  $("list").hidden = false;
}

async function post(path) {
  try {
    return await fetch(`${API}${path}`, { method: "POST", credentials: "same-origin" });
  } catch {
    return null;
  }
}

async function revoke(button) {
  const tr = button.closest("tr");
  const what = tr.dataset.device;
  if (!confirm(`Sign out the session on ${what}?`)) return;
  button.disabled = true;
  const res = await post(`/${encodeURIComponent(tr.dataset.handle)}/revoke`);
  if (res && (res.status === 204 || res.status === 202)) {
    say(res.status === 202 ? `Signing out ${what}: it takes effect in a few seconds.` : `Signed out ${what}.`);
  } else if (res && res.status === 404) {
    say("That session had already ended.");
  } else if (res && res.status === 401) {
    return showProblem("You are not logged in.", false);
  } else {
    button.disabled = false;
    say(`Could not sign out ${what}: ${res ? await errorText(res) : "the gateway could not be reached"}. Try again.`);
    return;
  }
  await load();
  $("list-heading").focus();
}

async function revokeOthers(button) {
  if (!confirm("Sign out all other sessions? Only this device stays signed in.")) return;
  button.disabled = true;
  const res = await post("/revoke-others");
  button.disabled = false;
  if (res && res.ok) {
    const { revoked = 0 } = await res.json().catch(() => ({}));
    say(`Signed out ${plural(revoked, "other session", "other sessions")}.`);
  } else if (res && res.status === 401) {
    return showProblem("You are not logged in.", false);
  } else {
    say(`Could not sign out the other sessions: ${res ? await errorText(res) : "the gateway could not be reached"}. Try again.`);
    return;
  }
  await load();
  $("list-heading").focus();
}

document.addEventListener("click", (e) => {
  const button = e.target.closest("button[data-action]");
  if (button?.dataset.action === "revoke") revoke(button);
  else if (button?.dataset.action === "revoke-others") revokeOthers(button);
});
$("retry").addEventListener("click", load);
load();
