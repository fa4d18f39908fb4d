/**
 * Runs the program (index.ts) on the vnx target (or, with `crm:target` docker, the docker target)
 * under pulumi.runtime.setMocks, in a process of its own, and writes each registered resource with
 * what decides the shape of the tree and the engine's choices: URN, parent, dependencies,
 * deleteBeforeReplace, aliases, inputs (nested secrets keep their signature); and the program's
 * stack outputs (index.ts's exports) as they resolve. No engine, no containers: a change to a
 * platform fails here in seconds, before the slow e2e.
 *
 *   node --import tsx test/support/vnxMockRun.ts CONFIG_JSON OUT_FILE
 */
import * as pulumi from "@pulumi/pulumi";
import { getMonitor } from "@pulumi/pulumi/runtime/settings";
import { unwrapRpcSecret } from "@pulumi/pulumi/runtime/rpc";
import * as fs from "node:fs";
import * as path from "node:path";
import { DockerPlatform } from "../../targets/docker";
import { loadDockerSettings } from "../../targets/docker/settings";
import { VnxPlatform } from "../../targets/vnx";
import { mockCertificateState } from "./mockCertificates";

export interface Registered {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly parent: string;
  readonly dependencies: string[];
  readonly deleteBeforeReplace: boolean;
  readonly aliases: { name?: string; parentUrn?: string; noParent?: boolean }[];
  readonly inputs: Record<string, unknown>;
}

/** The getters of a RegisterResourceRequest that this runner reads. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getDependenciesList(): string[];
  getDeletebeforereplace(): boolean;
  getAliasesList(): { toObject(): { spec?: { name?: string; parenturn?: string; noparent?: boolean } } }[];
}

interface Monitor {
  registerResource(req: RegisterRequest, callback: (err: unknown, resp?: { getUrn(): string }) => void): void;
}

const [configJson, outFile] = process.argv.slice(2);
const registered: Registered[] = [];
const inputsByName = new Map<string, Record<string, unknown>>();
const errors: string[] = [];
const outputs: Record<string, unknown> = {};

/** An output's value; `undefined` for one that does not resolve within a second (unknown under mocks). */
function settled(value: unknown): Promise<unknown> {
  if (!pulumi.Output.isInstance(value)) return Promise.resolve(value);
  return Promise.race([
    new Promise((resolve) => value.apply((v) => resolve(v))),
    new Promise((resolve) => setTimeout(() => resolve(undefined), 1000)),
  ]);
}

async function main(): Promise<void> {
  process.on("unhandledRejection", (e) => errors.push(e instanceof Error ? e.message : String(e)));
  const config = JSON.parse(configJson) as Record<string, string>;
  pulumi.runtime.setAllConfig(
    config,
    Object.keys(config).filter((k) => /Password|Secret/.test(k)),
  );
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = unwrapRpcSecret(args.inputs) as Record<string, unknown>;
        inputsByName.set(`${args.type}::${args.name}`, inputs);
        return { id: `${args.name}-id`, state: { ...inputs, ...mockCertificateState(args.type, args.name) } };
      },
      call: () => ({}),
    },
    // The project's name, as in Pulumi.yaml; the stack is named after its target.
    "crm",
    config["crm:target"] ?? "vnx",
    false,
  );
  const monitor = getMonitor() as unknown as Monitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) =>
    register(req, (err, resp) => {
      if (resp) {
        registered.push({
          urn: resp.getUrn(),
          type: req.getType(),
          name: req.getName(),
          parent: req.getParent(),
          dependencies: req.getDependenciesList(),
          deleteBeforeReplace: req.getDeletebeforereplace(),
          aliases: req.getAliasesList().map((a) => {
            const spec = a.toObject().spec ?? {};
            return { name: spec.name || undefined, parentUrn: spec.parenturn || undefined, noParent: spec.noparent || undefined };
          }),
          inputs: {},
        });
      }
      callback(err, resp);
    });
  // The machine's preflight (root, LXC) is not what this run checks.
  VnxPlatform.onThisMachine = () => new VnxPlatform();
  // Nor is the docker engine's.
  DockerPlatform.onThisEngine = () => new DockerPlatform(loadDockerSettings());
  try {
    const program = (await import(path.resolve(__dirname, "../../index.ts"))) as Record<string, unknown>;
    // Let every registration settle.
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const [name, value] of Object.entries(program)) if (name !== "default") outputs[name] = await settled(value);
  } catch (e) {
    errors.push(e instanceof Error ? e.message : String(e));
  }
  await pulumi.runtime.disconnect();
  const resources = registered.map((r) => ({ ...r, inputs: inputsByName.get(`${r.type}::${r.name}`) ?? {} }));
  fs.writeFileSync(outFile, JSON.stringify({ resources, outputs, errors }));
}

void main();
