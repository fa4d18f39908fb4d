/**
 * Runs a runner script in a Node.js process of its own (the program under test runs at import,
 * so each run needs a fresh module cache) and returns the JSON it wrote. No engine and no
 * credentials reach it: only PATH, and a HOME (by default a throw-away one, which also holds the result).
 */
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const TIMEOUT_MS = 120_000;

interface Prepared {
  readonly dir: string;
  readonly out: string;
  readonly args: string[];
  readonly options: { cwd: string; env: NodeJS.ProcessEnv; timeout: number };
}

function prepare(runner: string, arg: string, home: string | undefined): Prepared {
  // Mode 700: a record may hold inputs with their secrets revealed (test values).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-mocks-"));
  const out = path.join(dir, "result.json");
  return {
    dir,
    out,
    args: ["--import", "tsx", runner, arg, out],
    options: { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: home ?? dir, PULUMI_SKIP_UPDATE_CHECK: "true" }, timeout: TIMEOUT_MS },
  };
}

function collect<T>(p: Prepared): T {
  try {
    return JSON.parse(fs.readFileSync(p.out, "utf8")) as T;
  } finally {
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
}

/** `node --import tsx RUNNER ARG OUT_FILE`, then the parsed OUT_FILE. */
export function runInOwnProcess<T>(runner: string, arg: string, opts: { home?: string } = {}): T {
  const p = prepare(runner, arg, opts.home);
  try {
    execFileSync(process.execPath, p.args, { ...p.options, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    fs.rmSync(p.dir, { recursive: true, force: true });
    throw e;
  }
  return collect<T>(p);
}

/** The same, without blocking: several runs at once. */
export function runInOwnProcessAsync<T>(runner: string, arg: string, opts: { home?: string } = {}): Promise<T> {
  const p = prepare(runner, arg, opts.home);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, p.args, p.options, (error) => {
      if (error) {
        fs.rmSync(p.dir, { recursive: true, force: true });
        reject(error);
        return;
      }
      // A throw in this callback would be an uncaught exception, not this promise's rejection.
      try {
        resolve(collect<T>(p));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}
