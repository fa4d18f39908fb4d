/** Settings of the openstack target, validated like topology/settings.ts (messages start with the key). */
import { z } from "zod";
import { CLOUD_COMMON_KEYS, cloudCommonSchema, gibibytes, optionalBoolean, parseKeyed, readRaw } from "../aws/settings";

const required = z.string().min(1);

export const openstackSchema = cloudCommonSchema.extend({
  /** Entry of clouds.yaml to use; without it the provider reads the OS_* environment. */
  osCloud: z.string().min(1).optional(),
  osRegion: z.string().min(1).optional(),
  osImage: required,
  osFlavor: required,
  osExternalNetwork: required,
  osKeyPair: required,
  /** Octavia as the load balancer; false = an HAProxy server running roles/balancer.ts. */
  osOctavia: optionalBoolean(true),
  osVolumeSize: gibibytes(20),
});
export type OpenStackSettings = z.infer<typeof openstackSchema>;
export const OPENSTACK_KEYS = [
  ...CLOUD_COMMON_KEYS,
  "osCloud",
  "osRegion",
  "osImage",
  "osFlavor",
  "osExternalNetwork",
  "osKeyPair",
  "osOctavia",
  "osVolumeSize",
] as const;

export function parseOpenStackSettings(raw: Readonly<Record<string, unknown>>): OpenStackSettings {
  return parseKeyed(openstackSchema, raw, "the openstack target");
}

export function loadOpenStackSettings(): OpenStackSettings {
  return parseOpenStackSettings(readRaw(OPENSTACK_KEYS));
}
