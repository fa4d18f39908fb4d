/** Settings of the openstack target, validated like topology/settings.ts (messages start with the key). */
import { z } from "zod";
import { CLOUD_COMMON_KEYS, cloudCommonSchema, gibibytes, optionalBoolean, parseKeyed, readRaw, required } from "../cloud/settings";

export const openstackSchema = cloudCommonSchema.extend({
  /** Entry of clouds.yaml to use; without it the provider reads the OS_* environment. */
  osCloud: z.string().min(1).optional(),
  osRegion: z.string().min(1).optional(),
  /** Debian 13's image, by a name or id that names one image for good (docs/clouds.md, "Updating the image"). */
  osImage: required,
  osFlavor: required,
  osExternalNetwork: required,
  /** A Nova key pair for the image's default user; optional: the management host gives shell access without one. */
  osKeyPair: z.string().min(1).optional(),
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
