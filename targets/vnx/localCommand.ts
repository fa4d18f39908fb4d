/**
 * A command run on this machine as a Pulumi resource: `create` on create (and on update, for
 * idempotent commands), `delete` on delete, and an optional `probe` that makes what the command
 * made visible to `pulumi refresh`.
 *
 * Why not @pulumi/command: its provider plugin cannot be obtained here (neither a release
 * download nor its Go module is reachable), while dynamic providers run inside the Node.js SDK
 * the program already uses. The semantics follow command:local:Command (a script text, stdin,
 * environment, triggers, and a choice between replacing and re-running on change) and add what
 * it lacks for things with a life of their own, such as containers:
 * - `probe` prints one line that says how the thing is now, or `absent`. Its answer right after
 *   create/update is kept as `applied`; `pulumi refresh` stores a new answer as `observed`. A
 *   thing found `absent` leaves the state, so the next `up` creates it again; an `observed` that
 *   differs from `applied` is drift, which the next `up` repairs by running `create` again.
 * - `owner` tells the scripts whose the thing is (`CRM_OWNER`), and `CRM_OPERATION` whether
 *   Pulumi is creating it or updating one it already made, so a script can refuse to take over
 *   something of the same name that it did not make.
 */
import * as pulumi from "@pulumi/pulumi";

export interface LocalCommandArgs {
  /** Bash script run on create, and on update (after a change with `rerunOnChange`, or to repair drift). */
  readonly create: pulumi.Input<string>;
  /** Bash script run on delete. */
  readonly delete?: pulumi.Input<string>;
  /**
   * Passed on standard input; may be a secret. State keeps only its hash, so a secret here
   * never lands in the state or on a command line.
   */
  readonly stdin?: pulumi.Input<string>;
  /** Environment variables for the scripts (not secrets: they are stored in state). */
  readonly environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Any change here re-runs or replaces, like a changed script. */
  readonly triggers?: pulumi.Input<unknown[]>;
  /**
   * true: a change runs `create` again on the existing resource (it must be idempotent).
   * false (default): a change replaces the resource (delete, then create).
   */
  readonly rerunOnChange?: boolean;
  /** Bash script printing one line: the thing's state now, or `absent`. Without it, refresh sees nothing. */
  readonly probe?: pulumi.Input<string>;
  /** Passed to the scripts as CRM_OWNER: who the thing belongs to. */
  readonly owner?: pulumi.Input<string>;
}

interface ProviderInputs {
  create: string;
  delete?: string;
  stdin?: string;
  environment?: Record<string, string>;
  triggers?: unknown[];
  rerunOnChange?: boolean;
  probe?: string;
  owner?: string;
}

export interface ProviderOutputs {
  create: string;
  delete?: string;
  stdinHash: string;
  environment?: Record<string, string>;
  triggers?: unknown[];
  rerunOnChange?: boolean;
  probe?: string;
  owner?: string;
  /** What `probe` said right after the last create or update. */
  applied?: string;
  /** What `probe` said at the last refresh (or create/update). */
  observed?: string;
}

type Operation = "create" | "update" | "delete" | "probe";

/** The probe's answer for a thing that does not exist. */
export const ABSENT = "absent";

// Everything the provider uses is required inside its methods: Pulumi serializes these functions
// into the dynamic provider process, and module-level imports would be captured by value.
export const localCommandProvider: pulumi.dynamic.ResourceProvider<ProviderInputs, ProviderOutputs> = {
  async check(_olds, news) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (typeof news.create !== "string" || news.create.trim() === "")
      failures.push({ property: "create", reason: "create must be a non-empty script" });
    for (const key of ["delete", "probe", "owner"] as const) {
      const value: unknown = news[key];
      if (value !== undefined && typeof value !== "string") failures.push({ property: key, reason: `${key} must be a string` });
    }
    return { inputs: news, failures };
  },

  async diff(_id, olds, news) {
    const { createHash } = await import("node:crypto");
    const stdinHash = createHash("sha256")
      .update(news.stdin ?? "")
      .digest("hex");
    const json = (v: unknown) => JSON.stringify(v ?? null);
    // The inputs that define the command's effect, each named so the engine reports exactly which one changed.
    const changed = [
      olds.create !== news.create && "create",
      olds.stdinHash !== stdinHash && "stdin",
      json(olds.environment ?? {}) !== json(news.environment ?? {}) && "environment",
      json(olds.triggers ?? []) !== json(news.triggers ?? []) && "triggers",
    ].filter((k): k is string => k !== false);
    const drifted = olds.applied !== undefined && olds.observed !== undefined && olds.observed !== olds.applied;
    // A state written before probes existed (no `applied`) is brought up to date in place.
    const bookkeeping = olds.delete !== news.delete || olds.probe !== news.probe || olds.owner !== news.owner;
    return {
      changes: changed.length > 0 || drifted || bookkeeping,
      replaces: news.rerunOnChange ? [] : changed,
      deleteBeforeReplace: true,
    };
  },

  async create(inputs) {
    const outs = await apply("create", inputs);
    return { id: (await import("node:crypto")).randomUUID(), outs };
  },

  async update(_id, _olds, news) {
    return { outs: await apply("update", news) };
  },

  async read(id, props) {
    if (!props?.probe) return { id, props };
    const observed = await runScript("probe", props.probe, props);
    // Gone: a blank id takes it out of the state, and the next `up` creates it again.
    if (observed === ABSENT) return { id: "" };
    return { id, props: { ...props, observed } };
  },

  async delete(_id, olds) {
    if (olds.delete) await runScript("delete", olds.delete, olds);
  },
};

/** Runs `create` and then the probe; returns the state to keep. */
async function apply(operation: "create" | "update", inputs: ProviderInputs): Promise<ProviderOutputs> {
  const { createHash } = await import("node:crypto");
  await runScript(operation, inputs.create, inputs);
  const outs: ProviderOutputs = {
    create: inputs.create,
    stdinHash: createHash("sha256")
      .update(inputs.stdin ?? "")
      .digest("hex"),
  };
  // Outputs travel as a protobuf Struct, which has no `undefined`: set only what is present.
  for (const key of ["delete", "environment", "triggers", "rerunOnChange", "probe", "owner"] as const) {
    if (inputs[key] !== undefined) Object.assign(outs, { [key]: inputs[key] });
  }
  if (inputs.probe) {
    const state = await runScript("probe", inputs.probe, inputs);
    if (state === ABSENT) throw new Error(`${operation} succeeded, but its probe still finds nothing (it printed "${ABSENT}")`);
    outs.applied = outs.observed = state;
  }
  return outs;
}

/**
 * Runs a bash script and returns its trimmed standard output. Its standard error streams to this
 * process's stderr, which the engine shows; for create/update/delete, so does its output.
 */
async function runScript(
  operation: Operation,
  script: string,
  inputs: { stdin?: string; environment?: Record<string, string>; owner?: string },
): Promise<string> {
  const { spawn } = await import("node:child_process");
  const tail: string[] = [];
  const stdout: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn("bash", ["-c", script], {
      env: { ...process.env, ...inputs.environment, CRM_OPERATION: operation, CRM_OWNER: inputs.owner ?? "" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const keep = (chunk: Buffer) => {
      if (operation !== "probe") process.stderr.write(chunk);
      tail.push(chunk.toString());
      if (tail.length > 40) tail.shift();
    };
    child.stdout.on("data", (chunk: Buffer) => {
      stdout.push(chunk.toString());
      keep(chunk);
    });
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", (c) => resolve(c ?? 1));
    // A script that exits without reading its stdin closes the pipe: not an error of ours.
    child.stdin.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "EPIPE") reject(e);
    });
    // A probe gets no stdin: it only looks.
    child.stdin.end(operation === "create" || operation === "update" ? (inputs.stdin ?? "") : "");
  });
  if (code !== 0) {
    // The script text is not echoed: it may be long, and the caller's message says what ran.
    throw new Error(`${operation} command exited with code ${code}; last output:\n${tail.join("").slice(-4000)}`);
  }
  return stdout.join("").trim();
}

export class LocalCommand extends pulumi.dynamic.Resource {
  declare public readonly stdinHash: pulumi.Output<string>;
  declare public readonly applied: pulumi.Output<string | undefined>;

  constructor(name: string, args: LocalCommandArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      localCommandProvider,
      name,
      { stdinHash: undefined, applied: undefined, observed: undefined, ...args },
      opts,
      "crm-local-command",
    );
  }
}
