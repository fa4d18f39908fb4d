/**
 * The docker stack as index.ts builds it, under pulumi.runtime.setMocks, one process per scenario
 * (test/support/vnxMockRun.ts): resource types and counts, networks and addresses, the same role
 * scripts as vnx (with the moved addresses), secrets, ordering; and beside the vnx stack, no name,
 * network or address in common.
 */
import assert from "node:assert/strict";
import { scenarioPolicy } from "../../components/Firewall";
import { balancerRoleScript, STATS_PORT } from "../../roles/balancer";
import { firewallRoleScript } from "../../roles/firewall";
import { nasRoleScript } from "../../roles/nas";
import { roleScript } from "../../roles/script";
import { movePolicy } from "../../targets/docker/addresses";
import { MOCK_CERTIFICATE, MOCK_KEY } from "../support/mockCertificates";
import { registeredBy } from "../support/mockGraph";
import { VALID_SECRETS } from "../support/pulumi";
import { reveal } from "../support/dockerReplay";
import type { Registered } from "../support/vnxMockRun";

const DOCKER = { "crm:target": "docker", ...VALID_SECRETS };
const CONTAINER = "docker:index/container:Container";
const COMMAND = "command:local:Command";

function counts(resources: readonly Registered[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const r of resources) c[r.type] = (c[r.type] ?? 0) + 1;
  return c;
}

/** The exact resource set with n app servers: fw, lb, nas1..3, bbdd, c1, c2 and the servers. */
function expected(n: number): Record<string, number> {
  return {
    "crm:app:CrmTier": 1,
    "crm:db:PgServer": 1,
    "crm:docker:Substrate": 1,
    "crm:net:Firewall": 1,
    "crm:net:LoadBalancer": 1,
    "crm:storage:GlusterCluster": 1,
    // The stack's CA (index.ts makes it for every target); the docker balancer does not serve HTTPS yet.
    "crm:tls:CertificateAuthority": 1,
    "pulumi-nodejs:dynamic/crm-certificate:Resource": 1,
    "pulumi:providers:docker": 1,
    "docker:index/network:Network": 4,
    "docker:index/image:Image": 1,
    // A volume of their own for the three bricks and the database's files.
    "docker:index/volume:Volume": 4,
    [CONTAINER]: n + 8,
    // boot and role for every host; the app copy for each server; bundle, the Gluster volume, the published port,
    // the contract migrations.
    [COMMAND]: 2 * (n + 8) + n + 4,
  };
}

const sorted = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
const inputs = (r: Registered) => reveal(r.inputs) as Record<string, unknown>;
const hasSecret = (value: unknown) => JSON.stringify(value).includes("4dabf18193072939515e22adb298388d");

describe("docker stack under mocks", function () {
  this.timeout(180_000);
  let three: Registered[];
  let four: Registered[];
  let vnx: Registered[];
  const named = (rs: readonly Registered[], name: string) => {
    const found = rs.find((r) => r.name === name);
    assert.ok(found, `no resource ${name}`);
    return found;
  };
  const containers = (rs: readonly Registered[]) => rs.filter((r) => r.type === CONTAINER).map(inputs);

  before(() => {
    three = registeredBy(DOCKER);
    four = registeredBy({ ...DOCKER, "crm:servers": "4" });
    vnx = registeredBy({ "crm:target": "vnx", ...VALID_SECRETS });
  });

  it("registers exactly the expected resources at 3 and 4 servers", () => {
    assert.deepEqual(sorted(counts(three)), sorted(expected(3)));
    assert.deepEqual(sorted(counts(four)), sorted(expected(4)));
  });

  it("makes the four LANs bridge networks of the moved plan, the machine on the outside one only, no masquerading", () => {
    const networks = three.filter((r) => r.type === "docker:index/network:Network").map(inputs);
    assert.deepEqual(
      networks.map((n) => [n.name, n.ipamConfigs]),
      [1, 2, 3, 4].map((i) => [`crmd-lan${i}`, [{ subnet: `10.2.${i}.0/24`, gateway: `10.2.${i}.254` }]]),
    );
    for (const n of networks) {
      const options = n.options as Record<string, string>;
      assert.equal(options["com.docker.network.bridge.enable_ip_masquerade"], "false");
      assert.equal(options["com.docker.network.bridge.inhibit_ipv4"], n.name === "crmd-lan1" ? undefined : "true", String(n.name));
    }
  });

  it("gives every host its container with the plan's addresses (moved to 10.2/16), systemd as PID 1, never privileged", () => {
    const byName: Record<string, Record<string, unknown>> = Object.fromEntries(containers(three).map((c) => [String(c.name), c]));
    const nics = (name: string) =>
      (byName[name].networksAdvanced as { name: string; ipv4Address: string }[]).map((n) => `${n.name}=${n.ipv4Address}`);
    assert.deepEqual(nics("crmd-fw"), ["crmd-lan1=10.2.1.1", "crmd-lan2=10.2.2.1"]);
    assert.deepEqual(nics("crmd-lb"), ["crmd-lan2=10.2.2.2", "crmd-lan3=10.2.3.1"]);
    assert.deepEqual(nics("crmd-s2"), ["crmd-lan3=10.2.3.12", "crmd-lan4=10.2.4.12"]);
    assert.deepEqual(nics("crmd-nas3"), ["crmd-lan4=10.2.4.23"]);
    assert.deepEqual(nics("crmd-bbdd"), ["crmd-lan4=10.2.4.31"]);
    assert.deepEqual(nics("crmd-c1"), ["crmd-lan1=10.2.1.11"]);
    for (const c of Object.values(byName)) {
      // Not networkMode: the provider would join that network twice. The engine takes the lowest-named network as primary.
      const lans = (c.networksAdvanced as { name: string }[]).map((n) => n.name);
      assert.equal(c.networkMode, undefined, String(c.name));
      assert.deepEqual(lans, [...lans].sort(), `${String(c.name)}: its first LAN sorts first`);
      assert.deepEqual(c.command, ["/sbin/init"]);
      assert.equal(c.privileged, undefined);
      assert.equal(c.image, inputs(named(three, "docker-image")).imageName);
    }
    // Only the firewall publishes a port on the machine, and only on loopback.
    assert.deepEqual(
      Object.values(byName).flatMap((c) => (c.ports as unknown[]).map((p) => [c.name, p])),
      [["crmd-fw", { internal: 80, external: 8080, ip: "127.0.0.1", protocol: "tcp" }]],
    );
    const fuse = Object.values(byName)
      .filter((c) => (c.devices as unknown[]).length > 0)
      .map((c) => c.name);
    assert.deepEqual(fuse.sort(), ["crmd-s1", "crmd-s2", "crmd-s3"], "the app servers mount the Gluster volume over FUSE");
    assert.deepEqual(byName["crmd-nas1"].volumes, [{ volumeName: "crmd-nas1-data", containerPath: "/nas" }]);
  });

  it("builds the hosts' image from the configured base, and every container waits for the networks", () => {
    const image = inputs(named(three, "docker-image"));
    assert.deepEqual((image.build as { args: Record<string, string> }).args.BASE, "debian:trixie");
    assert.equal(image.skipPush, true);
    const other = registeredBy({ ...DOCKER, "crm:dockerBaseImage": "registry.example/debian:13" });
    assert.equal((inputs(named(other, "docker-image")).build as { args: Record<string, string> }).args.BASE, "registry.example/debian:13");
    assert.notEqual(inputs(named(other, "docker-image")).imageName, image.imageName, "a new base builds a new image");
    const networkUrns = three.filter((r) => r.type === "docker:index/network:Network").map((r) => r.urn);
    for (const c of three.filter((r) => r.type === CONTAINER)) for (const u of networkUrns) assert.ok(c.dependencies.includes(u), c.name);
  });

  it("configures each host with the same role script as vnx, moved to the docker plan, through docker exec", () => {
    const role = (name: string) => inputs(named(three, name));
    assert.equal(role("nas-nas2-role").create, "docker exec -i crmd-nas2 bash -s");
    assert.equal(role("nas-nas2-role").stdin, nasRoleScript({ brick: "/nas" }));
    assert.equal(role("fw-role").stdin, firewallRoleScript(movePolicy(scenarioPolicy({ adminCidr: "10.1.1.0/24" }), "10.2.0.0/16")));
    assert.equal(role("docker-c1-role").stdin, roleScript("client"));
    const haproxy = {
      bind: "10.2.2.2:80",
      backends: [1, 2, 3].map((i) => ({ name: `s${i}`, address: `10.2.3.1${i}`, port: 3000 })),
      algorithm: "roundrobin",
      healthPath: "/healthz",
      statsBind: `10.2.3.1:${STATS_PORT}`,
    } as const;
    assert.equal(role("lb-role").stdin, balancerRoleScript(haproxy));
    // The vnx stack's scripts, for comparison: identical but for the addresses, and HTTPS on vnx's balancer.
    const vnxNas = inputs(named(vnx, "nas-nas2-role")).stdin;
    assert.equal(vnxNas, role("nas-nas2-role").stdin);
    const certificate = { certificatePem: MOCK_CERTIFICATE("lb-certificate"), privateKeyPem: MOCK_KEY("lb-certificate") };
    assert.equal(
      String(inputs(named(vnx, "lb-role")).stdin).replaceAll("10.1.", "10.2."),
      balancerRoleScript({ ...haproxy, tls: { bind: "10.2.2.2:443" } }, undefined, certificate),
    );
  });

  it("keeps secrets secret: the database's and the app servers' role scripts are secret inputs, nothing else holds one", () => {
    for (const name of ["bbdd-role", "crm-s1-role", "crm-s2-role", "crm-s3-role"])
      assert.ok(hasSecret(named(three, name).inputs.stdin), name);
    const values = Object.values(VALID_SECRETS);
    for (const r of three) {
      for (const [key, value] of Object.entries(r.inputs)) {
        if (hasSecret(value)) continue;
        assert.ok(!values.some((s) => JSON.stringify(value).includes(s)), `${r.name}.${key} holds a secret in clear`);
      }
    }
  });

  it("orders each host: container, then boot (routes), then its role; the balancer after every app server", () => {
    const urn = (name: string) => named(three, name).urn;
    assert.ok(named(three, "crm-s1-boot").dependencies.includes(urn("crm-s1-container")));
    assert.ok(named(three, "crm-s1-app").dependencies.includes(urn("crm-s1-boot")));
    assert.ok(named(three, "crm-s1-role").dependencies.includes(urn("crm-s1-app")));
    assert.ok(named(three, "nas-volume").dependencies.includes(urn("nas-nas3-role")));
    assert.ok(named(three, "fw-publish").dependencies.includes(urn("fw-role")));
    assert.equal(inputs(named(three, "crm-s1-boot")).create, "'targets/docker/scripts/boot.sh' crmd-s1 --route 10.2.0.0/16=10.2.3.1");
    const lb = named(three, "lb-role").dependencies;
    for (const s of ["crm-s1-role", "crm-s2-role", "crm-s3-role"]) assert.ok(lb.includes(urn(s)), `lb after ${s}`);
  });

  it("runs the CRM's contract migrations once, on the last server, after every server took the release", () => {
    for (const [rs, last] of [
      [three, "s3"],
      [four, "s4"],
    ] as const) {
      const contract = named(rs, "crm-contract");
      assert.equal(inputs(contract).create, `docker exec crmd-${last} /usr/local/sbin/crm-contract`);
      const servers = rs.filter((r) => /^crm-s\d+-role$/.test(r.name)).map((r) => r.urn);
      assert.equal(servers.length, rs === three ? 3 : 4);
      for (const server of servers) assert.ok(contract.dependencies.includes(server), `contract after ${server}`);
      // A new release (a new bundle) runs it again; nothing else does.
      assert.deepEqual(inputs(contract).triggers, inputs(named(rs, "crm-bundle")).triggers);
    }
  });

  it("shares no container, network, bridge or address with the vnx stack: both can be up at once", () => {
    const vnxContainers = vnx
      .filter((r) => r.name.endsWith("-container"))
      .map((r) => String(inputs(r).create).split(" ")[2].replace(/'/g, ""));
    const dockerNames = containers(three).map((c) => String(c.name));
    assert.equal(vnxContainers.length, 11);
    assert.deepEqual(
      dockerNames.filter((n) => vnxContainers.includes(n)),
      [],
    );
    assert.ok(dockerNames.every((n) => n.startsWith("crmd-")) && vnxContainers.every((n) => n.startsWith("crm-")));
    const dockerAddresses = containers(three).flatMap((c) => (c.networksAdvanced as { ipv4Address: string }[]).map((n) => n.ipv4Address));
    assert.ok(
      dockerAddresses.every((a) => a.startsWith("10.2.")),
      "every docker address is in 10.2.0.0/16, vnx's are in 10.1.0.0/16",
    );
    const vnxBridges = String(inputs(named(vnx, "vnx-network")).create);
    assert.match(vnxBridges, /network\.sh/);
    assert.ok(three.filter((r) => r.type === "docker:index/network:Network").every((n) => String(inputs(n).name).startsWith("crmd-lan")));
  });

  it("realizes the optional monitoring and management hosts on the moved plan, let through only from crm:adminCidr", () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx4gM1ZbXb0d7gqJxkHk3p0V7b2mJx1v9l1Qf7vN8kR test";
    const all = registeredBy({
      ...DOCKER,
      "crm:monitoring": "true",
      "crm:management": "true",
      "crm:managementKeys": JSON.stringify([key]),
    });
    const nics = (name: string) =>
      (containers(all).find((c) => c.name === name)?.networksAdvanced as { ipv4Address: string }[]).map((n) => n.ipv4Address);
    assert.deepEqual(nics("crmd-nagios"), ["10.2.3.15", "10.2.4.15"]);
    assert.deepEqual(nics("crmd-ges"), ["10.2.3.20", "10.2.4.20"]);
    const rules = String(inputs(named(all, "fw-role")).stdin);
    assert.match(rules, /ip saddr 10\.2\.1\.0\/24 ip daddr 10\.2\.3\.15 tcp dport 80 ct state new accept/);
    assert.match(rules, /ip saddr 10\.2\.1\.0\/24 ip daddr 10\.2\.3\.20 tcp dport 22 ct state new accept/);
    assert.ok(hasSecret(named(all, "nagios-role").inputs.stdin), "the Nagios role holds the admin password");
    assert.match(String(inputs(named(all, "ges-role")).stdin), /ssh-ed25519/);
  });

  it("balances with leastconn when asked, with the same balancer role", () => {
    const leastconn = registeredBy({ ...DOCKER, "crm:balance": "leastconn" });
    assert.match(String(inputs(named(leastconn, "lb-role")).stdin), /balance leastconn/);
  });

  it("refuses the database standby with a message naming crm:dbStandby", () => {
    assert.throws(
      () => registeredBy({ ...DOCKER, "crm:dbStandby": "true" }),
      /crm:dbStandby: the docker target does not realize the standby yet/,
    );
  });

  it("refuses an address plan that overlaps the vnx stack's, naming the key", () => {
    assert.throws(
      () => registeredBy({ ...DOCKER, "crm:dockerCidr": "10.1.0.0/16" }),
      /crm:dockerCidr: must not be 10\.1\.0\.0\/16, the vnx stack's range/,
    );
  });
});
