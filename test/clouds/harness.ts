/** Spawns the runner for a scenario and returns what it recorded. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runInOwnProcess, runInOwnProcessAsync } from "../support/isolated";
import type { RunResult, Scenario } from "./model";

const ROOT = path.resolve(__dirname, "../..");
const STABLE_HOME = path.join(os.tmpdir(), "crm-clouds-home");

export function run(scenario: Scenario): RunResult {
  // No engine, no credentials: the program must never need either.
  // One HOME for every run: the bundle's cache path (under HOME) is an input, the same between runs.
  return runInOwnProcess<RunResult>(path.join(__dirname, "runner.ts"), JSON.stringify(scenario), { home: STABLE_HOME });
}

/** The same, in the background: several scenarios at once. */
export function runAsync(scenario: Scenario): Promise<RunResult> {
  return runInOwnProcessAsync<RunResult>(path.join(__dirname, "runner.ts"), JSON.stringify(scenario), { home: STABLE_HOME });
}

export const SECRETS = {
  "crm:dbPassword": "db-password-0123456789",
  "crm:sessionSecret": "session-secret-0123456789abcdef0123456789",
  "crm:adminPassword": "admin-password-42",
};

export const AWS_CONFIG = {
  "crm:target": "aws",
  "crm:adminCidr": "203.0.113.0/24",
  "crm:awsRegion": "eu-west-1",
  "crm:awsAmi": "ami-0123456789abcdef0",
  ...SECRETS,
};

export const OPENSTACK_CONFIG = {
  "crm:target": "openstack",
  "crm:adminCidr": "203.0.113.0/24",
  "crm:osImage": "debian-13-genericcloud-amd64",
  "crm:osFlavor": "m1.small",
  "crm:osExternalNetwork": "public",
  "crm:osKeyPair": "crm-admin",
  ...SECRETS,
};

export function scenario(
  base: Record<string, string>,
  extra: Record<string, string> = {},
  mocked: Pick<Scenario, "bundleDigest" | "zones"> = {},
): Scenario {
  const config = { ...base, ...extra };
  return { stack: config["crm:target"] === "openstack" ? "openstack" : "aws", config, secretKeys: Object.keys(SECRETS), ...mocked };
}

/** The `crm:` settings of a stack file (flat `key: value` lines; comments and quotes dropped). */
export function stackFileConfig(file: string): Record<string, string> {
  const config: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(ROOT, file), "utf8").split("\n")) {
    const m = /^\s+(crm:\w+):\s*("[^"]*"|[^\s#]+)/.exec(line);
    if (m) config[m[1]] = m[2].replace(/^"|"$/g, "");
  }
  return config;
}

/** Resource counts by type (custom resources and components alike). */
export function countByType(result: RunResult): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of result.resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}
