/** Runs real programs for the tests: bash scripts, and checks that need a tool on this machine. */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface Result {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(
  command: string,
  args: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Result {
  const r = spawnSync(command, args, { input: opts.input, env: opts.env ?? process.env, cwd: opts.cwd, encoding: "utf8" });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh temporary directory, removed after the test run. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `crm-${prefix}-`));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function hasCommand(name: string): boolean {
  return run("bash", ["-c", `command -v ${name}`]).status === 0;
}
