// Headless Chromium for the browser tests: Debian's package driven by playwright-core
// (which never downloads a browser of its own). Screenshots go to artifacts/screenshots.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { ROOT } from "./harness.mjs";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const SHOTS = path.join(ROOT, "artifacts/screenshots");

/** A headless Chromium; each launch starts from a fresh temporary profile. */
export function launchChromium() {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Saves a full-page screenshot as artifacts/screenshots/<name>.png; returns its path. */
export async function screenshot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Collects a page's script errors and CSP violations (a failed fetch's status is not
 * one) into `errors`.
 */
export function watchErrors(page, errors) {
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(`${page.url()}: ${m.text()}`);
  });
  return page;
}
