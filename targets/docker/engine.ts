/**
 * The preflight of the docker target: before the program registers anything, the engine must
 * answer and the base image must be there (or be pullable), so that a wrong crm:dockerHost or
 * crm:dockerBaseImage fails `preview` and `up` with a message naming the key, and nothing is
 * half-created. It asks through the Docker CLI, which the target needs anyway (`docker exec`
 * delivers the role scripts).
 */
import { spawnSync } from "node:child_process";
import { settingKey, type DockerSettings } from "./settings";

export interface CliAnswer {
  /** undefined: the CLI could not be started at all. */
  readonly status: number | undefined;
  readonly stderr: string;
}

/** Runs the Docker CLI against the configured engine (bounded: a dead tcp:// host must not hang preview). */
export type DockerCli = (args: readonly string[], timeoutMs: number) => CliAnswer;

export const dockerCli: DockerCli = (args, timeoutMs) => {
  const r = spawnSync("docker", args, { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "ignore", "pipe"] });
  return { status: r.error ? undefined : (r.status ?? 1), stderr: r.error ? r.error.message : r.stderr };
};

const firstLine = (text: string) => text.trim().split("\n")[0] || "no answer";

/** What stops the docker target on this machine, or undefined. Pure given `cli`. */
export function engineProblem(settings: Pick<DockerSettings, "host" | "baseImage">, cli: DockerCli): string | undefined {
  const on = ["--host", settings.host];
  const version = cli([...on, "version", "--format", "{{.Server.Version}}"], 20_000);
  if (version.status === undefined)
    return `the docker target runs the Docker CLI (role scripts go in through docker exec), and it cannot be started: ${firstLine(version.stderr)}`;
  if (version.status !== 0) return `${settingKey("host")}: no Docker engine answers at ${settings.host}: ${firstLine(version.stderr)}`;
  if (cli([...on, "image", "inspect", settings.baseImage], 20_000).status === 0) return undefined;
  const pull = cli([...on, "pull", "--quiet", settings.baseImage], 300_000);
  if (pull.status !== 0)
    return `${settingKey("baseImage")}: image ${settings.baseImage} is not on the engine at ${settings.host} and cannot be pulled: ${firstLine(pull.stderr)}`;
  return undefined;
}
