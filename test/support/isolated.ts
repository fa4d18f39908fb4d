/**
 * Runs a runner script in a Node.js process of its own (the program under test runs at import,
 * so each run needs a fresh module cache) and returns the JSON it wrote. No engine and no
 * credentials reach it: only PATH, and a HOME (by default a throw-away one, which also holds the result).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../..");

/** `node --import tsx RUNNER ARG OUT_FILE`, then the parsed OUT_FILE. */
export function runInOwnProcess<T>(runner: string, arg: string, opts: { home?: string } = {}): T {
  // Mode 700: a record may hold inputs with their secrets revealed (test values).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-mocks-"));
  const out = path.join(dir, "result.json");
  try {
    execFileSync(process.execPath, ["--import", "tsx", runner, arg, out], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: process.env.PATH ?? "", HOME: opts.home ?? dir, PULUMI_SKIP_UPDATE_CHECK: "true" },
      timeout: 120_000,
    });
    return JSON.parse(fs.readFileSync(out, "utf8")) as T;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
