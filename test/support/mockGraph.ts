/** Runs the program under mocks in a process of its own (test/support/vnxMockRun.ts) and returns what it registered. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Registered } from "./vnxMockRun";

const ROOT = path.resolve(__dirname, "../..");

export function registeredBy(config: Record<string, string>): Registered[] {
  // Mode 700: the record holds the inputs with their secrets revealed (test values).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-mocks-"));
  const out = path.join(dir, "result.json");
  try {
    execFileSync(process.execPath, ["--import", "tsx", path.join(__dirname, "vnxMockRun.ts"), JSON.stringify(config), out], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: process.env.PATH ?? "", HOME: dir, PULUMI_SKIP_UPDATE_CHECK: "true" },
      timeout: 120_000,
    });
    const result = JSON.parse(fs.readFileSync(out, "utf8")) as { resources: Registered[]; errors: string[] };
    assert.deepEqual(result.errors, []);
    return result.resources;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
