/**
 * The aws and openstack stacks, as index.ts builds them, under pulumi.runtime.setMocks: each
 * scenario runs in a process of its own (runner.ts), with no cloud, no CLI and no credentials.
 */
import { strict as assert } from "node:assert";
import { postgresUrl } from "../../components/PgServer";
import { appRoleScript } from "../../roles/app";
import { balancerRoleScript } from "../../roles/balancer";
import { dbRoleScript } from "../../roles/db";
import { glusterFormationScript, nasRoleScript } from "../../roles/nas";
import { addressOn, hostsWithRole, planScenario, SERVICE_ADDRESS } from "../../topology/plan";
import { WORLD } from "../../targets/aws/flows";
import { appDownload } from "../../targets/aws/settings";
import {
  AWS_USER_DATA_LIMIT,
  cloudInstallApp,
  followUpPath,
  parseCloudInit,
  ROLE_SCRIPT_PATH,
  type CloudConfig,
} from "../../targets/cloudinit";
import { AWS_CONFIG, countByType, OPENSTACK_CONFIG, run, scenario, SECRETS } from "./harness";
import type { Recorded, RunResult } from "./model";

const INSTALL_APP = cloudInstallApp(appDownload({ adminCidr: AWS_CONFIG["crm:adminCidr"], appBundleUrl: AWS_CONFIG["crm:appBundleUrl"] }));
const SECRET_VALUES = Object.values(SECRETS);

const COMPONENTS = {
  "crm:app:CrmTier": 1,
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
    "aws:ec2/networkInterface:NetworkInterface": n + 4,
    "aws:ec2/routeTable:RouteTable": 2,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": 9,
    "aws:ec2/securityGroup:SecurityGroup": 4,
    "aws:ec2/subnet:Subnet": 9,
    "aws:ec2/volumeAttachment:VolumeAttachment": 4,
    "aws:ec2/vpc:Vpc": 1,
    "aws:lb/listener:Listener": 1,
    "aws:lb/loadBalancer:LoadBalancer": 1,
    "aws:lb/targetGroup:TargetGroup": 1,
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": n,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": 12,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 8,
    ...COMPONENTS,
    "pulumi:providers:aws": 1,
  };
}

/** The exact resource set of the openstack stack with n app servers (Octavia). */
function openstackExpected(n: number): Record<string, number> {
  return {
    ...COMPONENTS,
    "openstack:blockstorage/volume:Volume": 4,
    "openstack:compute/instance:Instance": n + 4,
    "openstack:compute/volumeAttach:VolumeAttach": 4,
    "openstack:loadbalancer/listener:Listener": 1,
    "openstack:loadbalancer/loadBalancer:LoadBalancer": 1,
    "openstack:loadbalancer/member:Member": n,
    "openstack:loadbalancer/monitor:Monitor": 1,
    "openstack:loadbalancer/pool:Pool": 1,
    "openstack:networking/floatingIp:FloatingIp": 1,
    "openstack:networking/network:Network": 3,
    // App servers have a front and a back port, like their two NICs on vnx.
    "openstack:networking/port:Port": 2 * n + 4,
    "openstack:networking/router:Router": 1,
    "openstack:networking/routerInterface:RouterInterface": 3,
    "openstack:networking/secGroup:SecGroup": 4,
    "openstack:networking/secGroupRule:SecGroupRule": 22,
    "openstack:networking/subnet:Subnet": 3,
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

function ok(r: RunResult): RunResult {
  assert.deepEqual(r.errors, [], "the program ran without errors");
  return r;
}

describe("cloud stacks under mocks", function () {
  this.timeout(180_000);
  const runs: Record<string, RunResult> = {};
  before(() => {
    runs.aws3 = ok(run(scenario(AWS_CONFIG)));
    runs.aws4 = ok(run(scenario(AWS_CONFIG, { "crm:servers": "4" })));
    runs.os3 = ok(run(scenario(OPENSTACK_CONFIG)));
    runs.os4 = ok(run(scenario(OPENSTACK_CONFIG, { "crm:servers": "4" })));
  });

  describe("secret detection (the harness itself)", () => {
    it("sees a secret input as secret and a plain one as plain", () => {
      const probe = run({ stack: "probe", config: {} });
      assert.deepEqual(probe.resources[0].secrets, ["hidden", "nested"]);
      assert.equal(probe.resources[0].inputs.plain, "visible");
    });
    it("the leak check flags a password in a plain input, and accepts it in a secret one", () => {
      const res = {
        type: "t",
        name: "n",
        custom: true,
        inputs: { userData: `x${SECRETS["crm:dbPassword"]}x` },
        secrets: [] as string[],
        state: {},
      };
      const result = { resources: [res], calls: [], outputs: {}, errors: [] };
      assert.deepEqual(plainSecrets(result), ["t n.userData"]);
      assert.deepEqual(plainSecrets({ ...result, resources: [{ ...res, secrets: ["userData"] }] }), []);
    });
  });

  describe("resource types and counts", () => {
    it("aws, 3 servers", () => assert.deepEqual(countByType(runs.aws3), awsExpected(3)));
    it("aws, 4 servers", () => assert.deepEqual(countByType(runs.aws4), awsExpected(4)));
    it("openstack, 3 servers", () => assert.deepEqual(countByType(runs.os3), openstackExpected(3)));
    it("openstack, 4 servers", () => assert.deepEqual(countByType(runs.os4), openstackExpected(4)));
  });

  describe("aws", () => {
    it("opens only TCP/80 and ICMP echo to the world, on the load balancer's group", () => {
      for (const r of [runs.aws3, runs.aws4]) {
        const world = ofType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((x) => x.inputs.cidrIpv4 === WORLD);
        assert.deepEqual(world.map((x) => [x.inputs.securityGroupId, x.inputs.ipProtocol, x.inputs.fromPort]).sort(), [
          ["crm-lb-id", "icmp", 8],
          ["crm-lb-id", "tcp", 80],
        ]);
        // No ingress rule uses a CIDR other than from the entry: everything inside is by group.
        const byCidr = ofType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter(
          (x) => x.inputs.cidrIpv4 !== undefined,
        );
        assert.equal(byCidr.length, 2);
      }
    });

    it("lets the database and Gluster ports be reached only from the app group (Gluster peers from their own)", () => {
      const ingress = ofType(runs.aws3, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
      const db = ingress.filter((x) => x.inputs.securityGroupId === "crm-db-id");
      assert.deepEqual(
        db.map((x) => [x.inputs.referencedSecurityGroupId, x.inputs.fromPort, x.inputs.toPort]),
        [["crm-app-id", 5432, 5432]],
      );
      const nas = ingress.filter((x) => x.inputs.securityGroupId === "crm-nas-id");
      assert.deepEqual([...new Set(nas.map((x) => x.inputs.referencedSecurityGroupId))].sort(), ["crm-app-id", "crm-nas-id"]);
      const app = ingress.filter((x) => x.inputs.securityGroupId === "crm-app-id");
      assert.deepEqual(
        app.map((x) => [x.inputs.referencedSecurityGroupId, x.inputs.fromPort]),
        [["crm-lb-id", 3000]],
      );
    });

    it("mirrors the firewall in the public subnets' ACL: world may reach TCP/80, ICMP echo, and replies on ephemeral ports only", () => {
      const [acl] = ofType(runs.aws3, "aws:ec2/networkAcl:NetworkAcl");
      const ingress = acl.inputs.ingress as { protocol: string; cidrBlock: string; fromPort: number; toPort: number; icmpType?: number }[];
      const world = ingress.filter((e) => e.cidrBlock === WORLD).map((e) => [e.protocol, e.fromPort, e.toPort, e.icmpType ?? null]);
      assert.deepEqual(world, [
        ["1", 0, 0, 8],
        ["6", 80, 80, null],
        // Stateless ACL: the mirror of `ct state established` (NAT and management replies); nothing listens there.
        ["6", 1024, 65535, null],
      ]);
      assert.equal((acl.inputs.subnetIds as string[]).length, 3);
    });

    it("runs an ALB with a round-robin target group, 5–10 s health checks on /healthz, 30 s deregistration delay", () => {
      const [tg] = ofType(runs.aws3, "aws:lb/targetGroup:TargetGroup");
      const check = tg.inputs.healthCheck as { path: string; interval: number };
      assert.equal(tg.inputs.loadBalancingAlgorithmType, "round_robin");
      assert.equal(tg.inputs.deregistrationDelay, 30);
      assert.equal(check.path, "/healthz");
      assert.ok(check.interval >= 5 && check.interval <= 10);
      const [alb] = ofType(runs.aws3, "aws:lb/loadBalancer:LoadBalancer");
      assert.equal(alb.inputs.loadBalancerType, "application");
      assert.equal((alb.inputs.subnets as string[]).length, 3);
      assert.deepEqual(alb.inputs.securityGroups, ["crm-lb-id"]);
    });

    it("looks up Debian's AMI by owner and name, and spreads the bricks over three zones", () => {
      const ami = runs.aws3.calls.find((c) => c.token === "aws:ec2/getAmi:getAmi");
      assert.deepEqual(ami?.inputs.owners, ["136693071363"]);
      assert.deepEqual((ami?.inputs.filters as { name: string; values: string[] }[])[0], { name: "name", values: ["debian-13-amd64-*"] });
      const zones = ["nas1", "nas2", "nas3"].map((n) => named(runs.aws3, "aws:ebs/volume:Volume", `${n}-data`).inputs.availabilityZone);
      assert.equal(new Set(zones).size, 3);
      for (const i of ofType(runs.aws3, "aws:ec2/instance:Instance")) assert.equal(i.inputs.ami, "ami-0debian13");
    });

    it("publishes the load balancer's URL", () => assert.equal(runs.aws3.outputs.url, "http://lb.elb.example/"));

    it("keeps every user data under 16 KB", () => {
      for (const r of [runs.aws3, runs.aws4]) {
        for (const i of ofType(r, "aws:ec2/instance:Instance"))
          assert.ok(Buffer.byteLength(String(i.inputs.userData)) < AWS_USER_DATA_LIMIT, i.name);
      }
    });

    it("configures every host with the role script the roles/ renderers produce, at the cloud's addresses", () => {
      const r = runs.aws4;
      const ip = (host: string) => String(named(r, "aws:ec2/networkInterface:NetworkInterface", `${host}-nic`).state.privateIp);
      const apps = ["s1", "s2", "s3", "s4"];
      const nas = ["nas1", "nas2", "nas3"].map(ip);
      const instance = (n: string) => named(r, "aws:ec2/instance:Instance", n);
      assert.equal(
        roleScriptOf(instance("bbdd")),
        dbRoleScript({ listen: ip("bbdd"), clients: apps.map(ip), database: "crm", user: "crm", password: SECRETS["crm:dbPassword"] }),
      );
      for (const n of ["nas1", "nas2", "nas3"]) assert.equal(roleScriptOf(instance(n)), nasRoleScript({ brick: "/nas" }));
      const formation = userData(instance("nas1")).write_files.find((f) => f.path === followUpPath({ name: "gluster-volume", script: "" }));
      assert.equal(formation?.content, glusterFormationScript({ volume: "nas", servers: nas, brick: "/nas", clients: apps.map(ip) }));
      const databaseUrl = postgresUrl({ user: "crm", password: SECRETS["crm:dbPassword"], host: ip("bbdd"), database: "crm" });
      for (const s of apps) {
        const expected = appRoleScript({
          listen: ip(s),
          port: 3000,
          databaseUrl,
          sessionSecret: SECRETS["crm:sessionSecret"],
          adminPassword: SECRETS["crm:adminPassword"],
          volume: "nas",
          glusterServers: nas,
          installApp: INSTALL_APP,
        });
        assert.equal(roleScriptOf(instance(s)), expected, s);
      }
    });

    it("puts no secret into a plain input: user data holding a password is secret as a whole", () => {
      for (const r of [runs.aws3, runs.aws4]) assert.deepEqual(plainSecrets(r), []);
      for (const n of ["bbdd", "s1"]) assert.ok(named(runs.aws3, "aws:ec2/instance:Instance", n).secrets.includes("userData"), n);
    });

    it("with crm:awsDatabase rds: RDS Multi-AZ with a secret password and no database host", () => {
      const r = ok(run(scenario(AWS_CONFIG, { "crm:awsDatabase": "rds" })));
      const [db] = ofType(r, "aws:rds/instance:Instance");
      assert.equal(db.inputs.multiAz, true);
      assert.equal(db.inputs.publiclyAccessible, false);
      assert.deepEqual(db.inputs.vpcSecurityGroupIds, ["crm-db-id"]);
      assert.ok(db.secrets.includes("password"));
      assert.equal(ofType(r, "aws:ec2/instance:Instance").length, 6);
      assert.deepEqual(plainSecrets(r), []);
      const s1 = roleScriptOf(named(r, "aws:ec2/instance:Instance", "s1")) ?? "";
      assert.match(s1, /@bbdd\.rds\.example:5432\/crm/);
    });
  });

  describe("openstack", () => {
    const planned = planScenario({ servers: 4, monitoring: false, management: false, dbStandby: false });

    it("opens only TCP/80 and ICMP echo to the world, on the load balancer's group", () => {
      for (const r of [runs.os3, runs.os4]) {
        const ingress = ofType(r, "openstack:networking/secGroupRule:SecGroupRule").filter((x) => x.inputs.direction === "ingress");
        const world = ingress.filter((x) => x.inputs.remoteIpPrefix === WORLD);
        assert.deepEqual(world.map((x) => [x.inputs.securityGroupId, x.inputs.protocol, x.inputs.portRangeMin]).sort(), [
          ["crm-lb-id", "icmp", 8],
          ["crm-lb-id", "tcp", 80],
        ]);
        const db = ingress.filter((x) => x.inputs.securityGroupId === "crm-db-id");
        assert.deepEqual(
          db.map((x) => [x.inputs.remoteGroupId, x.inputs.portRangeMin]),
          [["crm-app-id", 5432]],
        );
        const nas = ingress.filter((x) => x.inputs.securityGroupId === "crm-nas-id");
        assert.deepEqual([...new Set(nas.map((x) => x.inputs.remoteGroupId))].sort(), ["crm-app-id", "crm-nas-id"]);
        for (const g of ofType(r, "openstack:networking/secGroup:SecGroup")) assert.equal(g.inputs.deleteDefaultRules, true);
      }
    });

    it("balances with Octavia: VIP at the service address, ROUND_ROBIN pool, HTTP monitor, floating IP on the VIP", () => {
      const r = runs.os3;
      const [lb] = ofType(r, "openstack:loadbalancer/loadBalancer:LoadBalancer");
      assert.equal(lb.inputs.vipAddress, SERVICE_ADDRESS);
      assert.equal(ofType(r, "openstack:loadbalancer/pool:Pool")[0].inputs.lbMethod, "ROUND_ROBIN");
      const [monitor] = ofType(r, "openstack:loadbalancer/monitor:Monitor");
      assert.equal(monitor.inputs.type, "HTTP");
      assert.equal(monitor.inputs.urlPath, "/healthz");
      assert.equal(ofType(r, "openstack:networking/floatingIp:FloatingIp")[0].inputs.portId, "lb-vip-port");
      assert.deepEqual(
        ofType(r, "openstack:loadbalancer/member:Member").map((m) => m.inputs.address),
        ["10.1.3.11", "10.1.3.12", "10.1.3.13"],
      );
      assert.equal(r.outputs.url, "http://203.0.113.10/");
    });

    it("routes to the external network named in config, from servers of the configured image and flavor", () => {
      const [router] = ofType(runs.os3, "openstack:networking/router:Router");
      assert.equal(router.inputs.externalNetworkId, "ext-net-id");
      for (const s of ofType(runs.os3, "openstack:compute/instance:Instance")) {
        assert.equal(s.inputs.imageName, OPENSTACK_CONFIG["crm:osImage"]);
        assert.equal(s.inputs.flavorName, OPENSTACK_CONFIG["crm:osFlavor"]);
      }
    });

    it("runs byte for byte the role scripts of the vnx stack (same addresses), the app's plus its download", () => {
      const r = runs.os4;
      const server = (n: string) => named(r, "openstack:compute/instance:Instance", n);
      const apps = hostsWithRole(planned, "app");
      const db = hostsWithRole(planned, "db")[0];
      const nas = hostsWithRole(planned, "nas").map((h) => addressOn(h, "lan4"));
      // What targets/vnx/index.ts renders for the same hosts.
      assert.equal(
        roleScriptOf(server("bbdd")),
        dbRoleScript({
          listen: addressOn(db, "lan4"),
          clients: apps.map((c) => addressOn(c, "lan4")),
          database: "crm",
          user: "crm",
          password: SECRETS["crm:dbPassword"],
        }),
      );
      for (const n of ["nas1", "nas2", "nas3"]) assert.equal(roleScriptOf(server(n)), nasRoleScript({ brick: "/nas" }));
      for (const s of apps) {
        const vnxArgs = {
          listen: addressOn(s, "lan3"),
          port: 3000,
          databaseUrl: postgresUrl({ user: "crm", password: SECRETS["crm:dbPassword"], host: addressOn(db, "lan4"), database: "crm" }),
          sessionSecret: SECRETS["crm:sessionSecret"],
          adminPassword: SECRETS["crm:adminPassword"],
          volume: "nas",
          glusterServers: nas,
        };
        assert.equal(roleScriptOf(server(s.name)), appRoleScript({ ...vnxArgs, installApp: INSTALL_APP }), s.name);
      }
    });

    it("puts no secret into a plain input", () => {
      for (const r of [runs.os3, runs.os4]) assert.deepEqual(plainSecrets(r), []);
      assert.ok(named(runs.os3, "openstack:compute/instance:Instance", "s1").secrets.includes("userData"));
    });

    it("without Octavia: an HAProxy server running the vnx balancer's role script, behind a floating IP", () => {
      const r = ok(run(scenario(OPENSTACK_CONFIG, { "crm:osOctavia": "false" })));
      assert.equal(ofType(r, "openstack:loadbalancer/loadBalancer:LoadBalancer").length, 0);
      const lbHost = hostsWithRole(planned, "balancer")[0];
      const expected = balancerRoleScript({
        bind: `${SERVICE_ADDRESS}:80`,
        backends: ["s1", "s2", "s3"].map((name, i) => ({ name, address: `10.1.3.${11 + i}`, port: 3000 })),
        algorithm: "roundrobin",
        healthPath: "/healthz",
        statsBind: `${addressOn(lbHost, "lan3")}:8404`,
      });
      assert.equal(roleScriptOf(named(r, "openstack:compute/instance:Instance", "lb")), expected);
      const ip = ofType(r, "openstack:networking/floatingIp:FloatingIp")[0];
      assert.equal(ip.inputs.portId, "lb-lan2-id");
      // The app group then admits the app port from the lb group, not from a CIDR.
      const app = ofType(r, "openstack:networking/secGroupRule:SecGroupRule").filter(
        (x) => x.inputs.securityGroupId === "crm-app-id" && x.inputs.direction === "ingress",
      );
      assert.deepEqual(
        app.map((x) => x.inputs.remoteGroupId),
        ["crm-lb-id"],
      );
    });
  });

  describe("required settings", () => {
    it("aws: names each missing key", () => {
      const r = run(scenario({ "crm:target": "aws", ...SECRETS }));
      const text = r.errors.join("\n");
      for (const key of ["crm:adminCidr", "crm:appBundleUrl", "crm:awsRegion", "crm:awsKeyName"])
        assert.match(text, new RegExp(`${key}: is required`));
      assert.equal(r.resources.filter((x) => x.custom && !x.type.startsWith("crm:")).length, 0, "nothing is created");
    });
    it("openstack: names each missing key", () => {
      const r = run(scenario({ "crm:target": "openstack", ...SECRETS }));
      const text = r.errors.join("\n");
      for (const key of ["crm:osImage", "crm:osFlavor", "crm:osExternalNetwork", "crm:osKeyPair", "crm:adminCidr"])
        assert.match(text, new RegExp(`${key}: is required`));
    });
  });
});
