/**
 * A real browser against the deployed stack (issue 12: the browser test over HTTPS with the
 * stack's CA trusted): headless Chromium on this machine, driven by the app's own browser code
 * (app/test/support/stackVisit.ts), trusting one CA file and nothing added besides.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { scenarioTrafficStaysLocal } from "./guard";
import { ROOT } from "./scenario";
import { run, type Result } from "./shell";

/** What the browser saw (app/test/support/stackVisit.ts, `Visit`). */
export interface Visit {
  readonly landed: string;
  readonly status: number | undefined;
  readonly protocol: string | undefined;
  readonly issuer: string | undefined;
  readonly hsts: string | undefined;
  readonly cookies: { name: string; secure: boolean }[];
  readonly signedIn: string;
  readonly heading: string;
  readonly screenshot: string;
}

/** Chromium and certutil (the app's test packages), and the app's node_modules (playwright-core). */
function ensureBrowser(): void {
  const r = run("bash", ["-c", "source app/scripts/lib.sh && ensure_debian_packages chromium libnss3-tools && ensure_node_modules"], {
    cwd: ROOT,
  });
  if (r.status !== 0) throw new Error(`cannot prepare the browser: ${r.stderr}`);
}

/**
 * Chromium trusting `caFile` visits http://`host`/login, signs in as admin and keeps a screenshot
 * named `screenshot` in app/test-artifacts/ (or $SCREENSHOT_DIR). The raw result: the caller asserts.
 */
export function visitInBrowser(host: string, caFile: string, screenshot: string, adminPassword: string): Result {
  if (!scenarioTrafficStaysLocal()) throw new Error(`refusing to send traffic to ${host}: no local route keeps it on this machine`);
  ensureBrowser();
  // The browser's profile and NSS home: this run's, removed after it.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "crm-e2e-browser-"));
  try {
    return run(process.execPath, ["--import", "tsx", path.join(ROOT, "app/test/support/stackVisit.ts"), host, caFile, screenshot], {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: tmp, ADMIN_PASSWORD: adminPassword },
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
