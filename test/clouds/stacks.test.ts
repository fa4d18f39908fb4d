/**
 * The aws and openstack stacks, as index.ts builds them, under pulumi.runtime.setMocks: each
 * scenario runs in a process of its own (runner.ts), with no cloud, no CLI and no credentials.
 *
 * Besides what each stack creates, these tests compare runs: 3 servers against 4, and one
 * bundle against another. What a user cares about is which existing resources an update
 * touches: only the app tier and the load balancer's membership may change; a database or a
 * brick whose input changes is restarted or replaced for nothing.
 */
import { strict as assert } from "node:assert";
import { postgresUrl } from "../../components/PgServer";
import { appRoleScript } from "../../roles/app";
import { balancerRoleScript } from "../../roles/balancer";
import { dbRoleScript } from "../../roles/db";
import { glusterFormationScript, nasRoleScript } from "../../roles/nas";
import { bundleObjectKey } from "../../targets/cloud/bundle";
import {
  cloudInstallApp,
  followUpPath,
  parseCloudInit,
  ROLE_SCRIPT_PATH,
  AWS_USER_DATA_LIMIT,
  type CloudConfig,
} from "../../targets/cloud/cloudinit";
import { WORLD } from "../../targets/cloud/flows";
import { APP_LISTEN_ANY } from "../../targets/cloud/userData";
import { s3FetchCommand, SSM_POLICY_ARN } from "../../targets/aws/delivery";
import { swiftFetchCommand } from "../../targets/openstack/delivery";
import { addressOn, hostsWithRole, planScenario, SERVICE_ADDRESS } from "../../topology/plan";
import { HTTP_ONLY_WARNING } from "../../targets/aws/tls";
import { MOCK_KEY } from "../support/mockCertificates";
import { AWS_CONFIG, countByType, OPENSTACK_CONFIG, run, runAsync, scenario, SECRETS, stackFileConfig, userCertificate } from "./harness";
import type { Recorded, RunResult } from "./model";

/** Service certificates' private keys, as the mocks make them: only ever in secret inputs. */
const SECRET_VALUES = [...Object.values(SECRETS), MOCK_KEY("").split("\n")[1]];
const CERTIFICATE = "pulumi-nodejs:dynamic/crm-certificate:Resource";
const DIGEST = "d1".repeat(32);
/** A valid Ed25519 public key (the management host refuses malformed ones). */
const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH ops@example";

const COMPONENTS = {
  "crm:app:CrmTier": 1,
  "crm:tls:CertificateAuthority": 1,
  "crm:db:PgServer": 1,
  "crm:net:Firewall": 1,
  "crm:net:LoadBalancer": 1,
  "crm:storage:GlusterCluster": 1,
};

/** The exact resource set of the aws stack with n app servers (EC2 database, one NAT gateway). */
function awsExpected(n: number): Record<string, number> {
  return {
    "aws:ebs/volume:Volume": 4,
    "aws:ec2/eip:Eip": 1,
    "aws:ec2/instance:Instance": n + 4,
    "aws:ec2/internetGateway:InternetGateway": 1,
    "aws:ec2/natGateway:NatGateway": 1,
    "aws:ec2/networkAcl:NetworkAcl": 1,
    "aws:ec2/routeTable:RouteTable": 2,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": 9,
    "aws:ec2/securityGroup:SecurityGroup": 4,
    "aws:ec2/subnet:Subnet": 9,
    "aws:ec2/volumeAttachment:VolumeAttachment": 4,
    "aws:ec2/vpc:Vpc": 1,
    // One role and profile per tier that has hosts (database, bricks, app servers), each with SSM.
    "aws:iam/instanceProfile:InstanceProfile": 3,
    "aws:iam/role:Role": 3,
    "aws:iam/rolePolicy:RolePolicy": 1,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 3,
    "aws:lb/listener:Listener": 1,
    "aws:lb/loadBalancer:LoadBalancer": 1,
    "aws:lb/targetGroup:TargetGroup": 1,
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": n,
    "aws:s3/bucket:Bucket": 1,
    "aws:s3/bucketObjectv2:BucketObjectv2": 1,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": 12,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 8,
    ...COMPONENTS,
    "crm:aws:Network": 1,
    "pulumi-nodejs:dynamic/crm-app-bundle:Resource": 1,
    // The stack's CA, which index.ts makes on every target; aws's certificate comes from ACM.
    "pulumi-nodejs:dynamic/crm-certificate:Resource": 1,
    "pulumi:providers:aws": 1,
  };
}

/** The exact resource set of the openstack stack with n app servers (Octavia). */
function openstackExpected(n: number): Record<string, number> {
  return {
    ...COMPONENTS,
    "crm:openstack:Network": 1,
    "openstack:blockstorage/volume:Volume": 4,
    "openstack:compute/instance:Instance": n + 4,
    "openstack:compute/serverGroup:ServerGroup": 1,
    "openstack:compute/volumeAttach:VolumeAttach": 4,
    // HTTPS: the certificate in Barbican, TERMINATED_HTTPS on 443, port 80 redirecting.
    "openstack:keymanager/containerV1:ContainerV1": 1,
    "openstack:keymanager/secretV1:SecretV1": 2,
    "openstack:loadbalancer/l7PolicyV2:L7PolicyV2": 1,
    "openstack:loadbalancer/l7RuleV2:L7RuleV2": 1,
    "openstack:loadbalancer/listener:Listener": 2,
    "openstack:loadbalancer/loadBalancer:LoadBalancer": 1,
    "openstack:loadbalancer/member:Member": n,
    "openstack:loadbalancer/monitor:Monitor": 1,
    "openstack:loadbalancer/pool:Pool": 1,
    "openstack:networking/floatingIp:FloatingIp": 1,
    "openstack:networking/network:Network": 3,
    // Only hosts with fixed addresses have ports of their own; Nova makes the app servers'.
    "openstack:networking/port:Port": 4,
    "openstack:networking/router:Router": 1,
    "openstack:networking/routerInterface:RouterInterface": 3,
    "openstack:networking/secGroup:SecGroup": 4,
    // 15 for the flows (3 entry, lb → app, app → db, 4 Gluster, each with its egress), 12 outbound (web and DNS, 3 groups).
    "openstack:networking/secGroupRule:SecGroupRule": 27,
    "openstack:networking/subnet:Subnet": 3,
    "openstack:objectstorage/container:Container": 1,
    "openstack:objectstorage/containerObject:ContainerObject": 1,
    "pulumi-nodejs:dynamic/crm-app-bundle:Resource": 1,
    // The stack's CA and the service certificate it signs for the floating IP.
    "pulumi-nodejs:dynamic/crm-certificate:Resource": 2,
    "pulumi:providers:openstack": 1,
  };
}

const ofType = (r: RunResult, type: string) => r.resources.filter((x) => x.type === type);
const named = (r: RunResult, type: string, name: string): Recorded => {
  const found = r.resources.find((x) => x.type === type && x.name === name);
  assert.ok(found, `${type} ${name} is registered`);
  return found;
};
const userData = (res: Recorded): CloudConfig => parseCloudInit(String(res.inputs.userData));
const roleScriptOf = (res: Recorded): string | undefined => userData(res).write_files.find((f) => f.path === ROLE_SCRIPT_PATH)?.content;
const bootstrapOf = (res: Recorded): string =>
  userData(res)
    .write_files.map((f) => f.content)
    .join("\n");

/** Every top-level input whose value holds a secret in clear must itself be a secret input. */
function plainSecrets(r: RunResult): string[] {
  const leaks: string[] = [];
  for (const res of r.resources) {
    for (const [key, value] of Object.entries(res.inputs)) {
      const text = JSON.stringify(value);
      const holds = SECRET_VALUES.some((s) => text.includes(s) || text.includes(encodeURIComponent(s)));
      if (holds && !res.secrets.includes(key)) leaks.push(`${res.type} ${res.name}.${key}`);
    }
  }
  return leaks;
}

/** The component a resource belongs to: the first component type in its URN's type chain. */
function componentOf(res: Recorded): string {
  const chain = res.urn.split("::")[2].split("$");
  return chain.find((t) => t.startsWith("crm:")) ?? "";
}

/** Resources present in both runs whose inputs differ, with the input keys that differ. */
function changedInputs(before: RunResult, after: RunResult): { res: Recorded; keys: string[] }[] {
  const old = new Map(before.resources.map((r) => [r.urn, r]));
  const changed: { res: Recorded; keys: string[] }[] = [];
  for (const res of after.resources) {
    const prior = old.get(res.urn);
    if (!prior) continue;
    const keys = [...new Set([...Object.keys(prior.inputs), ...Object.keys(res.inputs)])].filter(
      (k) => JSON.stringify(prior.inputs[k]) !== JSON.stringify(res.inputs[k]),
    );
    if (keys.length > 0) changed.push({ res, keys: keys.sort() });
  }
  return changed;
}
const added = (before: RunResult, after: RunResult) => {
  const old = new Set(before.resources.map((r) => r.urn));
  return after.resources.filter((r) => !old.has(r.urn)).map((r) => `${r.type} ${r.name}`);
};
const describe_ = (c: { res: Recorded; keys: string[] }) => `${c.res.type} ${c.res.name} [${c.keys.join(",")}]`;

/** What an update may touch: the app tier, and the load balancer's membership. */
const LB_MEMBERSHIP = ["aws:lb/targetGroupAttachment:TargetGroupAttachment", "openstack:loadbalancer/member:Member"];
const mayChange = (res: Recorded) => componentOf(res) === "crm:app:CrmTier" || LB_MEMBERSHIP.includes(res.type);

function ok(r: RunResult): RunResult {
  assert.deepEqual(r.errors, [], "the program ran without errors");
  return r;
}

describe("cloud stacks under mocks", function () {
  this.timeout(300_000);
  const runs: Record<string, RunResult> = {};
  before(() => {
    runs.aws3 = ok(run(scenario(AWS_CONFIG)));
    runs.aws4 = ok(run(scenario(AWS_CONFIG, { "crm:servers": "4" })));
    runs.awsBundle = ok(run(scenario(AWS_CONFIG, {}, { bundleDigest: "e2".repeat(32) })));
    runs.os3 = ok(run(scenario(OPENSTACK_CONFIG)));
    runs.os4 = ok(run(scenario(OPENSTACK_CONFIG, { "crm:servers": "4" })));
    runs.osBundle = ok(run(scenario(OPENSTACK_CONFIG, {}, { bundleDigest: "e2".repeat(32) })));
  });

  describe("the harness itself", () => {
    it("sees a secret input as secret and a plain one as plain", () => {
      const probe = run({ stack: "probe", config: {} });
      assert.deepEqual(probe.resources[0].secrets, ["hidden", "nested"]);
      assert.equal(probe.resources[0].inputs.plain, "visible");
    });
    it("the leak check flags a password in a plain input, and accepts it in a secret one", () => {
      const res = { ...runs.aws3.resources[0], inputs: { userData: `x${SECRETS["crm:dbPassword"]}x` }, secrets: [] as string[] };
      const result = { resources: [res], calls: [], outputs: {}, errors: [], warnings: [] };
      assert.deepEqual(plainSecrets(result), [`${res.type} ${res.name}.userData`]);
      assert.deepEqual(plainSecrets({ ...result, resources: [{ ...res, secrets: ["userData"] }] }), []);
    });
    it("the update comparison sees a changed input, and only that one", () => {
      const [first] = runs.aws3.resources.filter((r) => r.type === "aws:ec2/instance:Instance");
      const changed = { ...runs.aws3, resources: [{ ...first, inputs: { ...first.inputs, ami: "ami-0fffffffffffffff0" } }] };
      assert.deepEqual(changedInputs(runs.aws3, changed).map(describe_), [`${first.type} ${first.name} [ami]`]);
    });
  });

  describe("resource types and counts", () => {
    it("aws, 3 servers", () => assert.deepEqual(countByType(runs.aws3), awsExpected(3)));
    it("aws, 4 servers", () => assert.deepEqual(countByType(runs.aws4), awsExpected(4)));
    it("openstack, 3 servers", () => assert.deepEqual(countByType(runs.os3), openstackExpected(3)));
    it("openstack, 4 servers", () => assert.deepEqual(countByType(runs.os4), openstackExpected(4)));
  });

  describe("resource tree", () => {
    for (const stack of ["aws3", "os3"]) {
      it(`${stack}: every resource but the provider and the components index.ts makes has a parent, and is named after it`, () => {
        const byUrn = new Map(runs[stack].resources.map((r) => [r.urn, r]));
        const orphans = runs[stack].resources.filter(
          (r) => r.parent === "" && !r.type.startsWith("pulumi:providers:") && !r.type.startsWith("crm:"),
        );
        assert.deepEqual(
          orphans.map((r) => `${r.type} ${r.name}`),
          [],
        );
        const misnamed = runs[stack].resources
          .filter((r) => r.parent !== "")
          .filter((r) => {
            const parent = byUrn.get(r.parent);
            return !parent || !(r.name === parent.name || r.name.startsWith(`${parent.name}-`));
          });
        assert.deepEqual(
          misnamed.map((r) => `${r.type} ${r.name}`),
          [],
        );
      });
    }
  });

  describe("updates: scaling and a new bundle touch only the app tier and the load balancer's membership", () => {
    it("aws, 3 → 4 servers: no existing resource changes; s4 and its target registration are added", () => {
      assert.deepEqual(changedInputs(runs.aws3, runs.aws4).map(describe_), []);
      assert.deepEqual(added(runs.aws3, runs.aws4).sort(), [
        "aws:ec2/instance:Instance crm-s4",
        "aws:lb/targetGroupAttachment:TargetGroupAttachment lb-s4",
      ]);
    });
    it("openstack, 3 → 4 servers: no existing resource changes; s4 and its pool member are added", () => {
      assert.deepEqual(changedInputs(runs.os3, runs.os4).map(describe_), []);
      assert.deepEqual(added(runs.os3, runs.os4).sort(), [
        "openstack:compute/instance:Instance crm-s4",
        "openstack:loadbalancer/member:Member lb-s4",
      ]);
    });
    it("openstack without Octavia, 3 → 4 servers: only the HAProxy server's configuration (its member list) changes", () => {
      const haproxy = { "crm:osOctavia": "false" };
      const before = ok(run(scenario(OPENSTACK_CONFIG, haproxy)));
      const after = ok(run(scenario(OPENSTACK_CONFIG, { ...haproxy, "crm:servers": "4" })));
      assert.deepEqual(changedInputs(before, after).map(describe_), ["openstack:compute/instance:Instance lb-lb [userData]"]);
      assert.deepEqual(added(before, after), ["openstack:compute/instance:Instance crm-s4"]);
    });
    for (const [cloud, before, after, server] of [
      ["aws", "aws3", "awsBundle", "aws:ec2/instance:Instance"],
      ["openstack", "os3", "osBundle", "openstack:compute/instance:Instance"],
    ] as const) {
      it(`${cloud}, a new bundle: every app server gets new user data; nothing outside the app tier changes`, () => {
        const changed = changedInputs(runs[before], runs[after]);
        assert.deepEqual(changed.filter((c) => !mayChange(c.res)).map(describe_), []);
        const servers = changed.filter((c) => c.res.type === server).map(describe_);
        assert.deepEqual(
          servers,
          ["s1", "s2", "s3"].map((s) => `${server} crm-${s} [userData]`),
        );
        assert.deepEqual(added(runs[before], runs[after]), []);
      });
    }
  });

  describe("replacement", () => {
    it("aws: a host with a fixed address is replaced delete-before-create; an app server owns its interface and is replaced create-first", () => {
      const instances = ofType(runs.aws4, "aws:ec2/instance:Instance");
      for (const i of instances) {
        const fixed = i.inputs.privateIp !== undefined;
        assert.equal(i.options.deleteBeforeReplace, fixed, i.name);
        assert.equal(fixed, !i.name.startsWith("crm-"), `${i.name}: only app servers take any address`);
      }
      for (const n of ["crm-s1", "crm-s4"])
        assert.equal(named(runs.aws4, "aws:ec2/instance:Instance", n).inputs.userDataReplaceOnChange, true);
      // Stateful hosts keep running when their role changes (cloud-init would not run again anyway).
      for (const n of ["bbdd-bbdd", "nas-nas1", "nas-nas2", "nas-nas3"])
        assert.deepEqual(named(runs.aws4, "aws:ec2/instance:Instance", n).options.ignoreChanges, ["userData"]);
      assert.equal(ofType(runs.aws4, "aws:ec2/networkInterface:NetworkInterface").length, 0, "no interface made beforehand");
    });
    it("a replaced database or brick host finds its data and its identity on the volume it re-attaches", () => {
      for (const [r, type] of [
        [runs.aws3, "aws:ec2/instance:Instance"],
        [runs.os3, "openstack:compute/instance:Instance"],
      ] as const) {
        assert.match(bootstrapOf(named(r, type, "bbdd-bbdd")), /mount '\/etc\/postgresql'/);
        for (const n of ["nas1", "nas2", "nas3"]) assert.match(bootstrapOf(named(r, type, `nas-${n}`)), /mount '\/var\/lib\/glusterd'/);
      }
    });
    it("aws: the fixed addresses lie in each host's zone subnet", () => {
      const ip = (n: string) => named(runs.aws3, "aws:ec2/instance:Instance", n).inputs.privateIp;
      assert.deepEqual(["nas-nas1", "nas-nas2", "nas-nas3", "bbdd-bbdd"].map(ip), ["10.1.4.21", "10.1.4.86", "10.1.4.151", "10.1.4.31"]);
      assert.equal(named(runs.aws3, "aws:ec2/instance:Instance", "nas-nas2").inputs.subnetId, "net-data-1-id");
    });
    it("openstack: a server on ports made beforehand is replaced delete-before-create; app servers let Nova make theirs", () => {
      for (const s of ofType(runs.os4, "openstack:compute/instance:Instance")) {
        const networks = s.inputs.networks as { port?: string; uuid?: string }[];
        const onPorts = networks.every((n) => n.port !== undefined);
        assert.equal(s.options.deleteBeforeReplace, onPorts, s.name);
        assert.equal(onPorts, !s.name.startsWith("crm-"), s.name);
      }
      assert.deepEqual(named(runs.os4, "openstack:compute/instance:Instance", "crm-s1").inputs.securityGroups, ["net-app-a1b2c3d"]);
    });
    it("openstack: spreads the bricks over hypervisors where the cloud can (soft anti-affinity)", () => {
      const [group] = ofType(runs.os3, "openstack:compute/serverGroup:ServerGroup");
      assert.deepEqual(group.inputs.policies, ["soft-anti-affinity"]);
      for (const n of ["nas1", "nas2", "nas3"])
        assert.deepEqual(named(runs.os3, "openstack:compute/instance:Instance", `nas-${n}`).inputs.schedulerHints, [
          { group: "nas-spread-id" },
        ]);
    });
    it("pins the image: every instance runs the configured AMI, and nothing looks one up", () => {
      for (const i of ofType(runs.aws3, "aws:ec2/instance:Instance")) assert.equal(i.inputs.ami, AWS_CONFIG["crm:awsAmi"]);
      assert.deepEqual(
        runs.aws3.calls.filter((c) => c.token === "aws:ec2/getAmi:getAmi"),
        [],
      );
    });
  });

  describe("aws", () => {
    const ingress = (r: RunResult) => ofType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");

    it("opens only TCP/80 and ICMP echo to the world, on the load balancer's group", () => {
      for (const r of [runs.aws3, runs.aws4]) {
        const world = ingress(r).filter((x) => x.inputs.cidrIpv4 === WORLD);
        assert.deepEqual(world.map((x) => [x.inputs.securityGroupId, x.inputs.ipProtocol, x.inputs.fromPort]).sort(), [
          ["net-lb-id", "icmp", 8],
          ["net-lb-id", "tcp", 80],
        ]);
        assert.equal(ingress(r).filter((x) => x.inputs.cidrIpv4 !== undefined).length, 2, "everything inside is by group");
      }
    });

    it("lets the database and Gluster (brick ports 49152–60999) be reached only from the app group (Gluster peers from their own)", () => {
      const db = ingress(runs.aws3).filter((x) => x.inputs.securityGroupId === "net-db-id");
      assert.deepEqual(
        db.map((x) => [x.inputs.referencedSecurityGroupId, x.inputs.fromPort, x.inputs.toPort]),
        [["net-app-id", 5432, 5432]],
      );
      const nas = ingress(runs.aws3).filter((x) => x.inputs.securityGroupId === "net-nas-id");
      assert.deepEqual(nas.map((x) => [x.inputs.referencedSecurityGroupId, x.inputs.fromPort, x.inputs.toPort]).sort(), [
        ["net-app-id", 24007, 24008],
        ["net-app-id", 49152, 60999],
        ["net-nas-id", 24007, 24008],
        ["net-nas-id", 49152, 60999],
      ]);
    });

    it("mirrors the firewall in the public subnets' ACL: TCP/80, ICMP echo, replies on ephemeral ports and path-MTU ICMP only", () => {
      const [acl] = ofType(runs.aws3, "aws:ec2/networkAcl:NetworkAcl");
      const entries = acl.inputs.ingress as {
        protocol: string;
        cidrBlock: string;
        fromPort: number;
        toPort: number;
        icmpType?: number;
        icmpCode?: number;
      }[];
      const world = entries
        .filter((e) => e.cidrBlock === WORLD)
        .map((e) => [e.protocol, e.fromPort, e.toPort, e.icmpType ?? null, e.icmpCode ?? null]);
      assert.deepEqual(world, [
        ["1", 0, 0, 8, -1],
        ["6", 80, 80, null, null],
        // Stateless ACL: the mirror of `ct state established` (NAT and management replies); nothing listens there.
        ["6", 1024, 65535, null, null],
        // Fragmentation needed: without it a large reply through the ALB or NAT stalls.
        ["1", 0, 0, 3, 4],
      ]);
      assert.equal((acl.inputs.subnetIds as string[]).length, 3);
    });

    it("runs an ALB over three zones with a round-robin target group, 5 s health checks on /healthz, 30 s deregistration delay", () => {
      const [tg] = ofType(runs.aws3, "aws:lb/targetGroup:TargetGroup");
      const check = tg.inputs.healthCheck as { path: string; interval: number };
      assert.equal(tg.inputs.loadBalancingAlgorithmType, "round_robin");
      assert.equal(tg.inputs.deregistrationDelay, 30);
      assert.equal(check.path, "/healthz");
      assert.equal(check.interval, 5);
      const [alb] = ofType(runs.aws3, "aws:lb/loadBalancer:LoadBalancer");
      assert.equal(alb.inputs.loadBalancerType, "application");
      assert.equal((alb.inputs.subnets as string[]).length, 3);
      assert.deepEqual(alb.inputs.securityGroups, ["net-lb-id"]);
      // The members are the app servers' own addresses.
      assert.deepEqual(
        ofType(runs.aws3, "aws:lb/targetGroupAttachment:TargetGroupAttachment").map((a) => a.inputs.targetId),
        ["s1", "s2", "s3"].map((s) => named(runs.aws3, "aws:ec2/instance:Instance", `crm-${s}`).state.privateIp),
      );
    });

    it("keeps every user data under 16 KB", () => {
      for (const r of [runs.aws3, runs.aws4]) {
        for (const i of ofType(r, "aws:ec2/instance:Instance"))
          assert.ok(Buffer.byteLength(String(i.inputs.userData)) < AWS_USER_DATA_LIMIT, i.name);
      }
    });

    it("configures every host with the role script the roles/ renderers produce; db and Gluster admit the app subnets, not addresses", () => {
      const r = runs.aws4;
      const instance = (n: string) => named(r, "aws:ec2/instance:Instance", n);
      const nas = ["nas-nas1", "nas-nas2", "nas-nas3"].map((n) => String(instance(n).inputs.privateIp));
      assert.equal(
        roleScriptOf(instance("bbdd-bbdd")),
        dbRoleScript({ listen: "10.1.4.31", clients: ["10.1.3.0/24"], database: "crm", user: "crm", password: SECRETS["crm:dbPassword"] }),
      );
      for (const n of ["nas-nas1", "nas-nas2", "nas-nas3"]) assert.equal(roleScriptOf(instance(n)), nasRoleScript({ brick: "/nas" }));
      const formation = userData(instance("nas-nas1")).write_files.find(
        (f) => f.path === followUpPath({ name: "gluster-volume", script: "" }),
      );
      assert.equal(formation?.content, glusterFormationScript({ volume: "nas", servers: nas, brick: "/nas", clients: ["10.1.3.*"] }));
      const key = bundleObjectKey(DIGEST);
      const installApp = cloudInstallApp({
        fetch: s3FetchCommand({ region: "eu-west-1", bucket: "crm-bundle-0a1b2c", key }),
        digest: DIGEST,
      });
      const databaseUrl = postgresUrl({ user: "crm", password: SECRETS["crm:dbPassword"], host: "10.1.4.31", database: "crm" });
      for (const s of ["s1", "s2", "s3", "s4"]) {
        const expected = appRoleScript({
          listen: APP_LISTEN_ANY,
          port: 3000,
          databaseUrl,
          sessionSecret: SECRETS["crm:sessionSecret"],
          adminPassword: SECRETS["crm:adminPassword"],
          volume: "nas",
          glusterServers: nas,
          installApp,
          behindHttps: false,
        });
        assert.equal(roleScriptOf(instance(`crm-${s}`)), expected, s);
      }
    });

    it("delivers the bundle itself: one private S3 object named by its digest, readable by the app servers' role only", () => {
      const [object] = ofType(runs.aws3, "aws:s3/bucketObjectv2:BucketObjectv2");
      assert.equal(object.inputs.key, bundleObjectKey(DIGEST));
      const [block] = ofType(runs.aws3, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
      assert.deepEqual(
        [block.inputs.blockPublicAcls, block.inputs.blockPublicPolicy, block.inputs.restrictPublicBuckets],
        [true, true, true],
      );
      const [policy] = ofType(runs.aws3, "aws:iam/rolePolicy:RolePolicy");
      assert.equal(policy.name, "crm-host-read");
      assert.deepEqual(JSON.parse(String(policy.inputs.policy)).Statement, [
        { Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::crm-bundle-0a1b2c/${bundleObjectKey(DIGEST)}` },
      ]);
      assert.equal(named(runs.aws3, "aws:ec2/instance:Instance", "crm-s1").inputs.iamInstanceProfile, "crm-host-a1b2c3d");
      const boot = bootstrapOf(named(runs.aws3, "aws:ec2/instance:Instance", "crm-s1"));
      assert.doesNotMatch(boot, /nodejs\.org/);
      assert.match(boot, /sha256sum -c/);
    });

    it("gives every host SSM shell access through its instance profile, and needs no key pair", () => {
      assert.equal(
        ofType(runs.aws3, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").every((a) => a.inputs.policyArn === SSM_POLICY_ARN),
        true,
      );
      for (const i of ofType(runs.aws3, "aws:ec2/instance:Instance")) {
        assert.ok(i.inputs.iamInstanceProfile, i.name);
        assert.equal(i.inputs.keyName, undefined);
        assert.match(bootstrapOf(i), /amazon-ssm-agent/);
      }
    });

    it("puts no secret into a plain input: user data holding a password is secret as a whole", () => {
      for (const r of [runs.aws3, runs.aws4]) assert.deepEqual(plainSecrets(r), []);
      for (const n of ["bbdd-bbdd", "crm-s1"]) assert.ok(named(runs.aws3, "aws:ec2/instance:Instance", n).secrets.includes("userData"), n);
    });

    it("with crm:awsDatabase rds: RDS Multi-AZ, its master password kept by RDS, the app on a user of its own", () => {
      const r = ok(run(scenario(AWS_CONFIG, { "crm:awsDatabase": "rds" })));
      const [db] = ofType(r, "aws:rds/instance:Instance");
      assert.equal(db.inputs.multiAz, true);
      assert.equal(db.inputs.publiclyAccessible, false);
      assert.deepEqual(db.inputs.vpcSecurityGroupIds, ["net-db-id"]);
      assert.equal(db.inputs.password, undefined, "no password of ours reaches RDS");
      assert.equal(db.inputs.manageMasterUserPassword, true);
      assert.equal(db.inputs.username, "crm_admin");
      const s1 = named(r, "aws:ec2/instance:Instance", "crm-s1");
      assert.ok(Buffer.byteLength(String(s1.inputs.userData)) < AWS_USER_DATA_LIMIT, "the RDS step still fits EC2's limit");
      assert.match(bootstrapOf(s1), /ALTER ROLE :"user" WITH LOGIN PASSWORD :'password';/);
      assert.match(bootstrapOf(s1), /-v user='crm'/);
      const [policy] = ofType(r, "aws:iam/rolePolicy:RolePolicy");
      assert.deepEqual(JSON.parse(String(policy.inputs.policy)).Statement[1], {
        Effect: "Allow",
        Action: "secretsmanager:GetSecretValue",
        Resource: "arn:aws:secretsmanager:eu-west-1:1:secret:rds!bbdd",
      });
      // The subnet group's generated name: random once per creation, so a second destroy does not collide.
      assert.equal(db.inputs.finalSnapshotIdentifier, "bbdd-subnets-a1b2c3d-final");
      assert.equal(ofType(r, "aws:ec2/instance:Instance").length, 6);
      assert.deepEqual(plainSecrets(r), []);
      assert.match(roleScriptOf(s1) ?? "", /postgres:\/\/crm:[^@]+@bbdd\.rds\.example:5432\/crm/);
    });

    it("with crm:management: the bastion's keys are crm:managementKeys, its Elastic IP waits for the internet gateway and is an output", () => {
      const r = ok(run(scenario(AWS_CONFIG, { "crm:management": "true", "crm:managementKeys": JSON.stringify([ED25519]) })));
      const ges = named(r, "aws:ec2/instance:Instance", "ges-ges");
      assert.equal(ges.inputs.privateIp, "10.1.2.20");
      assert.equal(ges.options.deleteBeforeReplace, true);
      assert.match(roleScriptOf(ges) ?? "", new RegExp(ED25519.split(" ")[1].replace(/[+/]/g, "\\$&")));
      const eip = named(r, "aws:ec2/eip:Eip", "ges-ip");
      assert.equal(eip.inputs.instance, "ges-ges-id");
      assert.ok(
        eip.options.dependencies.some((u) => u.endsWith("::net-igw")),
        "the EIP depends on the internet gateway",
      );
      assert.equal(r.outputs.managementSsh, "ssh root@198.51.100.20");
      const ssh = ingress(r).filter((x) => x.inputs.securityGroupId === "net-mgmt-id");
      assert.deepEqual(
        ssh.map((x) => [x.inputs.cidrIpv4, x.inputs.fromPort]),
        [[AWS_CONFIG["crm:adminCidr"], 22]],
      );
    });
  });

  describe("openstack", () => {
    const planned = planScenario({ servers: 4, monitoring: false, management: false, dbStandby: false });
    const rules = (r: RunResult) => ofType(r, "openstack:networking/secGroupRule:SecGroupRule");

    it("opens only TCP/80, TCP/443 and ICMP echo to the world, on the load balancer's group", () => {
      for (const r of [runs.os3, runs.os4]) {
        const ingress = rules(r).filter((x) => x.inputs.direction === "ingress");
        const world = ingress.filter((x) => x.inputs.remoteIpPrefix === WORLD);
        assert.deepEqual(world.map((x) => [x.inputs.securityGroupId, x.inputs.protocol, x.inputs.portRangeMin]).sort(), [
          ["net-lb-id", "icmp", 8],
          ["net-lb-id", "tcp", 443],
          ["net-lb-id", "tcp", 80],
        ]);
        const db = ingress.filter((x) => x.inputs.securityGroupId === "net-db-id");
        assert.deepEqual(
          db.map((x) => [x.inputs.remoteGroupId, x.inputs.portRangeMin]),
          [["net-app-id", 5432]],
        );
        const nas = ingress.filter((x) => x.inputs.securityGroupId === "net-nas-id");
        assert.deepEqual([...new Set(nas.map((x) => x.inputs.remoteGroupId))].sort(), ["net-app-id", "net-nas-id"]);
        assert.ok(nas.some((x) => x.inputs.portRangeMin === 49152 && x.inputs.portRangeMax === 60999));
        for (const g of ofType(r, "openstack:networking/secGroup:SecGroup")) assert.equal(g.inputs.deleteDefaultRules, true);
      }
    });

    it("lets every host resolve names: DNS over UDP and TCP out of each group that has hosts", () => {
      const egress = rules(runs.os3).filter((x) => x.inputs.direction === "egress" && x.inputs.portRangeMin === 53);
      const byGroup = (g: string) =>
        egress
          .filter((x) => x.inputs.securityGroupId === g)
          .map((x) => x.inputs.protocol)
          .sort();
      for (const g of ["net-app-id", "net-db-id", "net-nas-id"]) assert.deepEqual(byGroup(g), ["tcp", "udp"], g);
    });

    it("balances with Octavia: VIP at the service address, ROUND_ROBIN pool, HTTP monitor, floating IP on the VIP", () => {
      const r = runs.os3;
      const [lb] = ofType(r, "openstack:loadbalancer/loadBalancer:LoadBalancer");
      assert.equal(lb.inputs.vipAddress, SERVICE_ADDRESS);
      assert.equal(ofType(r, "openstack:loadbalancer/pool:Pool")[0].inputs.lbMethod, "ROUND_ROBIN");
      const [monitor] = ofType(r, "openstack:loadbalancer/monitor:Monitor");
      assert.equal(monitor.inputs.type, "HTTP");
      assert.equal(monitor.inputs.urlPath, "/healthz");
      const [ip] = ofType(r, "openstack:networking/floatingIp:FloatingIp");
      assert.equal(ip.inputs.portId, "lb-vip-port");
      assert.ok(
        ip.options.dependencies.some((u) => u.endsWith("::net-lan2")),
        "waits for the DMZ's router interface",
      );
      assert.deepEqual(
        ofType(r, "openstack:loadbalancer/member:Member").map((m) => m.inputs.address),
        ["10.1.3.101", "10.1.3.102", "10.1.3.103"],
      );
      assert.equal(r.outputs.url, "https://203.0.113.10/");
    });

    it("routes to the external network named in config, from servers of the configured image and flavor", () => {
      const [router] = ofType(runs.os3, "openstack:networking/router:Router");
      assert.equal(router.inputs.externalNetworkId, "ext-net-id");
      for (const s of ofType(runs.os3, "openstack:compute/instance:Instance")) {
        assert.equal(s.inputs.imageName, OPENSTACK_CONFIG["crm:osImage"]);
        assert.equal(s.inputs.flavorName, OPENSTACK_CONFIG["crm:osFlavor"]);
      }
    });

    it("runs the role scripts of the vnx stack at the plan's fixed addresses; db and Gluster admit the back LAN", () => {
      const r = runs.os4;
      const server = (n: string) => named(r, "openstack:compute/instance:Instance", n);
      const db = hostsWithRole(planned, "db")[0];
      const nas = hostsWithRole(planned, "nas").map((h) => addressOn(h, "lan4"));
      assert.equal(
        roleScriptOf(server("bbdd-bbdd")),
        dbRoleScript({
          listen: addressOn(db, "lan4"),
          clients: ["10.1.4.0/24"],
          database: "crm",
          user: "crm",
          password: SECRETS["crm:dbPassword"],
        }),
      );
      for (const n of ["nas1", "nas2", "nas3"]) assert.equal(roleScriptOf(server(`nas-${n}`)), nasRoleScript({ brick: "/nas" }));
      const formation = userData(server("nas-nas1")).write_files.find(
        (f) => f.path === followUpPath({ name: "gluster-volume", script: "" }),
      );
      assert.equal(formation?.content, glusterFormationScript({ volume: "nas", servers: nas, brick: "/nas", clients: ["10.1.4.*"] }));
      const key = bundleObjectKey(DIGEST);
      const installApp = cloudInstallApp({
        fetch: swiftFetchCommand(`https://swift.example/v1/AUTH_p/crm-bundle-a1b2c3d/${key}`),
        digest: DIGEST,
      });
      for (const s of hostsWithRole(planned, "app")) {
        const expected = appRoleScript({
          listen: APP_LISTEN_ANY,
          port: 3000,
          databaseUrl: postgresUrl({ user: "crm", password: SECRETS["crm:dbPassword"], host: addressOn(db, "lan4"), database: "crm" }),
          sessionSecret: SECRETS["crm:sessionSecret"],
          adminPassword: SECRETS["crm:adminPassword"],
          volume: "nas",
          glusterServers: nas,
          installApp,
          behindHttps: true,
        });
        assert.equal(roleScriptOf(server(`crm-${s.name}`)), expected, s.name);
      }
    });

    it("delivers the bundle itself from a Swift container that lists nothing", () => {
      const [container] = ofType(runs.os3, "openstack:objectstorage/container:Container");
      assert.equal(container.inputs.containerRead, ".r:*");
      const [object] = ofType(runs.os3, "openstack:objectstorage/containerObject:ContainerObject");
      assert.equal(object.inputs.name, bundleObjectKey(DIGEST));
    });

    it("puts no secret into a plain input", () => {
      for (const r of [runs.os3, runs.os4]) assert.deepEqual(plainSecrets(r), []);
      assert.ok(named(runs.os3, "openstack:compute/instance:Instance", "crm-s1").secrets.includes("userData"));
    });

    it("without Octavia: an HAProxy server running the vnx balancer's role script, TLS with a certificate for its floating IP, with policy routing", () => {
      const r = ok(run(scenario(OPENSTACK_CONFIG, { "crm:osOctavia": "false" })));
      assert.equal(ofType(r, "openstack:loadbalancer/loadBalancer:LoadBalancer").length, 0);
      assert.equal(ofType(r, "openstack:keymanager/secretV1:SecretV1").length, 0, "Barbican is Octavia's, not HAProxy's");
      const lbHost = hostsWithRole(planned, "balancer")[0];
      const certificate = named(r, CERTIFICATE, "lb-cert-certificate");
      assert.deepEqual(certificate.inputs.ipAddresses, ["203.0.113.10"], "the certificate names the floating IP");
      const expected = balancerRoleScript(
        {
          bind: `${SERVICE_ADDRESS}:80`,
          backends: ["s1", "s2", "s3"].map((name, i) => ({ name, address: `10.1.3.${101 + i}`, port: 3000 })),
          algorithm: "roundrobin",
          healthPath: "/healthz",
          statsBind: `${addressOn(lbHost, "lan3")}:8404`,
          tls: { bind: `${SERVICE_ADDRESS}:443` },
        },
        undefined,
        { certificatePem: String(certificate.state.certificatePem), privateKeyPem: String(certificate.state.privateKeyPem) },
      );
      const lb = named(r, "openstack:compute/instance:Instance", "lb-lb");
      assert.equal(roleScriptOf(lb), expected);
      assert.ok(lb.secrets.includes("userData"), "the user data holds the certificate's key: a secret");
      assert.match(bootstrapOf(lb), /ip rule add from '10\.1\.2\.2' lookup 100/);
      assert.match(bootstrapOf(lb), /ip route replace default via '10\.1\.3\.254' dev "\$dev" table 101/);
      const ip = ofType(r, "openstack:networking/floatingIp:FloatingIp")[0];
      assert.equal(ip.inputs.portId, "lb-lb-lan2-id");
      assert.equal(r.outputs.url, "https://203.0.113.10/");
      assert.deepEqual(plainSecrets(r), []);
      // The app group then admits the app port from the lb group, not from a CIDR.
      const app = rules(r).filter((x) => x.inputs.securityGroupId === "net-app-id" && x.inputs.direction === "ingress");
      assert.deepEqual(
        app.map((x) => x.inputs.remoteGroupId),
        ["net-lb-id"],
      );
    });

    it("with crm:management: ges with crm:managementKeys and policy routing, its floating IP an output", () => {
      const r = ok(run(scenario(OPENSTACK_CONFIG, { "crm:management": "true", "crm:managementKeys": JSON.stringify([ED25519]) })));
      const ges = named(r, "openstack:compute/instance:Instance", "ges-ges");
      assert.match(roleScriptOf(ges) ?? "", /ListenAddress 10\.1\.3\.20/);
      assert.match(bootstrapOf(ges), /ip rule add from '10\.1\.4\.20' lookup 101/);
      assert.equal(r.outputs.managementSsh, "ssh root@203.0.113.10");
    });
  });

  describe("HTTPS (issue 12)", () => {
    const DOMAIN = "crm.example.com";
    const ZONE = "Z0123456789ABCDEFGHIJ";
    const user = userCertificate(`DNS:${DOMAIN}`);
    const own = { "crm:tlsCertificate": user.chain, "crm:tlsKey": user.key };
    const https: Record<string, RunResult> = {};
    before(async () => {
      const scenarios = {
        awsZone: scenario(AWS_CONFIG, { "crm:domain": DOMAIN, "crm:awsZoneId": ZONE }),
        awsDomain: scenario(AWS_CONFIG, { "crm:domain": DOMAIN }),
        awsOwn: scenario(AWS_CONFIG, own),
        osDomain: scenario(OPENSTACK_CONFIG, { "crm:domain": DOMAIN }),
        osOwn: scenario(OPENSTACK_CONFIG, { ...own, "crm:domain": DOMAIN }),
      };
      // Two at a time: the machine is shared.
      const names = Object.keys(scenarios) as (keyof typeof scenarios)[];
      for (let i = 0; i < names.length; i += 2)
        await Promise.all(names.slice(i, i + 2).map(async (n) => (https[n] = ok(await runAsync(scenarios[n])))));
    });

    const listener = (r: RunResult, name: string) => named(r, "aws:lb/listener:Listener", name);
    const worldIngress = (r: RunResult) =>
      ofType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        .filter((x) => x.inputs.cidrIpv4 === WORLD)
        .map((x) => [x.inputs.securityGroupId, x.inputs.ipProtocol, x.inputs.fromPort, x.inputs.toPort])
        .sort();
    const aclWorldTcp = (r: RunResult) =>
      (ofType(r, "aws:ec2/networkAcl:NetworkAcl")[0].inputs.ingress as { protocol: string; cidrBlock: string; fromPort: number }[])
        .filter((e) => e.cidrBlock === WORLD && e.protocol === "6")
        .map((e) => e.fromPort);
    const appEnv = (r: RunResult, type: string) => roleScriptOf(named(r, type, "crm-s1")) ?? "";

    it("aws without crm:domain or a certificate: plain HTTP, said at preview; 443 closed, cookies not Secure", () => {
      const r = runs.aws3;
      assert.deepEqual(r.warnings, [HTTP_ONLY_WARNING]);
      assert.match(HTTP_ONLY_WARNING, /crm:domain.*crm:tlsCertificate/);
      assert.deepEqual(
        ofType(r, "aws:lb/listener:Listener").map((l) => [l.name, l.inputs.port, l.inputs.protocol]),
        [["lb-http", 80, "HTTP"]],
      );
      assert.equal((listener(r, "lb-http").inputs.defaultActions as { type: string }[])[0].type, "forward");
      assert.equal(ofType(r, "aws:acm/certificate:Certificate").length, 0);
      assert.deepEqual(worldIngress(r), [
        ["net-lb-id", "icmp", 8, -1],
        ["net-lb-id", "tcp", 80, 80],
      ]);
      assert.deepEqual(aclWorldTcp(r), [80, 1024]);
      assert.doesNotMatch(appEnv(r, "aws:ec2/instance:Instance"), /COOKIE_SECURE/);
      assert.equal(r.outputs.url, "http://lb.elb.example/");
    });

    it("aws with crm:domain and a Route 53 zone: an ACM certificate validated in the zone, HTTPS on 443 (TLS 1.2+), 80 redirecting, the domain an alias", () => {
      const r = https.awsZone;
      assert.deepEqual(r.warnings, []);
      const [cert] = ofType(r, "aws:acm/certificate:Certificate");
      assert.deepEqual([cert.inputs.domainName, cert.inputs.validationMethod, cert.inputs.privateKey], [DOMAIN, "DNS", undefined]);
      const record = named(r, "aws:route53/record:Record", "lb-cert-validation");
      assert.deepEqual(
        [record.inputs.zoneId, record.inputs.name, record.inputs.type, record.inputs.records],
        [ZONE, `_0a1b.${DOMAIN}.`, "CNAME", ["_2c3d.acm-validations.aws."]],
      );
      const [validation] = ofType(r, "aws:acm/certificateValidation:CertificateValidation");
      assert.deepEqual(validation.inputs.validationRecordFqdns, [`_0a1b.${DOMAIN}`]);
      const tls = listener(r, "lb-https");
      assert.deepEqual(
        [tls.inputs.port, tls.inputs.protocol, tls.inputs.sslPolicy],
        [443, "HTTPS", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"],
      );
      assert.equal(tls.inputs.certificateArn, "arn:aws:acm:eu-west-1:1:certificate/lb-cert");
      assert.ok(
        tls.options.dependencies.some((u) => u.endsWith("CertificateValidation::lb-cert")),
        "the listener waits for the certificate to be issued",
      );
      assert.equal((tls.inputs.defaultActions as { type: string }[])[0].type, "forward");
      assert.deepEqual(listener(r, "lb-http").inputs.defaultActions, [
        { type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } },
      ]);
      const alias = named(r, "aws:route53/record:Record", "lb-dns");
      assert.deepEqual([alias.inputs.name, alias.inputs.type, alias.inputs.zoneId], [DOMAIN, "A", ZONE]);
      assert.deepEqual(alias.inputs.aliases, [{ name: "lb.elb.example", zoneId: "Z32O12XQLNTSW2", evaluateTargetHealth: true }]);
      assert.deepEqual(worldIngress(r), [
        ["net-lb-id", "icmp", 8, -1],
        ["net-lb-id", "tcp", 443, 443],
        ["net-lb-id", "tcp", 80, 80],
      ]);
      assert.deepEqual(aclWorldTcp(r), [80, 443, 1024]);
      assert.match(appEnv(r, "aws:ec2/instance:Instance"), /^COOKIE_SECURE="true"$/m);
      assert.equal(r.outputs.url, `https://${DOMAIN}/`);
    });

    it("aws with crm:domain and no zone: the validation record is the user's (no Route 53 record is made), the update waits for it", () => {
      const r = https.awsDomain;
      assert.equal(ofType(r, "aws:route53/record:Record").length, 0);
      const [validation] = ofType(r, "aws:acm/certificateValidation:CertificateValidation");
      assert.equal(validation.inputs.validationRecordFqdns, undefined);
      assert.equal(listener(r, "lb-https").inputs.certificateArn, "arn:aws:acm:eu-west-1:1:certificate/lb-cert");
      // The record is said while `pulumi up` waits (the mocks give the certificate's outputs at once).
      assert.deepEqual(
        r.warnings.filter((w) => w.includes("_0a1b")),
        [
          `aws: create this DNS record so that ACM issues the certificate for ${DOMAIN} (pulumi up waits for it): _0a1b.${DOMAIN}. CNAME _2c3d.acm-validations.aws.`,
        ],
      );
    });

    it("aws with the user's certificate: imported into ACM (leaf, chain, key a secret), HTTPS without crm:domain", () => {
      const r = https.awsOwn;
      assert.deepEqual(r.warnings, []);
      const [cert] = ofType(r, "aws:acm/certificate:Certificate");
      assert.equal(cert.inputs.certificateBody, user.leaf);
      assert.equal(cert.inputs.certificateChain, user.issuer);
      assert.equal(cert.inputs.privateKey, user.key);
      assert.ok(cert.secrets.includes("privateKey"));
      assert.equal(cert.inputs.domainName, undefined);
      assert.equal(ofType(r, "aws:acm/certificateValidation:CertificateValidation").length, 0);
      assert.equal(listener(r, "lb-https").inputs.certificateArn, "arn:aws:acm:eu-west-1:1:certificate/lb-cert");
      assert.equal(listener(r, "lb-https").inputs.sslPolicy, "ELBSecurityPolicy-TLS13-1-2-Res-2021-06");
      assert.equal((listener(r, "lb-http").inputs.defaultActions as { type: string }[])[0].type, "redirect");
      assert.match(appEnv(r, "aws:ec2/instance:Instance"), /^COOKIE_SECURE="true"$/m);
      assert.equal(r.outputs.url, "https://lb.elb.example/");
      for (const res of r.resources)
        for (const [k, v] of Object.entries(res.inputs))
          if (JSON.stringify(v).includes(user.key.split("\n")[1])) assert.ok(res.secrets.includes(k), `${res.type} ${res.name}.${k}`);
    });

    it("openstack: TERMINATED_HTTPS on 443 with the Barbican container of a certificate for the floating IP; 80 redirects; the pool behind 443", () => {
      const r = runs.os3;
      const certificate = named(r, CERTIFICATE, "lb-cert-certificate");
      assert.deepEqual([certificate.inputs.ipAddresses, certificate.inputs.dnsNames], [["203.0.113.10"], []]);
      const secrets = ofType(r, "openstack:keymanager/secretV1:SecretV1");
      assert.deepEqual(secrets.map((x) => [x.name, x.inputs.secretType, x.inputs.payloadContentType]).sort(), [
        ["lb-tls-certificate", "certificate", "text/plain"],
        ["lb-tls-private-key", "private", "text/plain"],
      ]);
      const secret = (n: string) => named(r, "openstack:keymanager/secretV1:SecretV1", n);
      assert.equal(secret("lb-tls-certificate").inputs.payload, certificate.state.certificatePem);
      assert.equal(secret("lb-tls-private-key").inputs.payload, certificate.state.privateKeyPem);
      assert.ok(secret("lb-tls-private-key").secrets.includes("payload"), "the key is a secret input");
      const [container] = ofType(r, "openstack:keymanager/containerV1:ContainerV1");
      assert.equal(container.inputs.type, "certificate");
      assert.deepEqual(container.inputs.secretRefs, [
        { name: "certificate", secretRef: "https://barbican.example/v1/secrets/lb-tls-certificate" },
        { name: "private_key", secretRef: "https://barbican.example/v1/secrets/lb-tls-private-key" },
      ]);
      const tls = named(r, "openstack:loadbalancer/listener:Listener", "lb-https");
      assert.deepEqual(
        [tls.inputs.protocol, tls.inputs.protocolPort, tls.inputs.defaultTlsContainerRef],
        ["TERMINATED_HTTPS", 443, "https://barbican.example/v1/containers/lb-tls"],
      );
      assert.deepEqual(tls.inputs.insertHeaders, { "X-Forwarded-For": "true", "X-Forwarded-Proto": "true" });
      assert.equal(ofType(r, "openstack:loadbalancer/pool:Pool")[0].inputs.listenerId, "lb-https-id");
      const [policy] = ofType(r, "openstack:loadbalancer/l7PolicyV2:L7PolicyV2");
      assert.deepEqual(
        [policy.inputs.listenerId, policy.inputs.action, policy.inputs.redirectUrl],
        ["lb-http-id", "REDIRECT_TO_URL", "https://203.0.113.10/"],
      );
      const [rule] = ofType(r, "openstack:loadbalancer/l7RuleV2:L7RuleV2");
      assert.deepEqual(
        [rule.inputs.l7policyId, rule.inputs.type, rule.inputs.compareType, rule.inputs.value],
        ["lb-http-to-https-id", "PATH", "STARTS_WITH", "/"],
      );
      assert.match(appEnv(r, "openstack:compute/instance:Instance"), /^COOKIE_SECURE="true"$/m);
      assert.deepEqual(r.warnings, []);
    });

    it("openstack with crm:domain: the certificate names it too, and the URL and the redirect use it", () => {
      const r = https.osDomain;
      const certificate = named(r, CERTIFICATE, "lb-cert-certificate");
      assert.deepEqual([certificate.inputs.ipAddresses, certificate.inputs.dnsNames], [["203.0.113.10"], [DOMAIN]]);
      assert.equal(ofType(r, "openstack:loadbalancer/l7PolicyV2:L7PolicyV2")[0].inputs.redirectUrl, `https://${DOMAIN}/`);
      assert.equal(r.outputs.url, `https://${DOMAIN}/`);
    });

    it("openstack with the user's certificate: leaf, key and its intermediates in Barbican, no CA-signed certificate", () => {
      const r = https.osOwn;
      assert.equal(ofType(r, CERTIFICATE).length, 0, "no CA, no certificate made: the user's, as it is");
      const secrets = ofType(r, "openstack:keymanager/secretV1:SecretV1");
      assert.deepEqual(secrets.map((x) => [x.name, x.inputs.payload]).sort(), [
        ["lb-tls-certificate", user.leaf],
        ["lb-tls-intermediates", user.issuer],
        ["lb-tls-private-key", user.key],
      ]);
      assert.ok(named(r, "openstack:keymanager/secretV1:SecretV1", "lb-tls-private-key").secrets.includes("payload"));
      const [container] = ofType(r, "openstack:keymanager/containerV1:ContainerV1");
      assert.deepEqual(
        (container.inputs.secretRefs as { name: string }[]).map((x) => x.name),
        ["certificate", "private_key", "intermediates"],
      );
    });

    it("refuses bad input before anything is created, naming the setting", () => {
      const created = (r: RunResult) =>
        r.resources.filter((x) => x.custom && !x.type.startsWith("pulumi:providers:") && !x.type.startsWith("crm:")).length;
      for (const base of [AWS_CONFIG, OPENSTACK_CONFIG]) {
        const bad = run(scenario(base, { "crm:domain": "https://crm.example.com/" }));
        assert.match(bad.errors.join("\n"), /crm:domain: must be a DNS name/);
        assert.equal(created(bad), 0);
      }
      const noKey = run(scenario(AWS_CONFIG, { "crm:tlsCertificate": user.chain }));
      assert.match(noKey.errors.join("\n"), /crm:tlsKey: is required with crm:tlsCertificate/);
      assert.equal(created(noKey), 0);
      const noCertificate = run(scenario(OPENSTACK_CONFIG, { "crm:tlsKey": user.key }));
      assert.match(noCertificate.errors.join("\n"), /crm:tlsCertificate: is required with crm:tlsKey/);
      assert.equal(created(noCertificate), 0);
      const elsewhere = run(scenario(AWS_CONFIG, { ...own, "crm:domain": "other.example.com" }));
      assert.match(elsewhere.errors.join("\n"), /crm:tlsCertificate: does not cover other\.example\.com/);
      assert.equal(created(elsewhere), 0);
      const zoneAlone = run(scenario(AWS_CONFIG, { "crm:awsZoneId": ZONE }));
      assert.match(zoneAlone.errors.join("\n"), /crm:awsZoneId: .*crm:domain/);
      assert.equal(created(zoneAlone), 0);
    });
  });

  describe("the example stack files", () => {
    for (const file of ["Pulumi.aws.yaml", "Pulumi.openstack.yaml"]) {
      it(`${file} runs as it is, once the secrets are set`, () => {
        const config = stackFileConfig(file);
        assert.ok(Object.keys(config).length > 5, "the file was read");
        ok(run(scenario({ ...config, ...SECRETS })));
      });
    }
  });

  describe("settings that cannot work fail before anything is created, naming the key", () => {
    const nothingCreated = (r: RunResult) =>
      assert.equal(r.resources.filter((x) => x.custom && !x.type.startsWith("pulumi:providers:") && !x.type.startsWith("crm:")).length, 0);
    it("aws: names each missing key", () => {
      const r = run(scenario({ "crm:target": "aws", ...SECRETS }));
      const text = r.errors.join("\n");
      for (const key of ["crm:adminCidr", "crm:awsRegion", "crm:awsAmi"]) assert.match(text, new RegExp(`${key}: is required`));
      nothingCreated(r);
    });
    it("openstack: names each missing key", () => {
      const r = run(scenario({ "crm:target": "openstack", ...SECRETS }));
      const text = r.errors.join("\n");
      for (const key of ["crm:osImage", "crm:osFlavor", "crm:osExternalNetwork", "crm:adminCidr"])
        assert.match(text, new RegExp(`${key}: is required`));
    });
    it("aws: a region with fewer zones than the ALB and replica 3 need", () => {
      const r = run(scenario(AWS_CONFIG, {}, { zones: 1 }));
      assert.match(r.errors.join("\n"), /crm:awsRegion: eu-west-1 has 1 available zones/);
    });
    it("aws: a standby database on EC2 (on aws the standby is RDS Multi-AZ)", () => {
      const r = run(scenario(AWS_CONFIG, { "crm:dbStandby": "true" }));
      assert.match(r.errors.join("\n"), /crm:dbStandby: on aws the standby is RDS Multi-AZ: set crm:awsDatabase to rds/);
      nothingCreated(r);
    });
    it("management without a key", () => {
      for (const base of [AWS_CONFIG, OPENSTACK_CONFIG]) {
        const r = run(scenario(base, { "crm:management": "true" }));
        assert.match(r.errors.join("\n"), /crm:managementKeys: is required when crm:management is true/);
        nothingCreated(r);
      }
    });
  });
});
