/**
 * Settings both clouds read, and the helpers their own settings use: read from the `crm` config
 * namespace and validated with zod like topology/settings.ts, every message starting with the
 * full key. Pure parsers over raw values, so they are tested without Pulumi.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { CONFIG_NAMESPACE, isIpv4Cidr, SettingsError, type Settings } from "../../topology/settings";

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

export const required = z.string().min(1);
const booleanLike = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]);
export const optionalBoolean = (fallback: boolean) => booleanLike.default(fallback);
export const gibibytes = (fallback: number) =>
  z
    .union([z.number(), z.string().regex(/^\d+$/, "must be a whole number of GiB")])
    .transform(Number)
    .pipe(z.number().int().min(1, "must be at least 1 GiB").max(16384))
    .default(fallback);

/**
 * A fully qualified DNS name a certificate can be issued for: letters, digits and hyphens in
 * labels of 1 to 63 characters (no leading or trailing hyphen), at least two labels, a top-level
 * label that is not all digits (so that an IP address is refused), 253 characters at most. No
 * wildcard: the service has one name. A trailing dot is not accepted (ACM and browsers use none).
 */
export function isDnsName(value: string): boolean {
  if (value.length > 253) return false;
  const labels = value.split(".");
  const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
  return labels.length >= 2 && labels.every((l) => label.test(l)) && !/^\d+$/.test(labels[labels.length - 1]);
}

/** Settings both clouds need: who may administer, and the service's name. The app and Node.js come with the stack (bundle.ts). */
export const cloudCommonSchema = z.object({
  // Required on clouds, although topology/settings.ts defaults it: that default is vnx's LAN1.
  adminCidr: required.refine(isIpv4Cidr, "must be an IPv4 CIDR such as 203.0.113.0/24"),
  /**
   * The name clients reach the service by (its DNS record is the user's, or Route 53's with
   * crm:awsZoneId): the service certificate names it, and the stack's URL uses it. On aws it is
   * what turns HTTPS on without a certificate of the user's (an ACM certificate, DNS-validated).
   */
  domain: z
    .string()
    .trim()
    .toLowerCase()
    .refine(isDnsName, "must be a DNS name such as crm.example.com (letters, digits, hyphens and dots; no scheme, port or path)")
    .optional(),
});
export const CLOUD_COMMON_KEYS = ["adminCidr", "domain"] as const;

/** Options the clouds do not realize (yet), refused with the key that asks for them. */
export function unsupportedOnClouds(settings: Settings, target: string): string | undefined {
  if (settings.monitoring) return `crm:monitoring: the monitoring host has no cloud realization yet and is not available on ${target}`;
  // Refused rather than ignored: a setting that silently does nothing is a knob nobody reads (see docs/clouds.md).
  if (settings.frontHa)
    return `crm:frontHa: ${target} has no firewall or balancer host to double: its security groups are enforced on every instance and its managed balancer is the cloud's own redundancy (see docs/clouds.md); remove the setting`;
  return undefined;
}
