/**
 * Drives the real Pulumi CLI (the project's built toolchain) against a throw-away local backend,
 * so tests never touch the user's own stacks or state.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { run, runAsync, tempDir, type Result } from "./shell";

const ROOT = path.resolve(__dirname, "../..");

export interface TestStack {
  readonly name: string;
  readonly configFile: string;
  /** `pulumi ARGS --stack NAME --config-file FILE`. */
  pulumi(...args: string[]): Result;
  /** The same, without blocking the event loop. */
  pulumiAsync(...args: string[]): Promise<Result>;
  /** `pulumi ARGS` in the same environment, for commands that take no stack. */
  run(...args: string[]): Result;
  /** Sets config values (secrets go on stdin, never on the command line). */
  configure(values: Record<string, string | number | boolean>, secrets?: Record<string, string>): void;
  /** Sets one element of a structured value, e.g. `crm:managementKeys[0]`. */
  configurePath(path: string, value: string): void;
  /** How many resources the stack's state holds, beyond the stack itself and its providers. */
  resourceCount(): number;
}

/**
 * A stack in its own local backend. By default in a temporary folder; `dir` gives a fixed one,
 * so a run that crashed leaves state the next run can destroy.
 */
export function testStack(prefix: string, opts: { dir?: string; root?: string } = {}): TestStack {
  const dir = opts.dir ?? tempDir(prefix);
  // `root` runs another checkout of the project (an earlier commit) on the same stack and state.
  const root = opts.root ?? ROOT;
  const name = opts.dir ? prefix : `${prefix}-${process.pid}`;
  const configFile = path.join(dir, `Pulumi.${name}.yaml`);
  const env = {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${dir}/state`,
    PULUMI_CONFIG_PASSPHRASE: "crm-test-passphrase",
    PULUMI_CONFIG_PASSPHRASE_FILE: "",
    // The toolchain this checkout built: another checkout uses it instead of building its own.
    CRM_TOOLS: path.join(ROOT, ".tools"),
  };
  fs.mkdirSync(path.join(dir, "state"), { recursive: true });
  const cli = path.join(root, "scripts/pulumi");
  const plain = (...args: string[]) => run(cli, args, { env, cwd: root });
  const onStack = (args: string[]) => [...args, "--stack", name, "--config-file", configFile];
  const pulumi = (...args: string[]) => plain(...onStack(args));
  const exists = plain("stack", "ls", "--json").stdout.includes(`"${name}"`);
  const init = exists ? { status: 0, stderr: "" } : plain("stack", "init", name, "--secrets-provider", "passphrase");
  if (init.status !== 0) throw new Error(`stack init failed: ${init.stderr}`);
  // `stack init` writes the stack's settings (its encryption salt) beside Pulumi.yaml; keep them in the test's own folder.
  const written = path.join(root, `Pulumi.${name}.yaml`);
  if (fs.existsSync(written)) fs.renameSync(written, configFile);
  return {
    name,
    configFile,
    pulumi,
    pulumiAsync: (...args) => runAsync(cli, onStack(args), { env, cwd: root }),
    run: plain,
    configure(values, secrets = {}) {
      for (const [k, v] of Object.entries(values)) {
        const r = pulumi("config", "set", k, String(v));
        if (r.status !== 0) throw new Error(`config set ${k}: ${r.stderr}`);
      }
      for (const [k, v] of Object.entries(secrets)) {
        // On stdin, so a secret never stands on a command line.
        const r = run(cli, onStack(["config", "set", "--secret", k]), { env, cwd: root, input: v });
        if (r.status !== 0) throw new Error(`config set --secret ${k}: ${r.stderr}`);
      }
    },
    configurePath(key, value) {
      const r = pulumi("config", "set", "--path", key, value);
      if (r.status !== 0) throw new Error(`config set --path ${key}: ${r.stderr}`);
    },
    resourceCount() {
      // `stack export` takes no --config-file.
      const r = plain("stack", "export", "--stack", name);
      if (r.status !== 0) throw new Error(r.stderr);
      const state = JSON.parse(r.stdout) as { deployment?: { resources?: { type: string }[] } };
      const real = (state.deployment?.resources ?? []).filter(
        (res) => res.type !== "pulumi:pulumi:Stack" && !res.type.startsWith("pulumi:providers:"),
      );
      return real.length;
    },
  };
}

export const VALID_SECRETS = {
  "crm:dbPassword": "db-password-for-tests",
  "crm:sessionSecret": "a-session-secret-of-at-least-32-characters",
  "crm:adminPassword": "admin-pass-1",
};
