/**
 * A command run on this machine as a Pulumi resource: `create` on create (and on update, for
 * idempotent commands), `delete` on delete.
 *
 * Why not @pulumi/command: its provider plugin cannot be obtained here (neither a release
 * download nor its Go module is reachable), while dynamic providers run inside the Node.js SDK
 * the program already uses. The semantics follow command:local:Command: a script text, stdin,
 * environment, triggers, and a choice between replacing and re-running on change.
 */
import * as pulumi from "@pulumi/pulumi";

export interface LocalCommandArgs {
  /** Bash script run on create, and on update when `rerunOnChange` is set. */
  readonly create: pulumi.Input<string>;
  /** Bash script run on delete. */
  readonly delete?: pulumi.Input<string>;
  /**
   * Passed on standard input; may be a secret. State keeps only its hash, so a secret here
   * never lands in the state or on a command line.
   */
  readonly stdin?: pulumi.Input<string>;
  /** Environment variables for both scripts (not secrets: they are stored in state). */
  readonly environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Any change here re-runs or replaces, like a changed script. */
  readonly triggers?: pulumi.Input<unknown[]>;
  /**
   * true: a change runs `create` again on the existing resource (it must be idempotent).
   * false (default): a change replaces the resource (delete, then create).
   */
  readonly rerunOnChange?: boolean;
}

interface ProviderInputs {
  create: string;
  delete?: string;
  stdin?: string;
  environment?: Record<string, string>;
  triggers?: unknown[];
  rerunOnChange?: boolean;
}

interface ProviderOutputs {
  create: string;
  delete?: string;
  stdinHash: string;
  environment?: Record<string, string>;
  triggers?: unknown[];
  rerunOnChange?: boolean;
}

/** What identifies the effect of a command: if any of it changes, the command must run again. */
function fingerprint(p: { create: string; stdinHash: string; environment?: Record<string, string>; triggers?: unknown[] }): string {
  return JSON.stringify([p.create, p.stdinHash, p.environment ?? {}, p.triggers ?? []]);
}

// Everything the provider uses is required inside its methods: Pulumi serializes these functions
// into the dynamic provider process, and module-level imports would be captured by value.
const provider: pulumi.dynamic.ResourceProvider<ProviderInputs, ProviderOutputs> = {
  async diff(_id, olds, news) {
    const { createHash } = await import("node:crypto");
    const stdinHash = createHash("sha256")
      .update(news.stdin ?? "")
      .digest("hex");
    const changed = fingerprint(olds) !== fingerprint({ ...news, stdinHash });
    return {
      changes: changed || olds.delete !== news.delete,
      replaces: changed && !news.rerunOnChange ? ["create"] : [],
      deleteBeforeReplace: true,
    };
  },

  async create(inputs) {
    const outs = await run(inputs.create, inputs);
    return { id: (await import("node:crypto")).randomUUID(), outs };
  },

  async update(_id, _olds, news) {
    return { outs: await run(news.create, news) };
  },

  async delete(_id, olds) {
    if (olds.delete) await run(olds.delete, { ...olds, stdin: undefined });
  },
};

/** Runs a bash script; its output streams to this process's stderr, which the engine shows. */
async function run(script: string, inputs: ProviderInputs | (ProviderOutputs & { stdin?: string })): Promise<ProviderOutputs> {
  const { spawn } = await import("node:child_process");
  const { createHash } = await import("node:crypto");
  const tail: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn("bash", ["-c", script], {
      env: { ...process.env, ...inputs.environment },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const keep = (chunk: Buffer) => {
      process.stderr.write(chunk);
      tail.push(chunk.toString());
      if (tail.length > 40) tail.shift();
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", (c) => resolve(c ?? 1));
    child.stdin.end(inputs.stdin ?? "");
  });
  if (code !== 0) {
    // The script text is not echoed: it may be long, and the caller's message says what ran.
    throw new Error(`command exited with code ${code}; last output:\n${tail.join("").slice(-4000)}`);
  }
  const outs: ProviderOutputs = {
    create: inputs.create,
    stdinHash: createHash("sha256")
      .update(inputs.stdin ?? "")
      .digest("hex"),
  };
  // Outputs travel as a protobuf Struct, which has no `undefined`: set only what is present.
  if (inputs.delete !== undefined) outs.delete = inputs.delete;
  if (inputs.environment !== undefined) outs.environment = inputs.environment;
  if (inputs.triggers !== undefined) outs.triggers = inputs.triggers;
  if (inputs.rerunOnChange !== undefined) outs.rerunOnChange = inputs.rerunOnChange;
  return outs;
}

export class LocalCommand extends pulumi.dynamic.Resource {
  declare public readonly stdinHash: pulumi.Output<string>;

  constructor(name: string, args: LocalCommandArgs, opts?: pulumi.CustomResourceOptions) {
    super(provider, name, { stdinHash: undefined, ...args }, opts, "crm-local-command");
  }
}
