// Applies migrations/ to a D1 database statement by statement, as `wrangler d1
// migrations apply` would: `;` ends a statement, except inside a trigger's BEGIN ... END.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";

/** The statements of one migration file, comments removed. */
export function statements(sql) {
  const out = [];
  let current = "";
  let inBody = false;
  for (const line of sql.replace(/^--.*$/gm, "").split("\n")) {
    current += `${line}\n`;
    if (/^\s*BEGIN\s*$/i.test(line)) inBody = true;
    if (/^\s*END;\s*$/i.test(line)) inBody = false;
    if (!inBody && /;\s*$/.test(line)) {
      out.push(current.trim().replace(/;$/, ""));
      current = "";
    }
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

/** Applies every migration under `root`/migrations to `db`, in order. */
export async function migrate(db, root) {
  const dir = path.join(root, "migrations");
  for (const file of readdirSync(dir).sort()) {
    for (const stmt of statements(readFileSync(path.join(dir, file), "utf8"))) {
      await db.prepare(stmt).run();
    }
  }
}
