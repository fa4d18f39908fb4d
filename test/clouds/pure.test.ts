/** The clouds' pure parts, without Pulumi: cloud-init, flows, rules, ACL entries, settings. */
import { strict as assert } from "node:assert";
import { scenarioPolicy } from "../../components/Firewall";
import { nasRoleScript } from "../../roles/nas";
import { maxServers, planScenario } from "../../topology/plan";
import { parseSettings } from "../../topology/settings";
import { entryFlows, internalFlows, isWorldOpen, scenarioFlows, WORLD } from "../../targets/aws/flows";
import { awsSettingsProblem, rdsInstanceClass } from "../../targets/aws/index";
import { subnetCidr, threeZones } from "../../targets/aws/network";
import { EPHEMERAL, publicNaclIngress, securityGroupRules } from "../../targets/aws/security";
import { parseAwsSettings } from "../../targets/aws/settings";
import {
  AWS_USER_DATA_LIMIT,
  awsVolumeDevice,
  BOOTSTRAP_PATH,
  cloudInstallApp,
  nodeDistUrl,
  openstackVolumeDevice,
  parseCloudInit,
  renderBootstrap,
  renderCloudInit,
  ROLE_SCRIPT_PATH,
} from "../../targets/cloudinit";
import { subnetLayout } from "../../targets/openstack/network";
import { neutronRule, octaviaPeers } from "../../targets/openstack/security";
import { parseOpenStackSettings } from "../../targets/openstack/settings";
import { octaviaMethod } from "../../targets/openstack/index";

const FLOW_OPTS = { appPort: 3000, hasManagement: false };

describe("cloud-init renderer", () => {
  const role = nasRoleScript({ brick: "/nas" });
  const userData = renderCloudInit({
    hostname: "nas1",
    role: "nas",
    roleScript: role,
    volume: { device: "/dev/disk/by-id/x", mountPoint: "/nas" },
  });

  it("writes the role script verbatim, root-only, and runs the bootstrap once", () => {
    const config = parseCloudInit(userData);
    assert.equal(config.hostname, "nas1");
    const file = config.write_files.find((f) => f.path === ROLE_SCRIPT_PATH);
    assert.equal(file?.content, role);
    assert.equal(file?.permissions, "0700");
    assert.deepEqual(config.runcmd, [[BOOTSTRAP_PATH]]);
    assert.ok(userData.startsWith("#cloud-config\n"));
  });

  it("mounts the data volume before installing packages, and installs before running the role", () => {
    const bootstrap = renderBootstrap({
      hostname: "nas1",
      role: "nas",
      roleScript: role,
      volume: { device: "/dev/disk/by-id/x", mountPoint: "/nas" },
    });
    const mount = bootstrap.indexOf("mount '/nas'");
    const install = bootstrap.indexOf("apt-get install -y -q --no-install-recommends glusterfs-server");
    const run = bootstrap.indexOf(`until ${ROLE_SCRIPT_PATH}`);
    assert.ok(mount > 0 && install > mount && run > install, bootstrap);
    assert.match(bootstrap, /mkfs\.ext4 -q '\/dev\/disk\/by-id\/x'/);
  });

  it("keeps a host without a role script to the bootstrap (management host)", () => {
    const config = parseCloudInit(renderCloudInit({ hostname: "ges", role: "management" }));
    assert.deepEqual(
      config.write_files.map((f) => f.path),
      [BOOTSTRAP_PATH],
    );
  });

  it("names volumes by their stable ids", () => {
    assert.equal(awsVolumeDevice("vol-0abc123"), "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc123");
    assert.equal(openstackVolumeDevice("0123456789abcdef0123456789"), "/dev/disk/by-id/virtio-0123456789abcdef0123");
  });

  it("downloads Node.js and the bundle, quoted, and restarts the app only on a new bundle", () => {
    const snippet = cloudInstallApp({ bundleUrl: "https://x.example/crm'1.tgz", nodeUrl: nodeDistUrl("24.21.0"), nodeVersion: "24.21.0" });
    assert.match(snippet, /https:\/\/nodejs\.org\/dist\/v24\.21\.0\/node-v24\.21\.0-linux-x64\.tar\.xz/);
    assert.match(snippet, /'https:\/\/x\.example\/crm'\\''1\.tgz'/);
    assert.match(snippet, /CRM_RESTART=1/);
  });

  it("has a 16 KB limit constant matching EC2's", () => assert.equal(AWS_USER_DATA_LIMIT, 16384));
});

describe("flows from the firewall policy", () => {
  it("turns the seed's forward rules into the load balancer's entry: TCP/80 and ICMP echo from anywhere", () => {
    const flows = entryFlows(scenarioPolicy(), {});
    assert.deepEqual(
      flows.map((f) => [f.to, f.protocol, f.ports, "cidr" in f.from && f.from.cidr]),
      [
        ["lb", "icmp-echo", undefined, WORLD],
        ["lb", "tcp", [80, 80], WORLD],
      ],
    );
  });

  it("maps the management host's SSH rule to the mgmt tier, from the admin CIDR only", () => {
    const policy = scenarioPolicy({ management: "10.1.3.20", adminCidr: "203.0.113.0/24" });
    const flows = entryFlows(policy, { managementAddress: "10.1.3.20" });
    assert.deepEqual(flows[2], {
      description: "ssh to the management host",
      protocol: "tcp",
      ports: [22, 22],
      to: "mgmt",
      from: { cidr: "203.0.113.0/24" },
    });
  });

  it("refuses a forward rule no cloud entry point serves", () => {
    const policy = scenarioPolicy({ monitoring: "10.1.3.15" });
    assert.throws(() => entryFlows(policy, {}), /monitoring page: 10\.1\.3\.15 is no entry point/);
  });

  it("lets the database and Gluster be reached only from tiers, never from a CIDR", () => {
    for (const f of internalFlows({ ...FLOW_OPTS, hasManagement: true })) assert.ok("tier" in f.from, f.description);
    const db = internalFlows(FLOW_OPTS).filter((f) => f.to === "db");
    assert.deepEqual(
      db.map((f) => f.from),
      [{ tier: "app" }],
    );
    const nas = internalFlows(FLOW_OPTS).filter((f) => f.to === "nas");
    assert.deepEqual([...new Set(nas.map((f) => ("tier" in f.from ? f.from.tier : "cidr")))], ["app", "nas"]);
  });

  it("opens to the world only TCP/80 and ICMP echo, on the load balancer", () => {
    const open = scenarioFlows(scenarioPolicy(), FLOW_OPTS).filter(isWorldOpen);
    assert.deepEqual(open.map((f) => `${f.to} ${f.protocol} ${f.ports?.[0] ?? ""}`).sort(), ["lb icmp-echo ", "lb tcp 80"]);
  });
});

describe("aws security-group rules and network ACL", () => {
  const flows = scenarioFlows(scenarioPolicy(), FLOW_OPTS);
  const rules = securityGroupRules(flows, ["lb", "app", "db", "nas"], ["app", "db", "nas"]);

  it("chains lb → app → db and nas by group references", () => {
    const ingress = (tier: string) => rules.filter((r) => r.direction === "ingress" && r.tier === tier);
    assert.deepEqual(
      ingress("app").map((r) => [r.peer, r.fromPort]),
      [[{ tier: "lb" }, 3000]],
    );
    assert.deepEqual(
      ingress("db").map((r) => [r.peer, r.fromPort]),
      [[{ tier: "app" }, 5432]],
    );
    assert.ok(ingress("nas").every((r) => "tier" in r.peer && (r.peer.tier === "app" || r.peer.tier === "nas")));
  });

  it("mirrors each tier-to-tier flow with an egress rule on the source, and lets hosts out on 80/443 only", () => {
    const egress = rules.filter((r) => r.direction === "egress");
    assert.ok(egress.some((r) => r.tier === "lb" && "tier" in r.peer && r.peer.tier === "app" && r.fromPort === 3000));
    const world = egress.filter((r) => "cidr" in r.peer);
    assert.deepEqual([...new Set(world.map((r) => r.fromPort))].sort(), [443, 80]);
    assert.ok(!world.some((r) => r.tier === "lb"), "the ALB needs no internet egress");
  });

  it("uses ICMP type 8 (echo request) for the ping rule", () => {
    const ping = rules.find((r) => r.ipProtocol === "icmp");
    assert.deepEqual([ping?.fromPort, ping?.toPort, ping?.tier], [8, -1, "lb"]);
  });

  it("builds the public ACL from the entry rules, plus VPC traffic and ephemeral replies only", () => {
    const entries = publicNaclIngress(entryFlows(scenarioPolicy(), {}));
    const world = entries.filter((e) => e.cidrBlock === WORLD);
    assert.deepEqual(
      world.map((e) => [e.protocol, e.fromPort, e.toPort, e.icmpType]),
      [
        ["1", 0, 0, 8],
        ["6", 80, 80, undefined],
        ["6", EPHEMERAL[0], EPHEMERAL[1], undefined],
      ],
    );
    assert.equal(new Set(entries.map((e) => e.ruleNo)).size, entries.length, "rule numbers are unique");
  });
});

describe("openstack rules", () => {
  const rules = securityGroupRules(scenarioFlows(scenarioPolicy(), FLOW_OPTS), ["lb", "app", "db", "nas"], []);
  it("puts the ICMP type in port_range_min and leaves the code open", () => {
    assert.deepEqual(neutronRule(rules.find((r) => r.ipProtocol === "icmp")!), { direction: "ingress", protocol: "icmp", portRangeMin: 8 });
  });
  it("with Octavia, admits the app port from the member subnet instead of the lb group", () => {
    const app = octaviaPeers(rules, "10.1.3.0/24").filter((r) => r.tier === "app" && r.direction === "ingress");
    assert.deepEqual(
      app.map((r) => r.peer),
      [{ cidr: "10.1.3.0/24" }],
    );
  });
  it("chooses Octavia's algorithm", () => {
    assert.equal(octaviaMethod("roundrobin"), "ROUND_ROBIN");
    assert.equal(octaviaMethod("leastconn"), "LEAST_CONNECTIONS");
  });
});

describe("cloud address layout", () => {
  it("splits each LAN's /24 into three /26 subnets, one per zone (aws)", () => {
    assert.deepEqual(
      [0, 1, 2].map((z) => subnetCidr("app", z)),
      ["10.1.3.0/26", "10.1.3.64/26", "10.1.3.128/26"],
    );
    assert.equal(subnetCidr("public", 0), "10.1.2.0/26");
    assert.throws(() => subnetCidr("data", 3), /zone 3/);
    assert.throws(() => threeZones(["a", "b"], "xx-test-1"), /crm:awsRegion: xx-test-1 has 2 available zones/);
  });
  it("keeps the plan's addresses out of DHCP and the router at .254 (openstack)", () => {
    assert.deepEqual(subnetLayout("lan2"), {
      cidr: "10.1.2.0/24",
      gatewayIp: "10.1.2.254",
      pool: { start: "10.1.2.100", end: "10.1.2.250" },
    });
    const hosts = planScenario({
      servers: maxServers({ monitoring: false, management: true }),
      monitoring: false,
      management: true,
      dbStandby: true,
    });
    const octets = hosts.flatMap((h) => h.nics.map((n) => Number(n.address.split(".")[3])));
    assert.ok(
      octets.every((o) => o < 100),
      `plan octets ${octets.join(",")} must stay below the DHCP pool`,
    );
  });
});

describe("cloud settings", () => {
  const common = { adminCidr: "203.0.113.0/24", appBundleUrl: "https://x.example/crm.tgz" };

  it("names every missing required aws key", () => {
    assert.throws(
      () => parseAwsSettings({}),
      (e: Error) =>
        ["crm:adminCidr: is required", "crm:appBundleUrl: is required", "crm:awsRegion: is required", "crm:awsKeyName: is required"].every(
          (m) => e.message.includes(m),
        ),
    );
  });

  it("names every missing required openstack key", () => {
    assert.throws(
      () => parseOpenStackSettings(common),
      (e: Error) =>
        ["crm:osImage: is required", "crm:osFlavor: is required", "crm:osExternalNetwork: is required", "crm:osKeyPair: is required"].every(
          (m) => e.message.includes(m),
        ),
    );
  });

  it("explains malformed values with the key", () => {
    assert.throws(() => parseAwsSettings({ ...common, awsRegion: "Ireland", awsKeyName: "k" }), /crm:awsRegion: must be an AWS region/);
    assert.throws(
      () => parseAwsSettings({ ...common, adminCidr: "10.0.0.0/99", awsRegion: "eu-west-1", awsKeyName: "k" }),
      /crm:adminCidr: must be an IPv4 CIDR/,
    );
    assert.throws(
      () => parseAwsSettings({ ...common, awsRegion: "eu-west-1", awsKeyName: "k", awsDatabase: "aurora" }),
      /crm:awsDatabase: must be one of ec2, rds/,
    );
  });

  it("defaults the optional aws keys", () => {
    const s = parseAwsSettings({ ...common, awsRegion: "eu-west-1", awsKeyName: "k" });
    assert.deepEqual([s.awsInstanceType, s.awsDatabase, s.awsNatPerZone, s.awsVolumeSize], ["t3.small", "ec2", false, 20]);
    assert.equal(
      parseOpenStackSettings({ ...common, osImage: "i", osFlavor: "f", osExternalNetwork: "n", osKeyPair: "k" }).osOctavia,
      true,
    );
  });

  it("refuses a standby on EC2 (RDS Multi-AZ is the standby) and the monitoring host", () => {
    const settings = parseSettings({ target: "aws", dbStandby: "true" });
    assert.match(awsSettingsProblem(settings, { awsDatabase: "ec2" }) ?? "", /^crm:dbStandby: .*crm:awsDatabase to rds/);
    assert.equal(awsSettingsProblem(settings, { awsDatabase: "rds" }), undefined);
    assert.match(
      awsSettingsProblem(parseSettings({ target: "aws", monitoring: "true" }), { awsDatabase: "ec2" }) ?? "",
      /^crm:monitoring: /,
    );
    assert.equal(rdsInstanceClass("t3.small"), "db.t3.small");
  });
});
