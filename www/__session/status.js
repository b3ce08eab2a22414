// /__session/: the gateway's public health answer (the detail needs the admin token).
const out = document.getElementById("health");
fetch("/__session/health", { cache: "no-store" }).then((r) => r.json()).then(
  (j) => { out.textContent = JSON.stringify(j, null, 2); },
  (e) => { out.textContent = String(e); });
