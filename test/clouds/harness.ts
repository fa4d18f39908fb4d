/** Spawns the runner for a scenario and returns what it recorded. */
import { execFileSync } from "node:child_process";
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
  // crm:tlsKey is set with --secret, like the passwords.
  const secretKeys = [...Object.keys(SECRETS), ...("crm:tlsKey" in config ? ["crm:tlsKey"] : [])];
  return { stack: config["crm:target"] === "openstack" ? "openstack" : "aws", config, secretKeys, ...mocked };
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

/** A certificate a user brings (crm:tlsCertificate, crm:tlsKey): leaf first, then the CA that issued it. */
export interface UserCertificate {
  readonly chain: string;
  readonly leaf: string;
  readonly issuer: string;
  readonly key: string;
}

/** Made by openssl for `subjectAltName` (e.g. "DNS:crm.example.com"), issued by a throw-away CA: the chain has an issuer after the leaf. */
export function userCertificate(subjectAltName: string): UserCertificate {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-user-cert-"));
  const at = (f: string) => path.join(dir, f);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  try {
    fs.writeFileSync(at("ext"), `subjectAltName=${subjectAltName}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
    openssl("req", "-x509", ...ec, "-keyout", at("ca.key"), "-out", at("ca.pem"), "-days", "30", "-subj", "/CN=user CA");
    openssl("req", "-new", ...ec, "-keyout", at("leaf.key"), "-out", at("leaf.csr"), "-subj", "/CN=crm");
    openssl(
      "x509",
      "-req",
      "-in",
      at("leaf.csr"),
      "-CA",
      at("ca.pem"),
      "-CAkey",
      at("ca.key"),
      "-set_serial",
      "7",
      "-days",
      "30",
      "-extfile",
      at("ext"),
      "-out",
      at("leaf.pem"),
    );
    const read = (f: string) => fs.readFileSync(at(f), "utf8");
    return { leaf: read("leaf.pem"), issuer: read("ca.pem"), chain: read("leaf.pem") + read("ca.pem"), key: read("leaf.key") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
