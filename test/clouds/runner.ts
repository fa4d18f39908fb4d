/**
 * Runs the program (index.ts) once under pulumi.runtime.setMocks, in a process of its own, and
 * writes every registered resource (type, name, inputs, which inputs were secret, mocked state)
 * and the stack outputs as JSON. A fresh process per scenario: index.ts runs at import, and
 * Node's module cache would otherwise keep the first scenario's program.
 *
 *   node --import tsx test/clouds/runner.ts SCENARIO_JSON OUT_FILE
 *
 * Secret detection: the mock monitor declares support for secrets, so a secret input reaches
 * newResource wrapped in Pulumi's secret signature object; `isRpcSecret` recognises it.
 * The "probe" stack registers one resource with known plain and secret inputs to prove that.
 *
 * Resource options: newResource does not see them, so the mock monitor's registerResource is
 * wrapped to record, per resource, its parent and the options that decide replacement.
 *
 * Mocked outputs depend only on a resource's name and inputs, never on registration order, so
 * that two runs (3 and 4 servers, a new bundle) can be compared resource by resource.
 */
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { isRpcSecret, unwrapRpcSecret } from "@pulumi/pulumi/runtime/rpc";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Recorded, RecordedOptions, RunResult, Scenario } from "./model";
import { mockCertificateState } from "../support/mockCertificates";

/** A concrete custom resource for the probe (CustomResource itself is abstract). */
class Probe extends pulumi.CustomResource {}

const [scenarioJson, outFile] = process.argv.slice(2);
const scenario = JSON.parse(scenarioJson) as Scenario;
const resources: Recorded[] = [];
const errors: string[] = [];
const calls: { token: string; inputs: Record<string, unknown> }[] = [];
const warnings: string[] = [];
// With no engine, pulumi.log.warn prints "warning: [runtime] …" with console.warn: what a user would see.
console.warn = (...args: unknown[]) =>
  void warnings.push(
    args
      .map(String)
      .join(" ")
      .replace(/^warning: \[runtime\] /, ""),
  );

/** Unwraps secret signatures, recording the dotted path of every secret found. */
function reveal(value: unknown, at: string, secrets: string[]): unknown {
  if (isRpcSecret(value)) {
    secrets.push(at);
    return reveal(unwrapRpcSecret(value), at, secrets);
  }
  if (Array.isArray(value)) return value.map((v, i) => reveal(v, `${at}[${i}]`, secrets));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v, at ? `${at}.${k}` : k, secrets)]));
  }
  return value;
}

/** The mock monitor's request, as far as the runner reads it. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getDeletebeforereplace(): boolean;
  getIgnorechangesList(): string[];
  getDependenciesList(): string[];
}
type MonitorWithUrn = { newUrn(parent: string, type: string, name: string): string };

const registered = new Map<string, { urn: string; parent: string; options: RecordedOptions }>();
const key = (type: string, name: string) => `${type}::${name}`;
const register = MockMonitor.prototype.registerResource;
MockMonitor.prototype.registerResource = function (this: MockMonitor, req: RegisterRequest, callback: unknown) {
  registered.set(key(req.getType(), req.getName()), {
    urn: (this as unknown as MonitorWithUrn).newUrn(req.getParent(), req.getType(), req.getName()),
    parent: req.getParent(),
    options: {
      deleteBeforeReplace: req.getDeletebeforereplace(),
      ignoreChanges: req.getIgnorechangesList(),
      dependencies: req.getDependenciesList(),
    },
  });
  return (register as (req: RegisterRequest, callback: unknown) => Promise<void>).call(this, req, callback);
} as typeof register;

/** A small number from a name (s4 → 4), so that mocked addresses do not depend on order. */
function ordinal(name: string): number {
  const m = /(\d+)$/.exec(name);
  return m ? Number(m[1]) : 9;
}

/** Outputs a real cloud would compute, so that dependent inputs are known in the record. */
function mockedState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case "aws:ec2/instance:Instance":
      return { privateIp: inputs.privateIp ?? `10.1.3.${100 + ordinal(name)}`, arn: `arn:instance:${name}` };
    case "openstack:compute/instance:Instance":
      return {
        networks: (inputs.networks as Record<string, unknown>[]).map((n, i) => ({
          ...n,
          fixedIpV4: `10.1.${3 + i}.${100 + ordinal(name)}`,
        })),
      };
    case "aws:ec2/eip:Eip":
      return { publicIp: "198.51.100.20" };
    case "aws:s3/bucket:Bucket":
      return { bucket: `${name}-0a1b2c`, arn: `arn:aws:s3:::${name}-0a1b2c` };
    case "pulumi-nodejs:dynamic/crm-app-bundle:Resource":
      return { sha256: scenario.bundleDigest ?? "d1".repeat(32) };
    case "aws:ebs/volume:Volume":
      return { id: `vol-0${name.replace(/[^a-z0-9]/g, "")}` };
    case "aws:ec2/subnet:Subnet":
      return { availabilityZone: inputs.availabilityZone };
    case "aws:lb/loadBalancer:LoadBalancer":
      return { dnsName: `${name}.elb.example`, arn: `arn:${name}`, zoneId: "Z32O12XQLNTSW2" };
    case "aws:acm/certificate:Certificate":
      return {
        arn: `arn:aws:acm:eu-west-1:1:certificate/${name}`,
        domainValidationOptions: inputs.domainName
          ? [
              {
                domainName: inputs.domainName,
                resourceRecordName: `_0a1b.${String(inputs.domainName)}.`,
                resourceRecordType: "CNAME",
                resourceRecordValue: "_2c3d.acm-validations.aws.",
              },
            ]
          : [],
      };
    case "aws:acm/certificateValidation:CertificateValidation":
      return { certificateArn: inputs.certificateArn };
    case "aws:route53/record:Record":
      return { fqdn: String(inputs.name).replace(/\.$/, "") };
    case "openstack:keymanager/secretV1:SecretV1":
      return { secretRef: `https://barbican.example/v1/secrets/${name}` };
    case "openstack:keymanager/containerV1:ContainerV1":
      return { containerRef: `https://barbican.example/v1/containers/${name}` };
    case "aws:rds/instance:Instance":
      return {
        address: `${name}.rds.example`,
        masterUserSecrets: [{ secretArn: `arn:aws:secretsmanager:eu-west-1:1:secret:rds!${name}` }],
      };
    case "openstack:networking/floatingIp:FloatingIp":
      return { address: "203.0.113.10" };
    case "openstack:loadbalancer/loadBalancer:LoadBalancer":
      return { vipPortId: `${name}-vip-port` };
    default:
      // Auto-named resources: Pulumi picks the physical name with a random suffix.
      return inputs.name === undefined ? { name: `${name}-a1b2c3d` } : {};
  }
}

async function main(): Promise<void> {
  // Once each: every dependent of a failed resource rejects with its message.
  process.on("unhandledRejection", (e) => {
    const message = e instanceof Error ? e.message : String(e);
    if (!errors.includes(message)) errors.push(message);
  });
  pulumi.runtime.setAllConfig(scenario.config, [...(scenario.secretKeys ?? [])]);
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const secrets: string[] = [];
        const inputs = reveal(args.inputs, "", secrets) as Record<string, unknown>;
        const state = { ...inputs, ...mockedState(args.type, args.name, inputs), ...mockCertificateState(args.type, args.name) };
        const id = typeof state.id === "string" ? state.id : `${args.name}-id`;
        const seen = registered.get(key(args.type, args.name));
        if (!seen) throw new Error(`no registration recorded for ${args.type} ${args.name}`);
        resources.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs, secrets, state, ...seen });
        return { id, state };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        calls.push({ token: args.token, inputs: args.inputs as Record<string, unknown> });
        switch (args.token) {
          case "aws:ec2/getAmi:getAmi":
            return { id: "ami-0debian13", name: "debian-13-amd64-20260101-0000" };
          case "aws:index/getAvailabilityZones:getAvailabilityZones":
            return { names: ["eu-west-1a", "eu-west-1b", "eu-west-1c"].slice(0, scenario.zones ?? 3) };
          case "openstack:identity/getAuthScope:getAuthScope":
            return {
              serviceCatalogs: [
                { type: "identity", endpoints: [{ interface: "public", region: "RegionOne", url: "https://keystone.example/v3" }] },
                {
                  type: "object-store",
                  endpoints: [{ interface: "public", region: "RegionOne", url: "https://swift.example/v1/AUTH_p/" }],
                },
              ],
            };
          case "openstack:networking/getNetwork:getNetwork":
            return { id: "ext-net-id", name: args.inputs.name };
          default:
            return {};
        }
      },
    },
    "crm",
    scenario.stack,
    false,
  );
  const outputs: Record<string, unknown> = {};
  try {
    if (scenario.stack === "probe") {
      new Probe("test:probe:Thing", "probe", {
        plain: "visible",
        hidden: pulumi.secret("s3cret"),
        nested: { list: pulumi.secret(["a"]) },
      });
    } else {
      // index.ts runs at import, which is why each scenario has a process of its own.
      const program = (await import(path.resolve(__dirname, "../../index.ts"))) as Record<string, unknown>;
      for (const [key, value] of Object.entries(program)) {
        outputs[key] = pulumi.Output.isInstance(value) ? await new Promise((resolve) => value.apply(resolve)) : value;
      }
    }
  } catch (e) {
    errors.push(e instanceof Error ? e.message : String(e));
  }
  await pulumi.runtime.disconnect();
  // A registration whose inputs failed is reported as an unhandled rejection only once the microtasks run out.
  await new Promise((resolve) => setImmediate(resolve));
  const result: RunResult = { resources, calls, outputs, errors, warnings };
  fs.writeFileSync(outFile, JSON.stringify(result));
}

// A promise that never settles empties the event loop before main() ends: report it, not nothing.
let finished = false;
process.on("beforeExit", () => {
  if (finished) return;
  finished = true;
  const pending = `the program never finished (${resources.length} resources registered; last: ${resources.at(-1)?.name ?? "none"})`;
  fs.writeFileSync(outFile, JSON.stringify({ resources, calls, outputs: {}, errors: [...errors, pending], warnings }));
});

main()
  .then(() => (finished = true))
  .catch((e) => {
    fs.writeFileSync(outFile, JSON.stringify({ resources, calls, outputs: {}, errors: [...errors, String(e)], warnings }));
  });
