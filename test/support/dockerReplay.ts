/**
 * The replay: carries out, on a real Docker engine, the resource graph the program registered
 * under mocks (test/support/vnxMockRun.ts), doing for each resource what its provider would do
 * with the same inputs — docker:index/* through the Docker CLI, command:local:Command as a shell
 * command with its stdin, directory and environment — each as soon as what it depends on is done,
 * as the Pulumi engine schedules them. Then `destroy` undoes it in reverse order.
 *
 * Why: the docker provider's plugin cannot be obtained on this machine, so `pulumi up --stack
 * docker` cannot run here; this proves that the inputs the program gives the providers build a
 * working scenario. It does not prove the providers' own behaviour (diffs, updates, refresh).
 */
import { spawn } from "node:child_process";
import type { Registered } from "./vnxMockRun";

/** Pulumi's wire signature of a secret value. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** The inputs with every secret replaced by its value (what a provider receives, decrypted). */
export function reveal(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reveal);
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (SECRET_SIG in o) return reveal(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, reveal(v)]));
  }
  return value;
}

/** One step of the replay, for the record: what ran, how long it took. */
export interface Step {
  readonly name: string;
  readonly type: string;
  readonly seconds: number;
}

interface Run {
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env?: Record<string, string>;
  readonly input?: string;
}

/** Runs a program; rejects with its last output when it fails. */
function exec(file: string, run: Run): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, run.args, { cwd: run.cwd, env: { ...process.env, ...run.env }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${file} ${run.args.slice(0, 3).join(" ")} … exited ${code}:\n${out.slice(-3000)}`)),
    );
    child.stdin.on("error", () => undefined);
    child.stdin.end(run.input ?? "");
  });
}

type Inputs = Record<string, unknown>;
const list = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const str = (v: unknown): string => (typeof v === "string" ? v : String(v));

/**
 * `docker create` arguments for a docker:index/container:Container's inputs. As the provider does,
 * the container is created on `networkMode` (Docker's default bridge when unset); `networksAdvanced`
 * are joined afterwards (see Replay.create).
 */
export function containerCreateArgs(i: Inputs): string[] {
  const caps = (i.capabilities ?? {}) as { adds?: string[]; drops?: string[] };
  const flag = (name: string, values: readonly string[]) => values.flatMap((v) => [name, v]);
  return [
    "create",
    ...["--name", str(i.name)],
    ...(i.hostname ? ["--hostname", str(i.hostname)] : []),
    ...(i.networkMode ? ["--network", str(i.networkMode)] : []),
    ...flag("--cap-add", caps.adds ?? []),
    ...flag("--cap-drop", caps.drops ?? []),
    ...flag("--security-opt", list<string>(i.securityOpts)),
    ...flag(
      "--device",
      list<{ hostPath: string; containerPath?: string; permissions?: string }>(i.devices).map(
        (d) => `${d.hostPath}:${d.containerPath ?? d.hostPath}:${d.permissions ?? "rwm"}`,
      ),
    ),
    ...flag(
      "--tmpfs",
      Object.entries((i.tmpfs ?? {}) as Record<string, string>).map(([p, o]) => `${p}:${o}`),
    ),
    ...(i.stopSignal ? ["--stop-signal", str(i.stopSignal)] : []),
    ...(i.cgroupnsMode ? ["--cgroupns", str(i.cgroupnsMode)] : []),
    ...(i.restart ? ["--restart", str(i.restart)] : []),
    ...flag(
      "--label",
      list<{ label: string; value: string }>(i.labels).map((l) => `${l.label}=${l.value}`),
    ),
    ...flag(
      "--publish",
      list<{ internal: number; external?: number; ip?: string; protocol?: string }>(i.ports).map(
        (p) => `${p.ip ? `${p.ip}:` : ""}${p.external ?? ""}:${p.internal}/${p.protocol ?? "tcp"}`,
      ),
    ),
    ...flag(
      "--volume",
      list<{ volumeName?: string; hostPath?: string; containerPath: string }>(i.volumes).map(
        (v) => `${v.volumeName ?? v.hostPath}:${v.containerPath}`,
      ),
    ),
    str(i.image),
    ...list<string>(i.command),
  ];
}

/** `docker network create` arguments for a docker:index/network:Network's inputs. */
export function networkCreateArgs(i: Inputs): string[] {
  const ipam = list<{ subnet?: string; gateway?: string }>(i.ipamConfigs);
  return [
    "network",
    "create",
    ...["--driver", str(i.driver ?? "bridge")],
    ...ipam.flatMap((c) => [...(c.subnet ? ["--subnet", c.subnet] : []), ...(c.gateway ? ["--gateway", c.gateway] : [])]),
    ...Object.entries((i.options ?? {}) as Record<string, string>).flatMap(([k, v]) => ["--opt", `${k}=${v}`]),
    ...list<{ label: string; value: string }>(i.labels).flatMap((l) => ["--label", `${l.label}=${l.value}`]),
    ...(i.internal === true ? ["--internal"] : []),
    str(i.name),
  ];
}

export class Replay {
  public readonly steps: Step[] = [];
  /** What was created, in order, for `destroy`. */
  private readonly made: { type: string; inputs: Inputs }[] = [];
  private env: Record<string, string> = {};

  constructor(
    private readonly resources: readonly Registered[],
    private readonly root: string,
  ) {}

  private docker(...args: string[]): Promise<string> {
    return exec("docker", { args, env: this.env });
  }

  /** Carries out one resource as its provider would. */
  private async create(r: Registered, i: Inputs): Promise<void> {
    switch (r.type) {
      case "pulumi:providers:docker":
        this.env = { DOCKER_HOST: str(i.host) };
        return;
      case "docker:index/network:Network":
        await this.docker(...networkCreateArgs(i));
        break;
      case "docker:index/volume:Volume":
        await this.docker(
          "volume",
          "create",
          ...list<{ label: string; value: string }>(i.labels).flatMap((l) => ["--label", `${l.label}=${l.value}`]),
          str(i.name),
        );
        break;
      case "docker:index/image:Image": {
        const build = i.build as { context: string; dockerfile?: string; args?: Record<string, string>; builderVersion?: string };
        const args = Object.entries(build.args ?? {}).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
        await exec("docker", {
          args: [
            "build",
            "--quiet",
            "--tag",
            str(i.imageName),
            ...(build.dockerfile ? ["--file", build.dockerfile] : []),
            ...args,
            build.context,
          ],
          env: { ...this.env, DOCKER_BUILDKIT: build.builderVersion === "BuilderV1" ? "0" : "1" },
        });
        return; // an image outlives the stack: the provider does not remove it either
      }
      case "docker:index/container:Container": {
        // The provider's order (kreuzwerker/docker, which @pulumi/docker bridges): create, leave the default bridge, join
        // every network of networksAdvanced with its address, then start.
        await this.docker(...containerCreateArgs(i));
        this.made.push({ type: r.type, inputs: i });
        const networks = list<{ name: string; ipv4Address?: string }>(i.networksAdvanced);
        if (networks.length > 0) await this.docker("network", "disconnect", "bridge", str(i.name)).catch(() => undefined);
        for (const n of networks) {
          await this.docker("network", "connect", ...(n.ipv4Address ? ["--ip", n.ipv4Address] : []), n.name, str(i.name));
        }
        if (i.mustRun !== false) await this.docker("start", str(i.name));
        return;
      }
      case "command:local:Command":
        // The command provider runs `create` with /bin/sh -c in `dir`, its environment added, stdin on standard input.
        await exec("/bin/sh", {
          args: ["-c", str(i.create)],
          cwd: typeof i.dir === "string" ? i.dir : this.root,
          env: { ...((i.environment ?? {}) as Record<string, string>) },
          input: typeof i.stdin === "string" ? i.stdin : undefined,
        });
        break;
      case "pulumi-nodejs:dynamic/crm-certificate:Resource":
        // The stack's CA (tls/certificate.ts) lives in Pulumi's state only; the docker balancer serves no HTTPS yet.
        return;
      default:
        if (r.type.startsWith("crm:")) return; // components register no physical thing
        throw new Error(`the replay does not know how to create ${r.type} (${r.name})`);
    }
    this.made.push({ type: r.type, inputs: i });
  }

  /** Creates every resource, each once everything it depends on is done; stops at the first failure. */
  async up(): Promise<void> {
    const byUrn = new Map(this.resources.map((r) => [r.urn, r]));
    // A dependency on a component stands for every resource under it.
    const under = (urn: string): Registered[] => this.resources.filter((r) => r.parent === urn).flatMap((r) => [r, ...under(r.urn)]);
    const done = new Map<string, Promise<void>>();
    let failed: unknown;
    const start = (r: Registered): Promise<void> => {
      const existing = done.get(r.urn);
      if (existing) return existing;
      const deps = r.dependencies.flatMap((d) => {
        const dep = byUrn.get(d);
        return dep ? [dep, ...under(dep.urn)] : [];
      });
      const promise = Promise.all(deps.map(start)).then(async () => {
        if (failed) return;
        const t0 = Date.now();
        try {
          await this.create(r, reveal(r.inputs) as Inputs);
        } catch (e) {
          failed ??= e;
          throw e;
        }
        this.steps.push({ name: r.name, type: r.type, seconds: (Date.now() - t0) / 1000 });
      });
      done.set(r.urn, promise);
      return promise;
    };
    await Promise.allSettled(this.resources.map(start));
    if (failed) throw failed instanceof Error ? failed : new Error(String(failed));
  }

  /** Deletes what `up` made, newest first (containers stop with their grace period), then anything else labelled as the stack's. */
  async destroy(owner: string): Promise<void> {
    // Containers depend on volumes and networks, and nothing depends on a container: they go first, all at once, as the engine would delete them.
    const names = (type: string) => this.made.filter((m) => m.type === type).map((m) => m.inputs);
    await Promise.all(
      names("docker:index/container:Container").map(async (c) => {
        await this.docker("stop", "--time", str(c.destroyGraceSeconds ?? 10), str(c.name)).catch(() => undefined);
        await this.docker("rm", "--force", "--volumes", str(c.name)).catch(() => undefined);
      }),
    );
    await Promise.all(
      names("docker:index/volume:Volume").map((v) => this.docker("volume", "rm", "--force", str(v.name)).catch(() => undefined)),
    );
    await Promise.all(names("docker:index/network:Network").map((n) => this.docker("network", "rm", str(n.name)).catch(() => undefined)));
    this.made.length = 0;
    await removeLabelled(owner, this.env);
  }
}

/** Removes every container, volume and network labelled `crm.owner=OWNER` (a crashed run's leftovers too). */
export async function removeLabelled(owner: string, env: Record<string, string> = {}): Promise<void> {
  const docker = (...args: string[]) => exec("docker", { args, env });
  const ids = async (...args: string[]) =>
    (await docker(...args, "--filter", `label=crm.owner=${owner}`, "--quiet")).split("\n").filter(Boolean);
  for (const id of await ids("ps", "--all")) await docker("rm", "--force", "--volumes", id).catch(() => undefined);
  for (const id of await ids("volume", "ls")) await docker("volume", "rm", "--force", id).catch(() => undefined);
  for (const id of await ids("network", "ls")) await docker("network", "rm", id).catch(() => undefined);
}

/** What the stack left on the engine: must be empty after `destroy`. */
export async function leftOnEngine(owner: string): Promise<string[]> {
  const out: string[] = [];
  for (const kind of [
    ["ps", "--all"],
    ["volume", "ls"],
    ["network", "ls"],
  ]) {
    const found = await exec("docker", { args: [...kind, "--filter", `label=crm.owner=${owner}`, "--quiet"] });
    out.push(
      ...found
        .split("\n")
        .filter(Boolean)
        .map((id) => `${kind[0]} ${id}`),
    );
  }
  return out;
}
