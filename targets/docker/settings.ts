/**
 * The docker target's own settings, read from the `crm` namespace and validated here, each
 * message starting with the full key. They are not declared in Pulumi.yaml (Pulumi would then
 * want them on every stack); Pulumi.docker.yaml lists them with their defaults.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { SCENARIO_CIDR } from "../../topology/plan";
import { CONFIG_NAMESPACE, SettingsError } from "../../topology/settings";

/** A /16 such as 10.2.0.0/16: the docker stack's address plan is the seed's, moved there. */
const SLASH16 = /^(\d{1,3})\.(\d{1,3})\.0\.0\/16$/;

export interface DockerSettings {
  /** The engine the provider and `docker exec` talk to, e.g. unix:///var/run/docker.sock. */
  readonly host: string;
  /** The image every host's image is built from (FROM). */
  readonly baseImage: string;
  /** Where the scenario's four LANs live: the seed's 10.1.x.y plan becomes A.B.x.y. */
  readonly cidr: string;
  /** Where the machine reaches the CRM: this address and port are published by the fw container. */
  readonly publishAddress: string;
  readonly publishPort: number;
}

export const DOCKER_DEFAULTS = {
  host: "unix:///var/run/docker.sock",
  baseImage: "debian:trixie",
  cidr: "10.2.0.0/16",
  publish: "127.0.0.1:8080",
} as const;

const KEYS = { host: "dockerHost", baseImage: "dockerBaseImage", cidr: "dockerCidr", publish: "dockerPublish" } as const;

const octetsOk = (text: string) => text.split(".").every((o) => Number(o) <= 255);

const schema = z.object({
  [KEYS.host]: z
    .string()
    .regex(/^(unix|tcp|ssh|npipe):\/\/\S+$/, "must be an engine address such as unix:///var/run/docker.sock or tcp://host:2376")
    .default(DOCKER_DEFAULTS.host),
  [KEYS.baseImage]: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._\-/:@]*$/, "must be an image reference such as debian:trixie")
    .default(DOCKER_DEFAULTS.baseImage),
  [KEYS.cidr]: z
    .string()
    .refine((v) => SLASH16.test(v) && octetsOk(v.split("/")[0]), "must be a /16 such as 10.2.0.0/16 (the seed's plan moved there)")
    .refine((v) => v !== SCENARIO_CIDR, `must not be ${SCENARIO_CIDR}, the vnx stack's range: the two stacks would collide on this machine`)
    .default(DOCKER_DEFAULTS.cidr),
  [KEYS.publish]: z
    .string()
    .regex(/^(\d{1,3}\.){3}\d{1,3}:\d{1,5}$/, "must be ADDRESS:PORT, e.g. 127.0.0.1:8080")
    .refine(
      (v) => octetsOk(v.split(":")[0]) && Number(v.split(":")[1]) >= 1 && Number(v.split(":")[1]) <= 65535,
      "has a bad address or port",
    )
    .default(DOCKER_DEFAULTS.publish),
});

/** Validates the raw values (strings, as in a stack file); throws one line per bad key. */
export function parseDockerSettings(raw: Readonly<Record<string, unknown>>): DockerSettings {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${CONFIG_NAMESPACE}:${i.path.join(".")}: ${i.message}`);
    throw new SettingsError(`invalid configuration for the docker target:\n  ${lines.join("\n  ")}`);
  }
  const s = result.data;
  const [publishAddress, port] = s[KEYS.publish].split(":");
  return { host: s[KEYS.host], baseImage: s[KEYS.baseImage], cidr: s[KEYS.cidr], publishAddress, publishPort: Number(port) };
}

/** Reads and validates the docker settings from the stack's config. */
export function loadDockerSettings(): DockerSettings {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: Record<string, unknown> = {};
  for (const key of Object.values(KEYS)) {
    const value = config.get(key);
    if (value !== undefined) raw[key] = value;
  }
  return parseDockerSettings(raw);
}

/** The full config key of a docker setting, for messages. */
export function settingKey(name: keyof typeof KEYS): string {
  return `${CONFIG_NAMESPACE}:${KEYS[name]}`;
}
