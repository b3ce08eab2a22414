// The demo page's one script: sends forged X-Session-* headers through the gateway to
// /inspect.json and shows, next to each, what the origin actually received.
const FORGED = {
  "X-Session-User-Id": "admin",
  "X_Session_User_Id": "root",
  // base64url of {"role":"admin"}
  "X-Session-Data": "eyJyb2xlIjoiYWRtaW4ifQ",
};

function cell(row, text, tag = "td") {
  const el = document.createElement(tag);
  const code = document.createElement("code");
  code.textContent = text;
  el.append(tag === "th" ? text : code);
  row.append(el);
}

async function forge() {
  const out = document.getElementById("forge-result");
  out.textContent = "sending…";
  let seen;
  try {
    const res = await fetch("/inspect.json", { headers: FORGED, cache: "no-store", credentials: "same-origin" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    seen = await res.json();
  } catch (e) {
    out.textContent = `the request failed: ${e.message}`;
    return;
  }
  const received = new Map(seen.received.map((h) => [h.name.toLowerCase(), h.value]));
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const h of ["header sent by this page", "value sent", "what the origin received", "verdict"]) cell(head, h, "th");
  const body = table.createTBody();
  let dropped = 0;
  for (const [name, value] of Object.entries(FORGED)) {
    const got = received.get(name.toLowerCase());
    const row = body.insertRow();
    row.dataset.header = name.toLowerCase();
    const ok = got !== value;
    if (ok) dropped++;
    row.dataset.dropped = String(ok);
    cell(row, name);
    cell(row, value);
    cell(row, got === undefined ? "(nothing: not received)" : `${got} (the gateway's own value)`);
    const verdict = document.createElement("td");
    verdict.className = ok ? "ok" : "bad";
    verdict.textContent = ok ? "✓ dropped by the gateway" : "✗ arrived as sent";
    row.append(verdict);
  }
  const summary = document.createElement("p");
  summary.id = "forge-summary";
  summary.dataset.dropped = String(dropped === Object.keys(FORGED).length);
  const user = seen.session?.user ?? null;
  summary.textContent =
    dropped === Object.keys(FORGED).length
      ? `Every forged header was dropped: the origin saw ${user ? `the real user, ${user}` : "an anonymous visitor"}, and the assertion ${seen.assertion.valid ? "verified" : "did not verify"}.`
      : "A forged header reached the origin!";
  out.replaceChildren(table, summary);
}

document.getElementById("forge-button")?.addEventListener("click", forge);
