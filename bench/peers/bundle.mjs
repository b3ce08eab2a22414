// A peer worker bundled with esbuild (hono and hono-sessions inlined), as wrangler would.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

export async function bundle(name) {
  const out = await build({
    entryPoints: [fileURLToPath(new URL(`${name}.mjs`, import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["workerd", "worker"],
    write: false,
    logLevel: "error",
  });
  return out.outputFiles[0].text;
}
