/**
 * The vnx platform's resource graph under mocks: names, parents, dependencies, replacement
 * options and aliases, checked in seconds for every change, before the slow end-to-end run.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { CERTIFICATE_PATH, certificateFile } from "../../roles/balancer";
import { TRUSTED_CA_PATH } from "../../roles/client";
import { NAGIOS_CONF } from "../../roles/monitor";
import { FIREWALL_INSIDE, FRONT_MEMBERS, SERVICE_ADDRESS } from "../../topology/plan";
import { made } from "../support/certificates";
import { registeredBy, runUnderMocks, scriptOf, writtenBy } from "../support/mockGraph";
import { objects, servicesOf } from "../support/nagios";
import type { Registered } from "../support/vnxMockRun";
import { VALID_SECRETS } from "../support/pulumi";

const ALL_PARTS = {
  "crm:target": "vnx",
  "crm:monitoring": "true",
  "crm:management": "true",
  "crm:dbStandby": "true",
  "crm:managementKeys": JSON.stringify(["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx4gM1ZbXb0d7gqJxkHk3p0V7b2mJx1v9l1Qf7vN8kR test"]),
  ...VALID_SECRETS,
};

/** The URN an alias spec stands for (same type, the alias's name and parent). */
function aliasUrn(r: Registered, alias: Registered["aliases"][number]): string {
  const prefix = "urn:pulumi:vnx::crm::";
  const parentUrn = alias.noParent ? undefined : (alias.parentUrn ?? r.parent);
  const chain = parentUrn ? `${parentUrn.slice(prefix.length, parentUrn.lastIndexOf("::"))}$` : "";
  return `${prefix}${chain}${r.type}::${alias.name ?? r.name}`;
}

describe("vnx platform under mocks: the resource tree", function () {
  this.timeout(120_000);
  let resources: Registered[];
  const byName = (name: string) => {
    const found = resources.find((r) => r.name === name);
    assert.ok(found, `no resource named ${name}: ${resources.map((r) => r.name).join(", ")}`);
    return found;
  };
  const isComponent = (r: Registered) => r.type.startsWith("crm:");

  before(() => {
    resources = registeredBy(ALL_PARTS);
  });

  it("gives every resource a component as parent, and names it from that component", () => {
    const components = new Map(resources.filter(isComponent).map((c) => [c.urn, c]));
    for (const r of resources.filter((x) => !isComponent(x))) {
      const parent = components.get(r.parent);
      assert.ok(parent, `${r.name} has no component parent (parent: '${r.parent || "the stack"}')`);
      assert.ok(r.name.startsWith(`${parent.name}-`), `${r.name} is not named from its component ${parent.name}`);
    }
  });

  it("replaces whatever has a fixed physical name (containers, bridges, the image) delete-before-create", () => {
    const fixed = resources.filter((r) => /-container$|^vnx-network$|^vnx-image$/.test(r.name));
    assert.equal(fixed.length, 16, fixed.map((r) => r.name).join(", "));
    assert.deepEqual(
      fixed.filter((r) => !r.deleteBeforeReplace).map((r) => r.name),
      [],
    );
  });

  it("orders each host: network and image, then its container, then the app copy, then its role", () => {
    const network = byName("vnx-network").urn;
    const image = byName("vnx-image").urn;
    for (const container of resources.filter((r) => r.name.endsWith("-container"))) {
      assert.ok(container.dependencies.includes(network) && container.dependencies.includes(image), container.name);
      const role = byName(container.name.replace(/-container$/, "-role"));
      assert.ok(role.dependencies.includes(container.urn), `${role.name} does not wait for ${container.name}`);
    }
    assert.ok(byName("crm-s1-role").dependencies.includes(byName("crm-s1-provision").urn));
    assert.ok(byName("crm-s1-provision").dependencies.includes(byName("crm-bundle").urn));
  });

  it("rolls the app servers one after the other, and configures the balancer once they are all done", () => {
    assert.ok(byName("crm-s2-provision").dependencies.includes(byName("crm-s1-role").urn));
    assert.ok(byName("crm-s3-provision").dependencies.includes(byName("crm-s2-role").urn));
    const lbRole = byName("lb-role");
    for (const s of ["crm-s1-role", "crm-s2-role", "crm-s3-role"]) assert.ok(lbRole.dependencies.includes(byName(s).urn), s);
    // The database and the volume exist before any app server starts.
    for (const dep of ["bbdd-role", "bbdd-bbdd2-role", "nas-volume"])
      assert.ok(byName("crm-s1-role").dependencies.includes(byName(dep).urn), dep);
  });

  it("runs the CRM's contract migrations once per release, on the last server, after every server's release", () => {
    const contract = byName("crm-contract");
    assert.equal(contract.parent, byName("crm").urn);
    // Depending on the last server's role is what keeps it after the whole chain (each server waits for the one before).
    for (const s of ["crm-s1-role", "crm-s2-role", "crm-s3-role"]) assert.ok(contract.dependencies.includes(byName(s).urn), s);
    assert.ok(byName("crm-s3-role").dependencies.includes(byName("crm-s3-provision").urn));
    assert.equal(contract.inputs.create, "lxc-attach -n crm-s3 --clear-env -- /usr/local/sbin/crm-contract");
    // Each release once: the bundle's release is its trigger, as it is the release step's.
    assert.deepEqual(contract.inputs.triggers, [(byName("crm-s3-provision").inputs.triggers as unknown[]).at(-1)]);
    assert.equal(contract.inputs.rerunOnChange, true);
  });

  it("keeps every URN of a stack deployed before this tree (0730fa9) reachable, by its URN or an alias", () => {
    const before = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures/vnx-urns-0730fa9.json"), "utf8")) as string[];
    const reachable = new Set(resources.flatMap((r) => [r.urn, ...r.aliases.map((a) => aliasUrn(r, a))]));
    assert.deepEqual(
      before.filter((urn) => !reachable.has(urn)),
      [],
    );
  });

  it("makes every container, bridge, image and role visible to refresh (a probe), and records the owner", () => {
    // Certificates live in the state only (nothing on the machine to probe): local commands are what refresh reads.
    const local = resources.filter((r) => r.type.includes("crm-local-command") && !/-provision$|-bundle$|-volume$|-contract$/.test(r.name));
    assert.deepEqual(
      local.filter((r) => typeof r.inputs.probe !== "string").map((r) => r.name),
      [],
    );
    for (const r of local.filter((x) => /-container$|^vnx-network$/.test(x.name))) assert.equal(r.inputs.owner, "crm/vnx", r.name);
  });

  it("crm:dbStandby: Patroni's packages on the pair only, etcd's third member on nas1, backups on the storage hosts, the app through its local proxy", () => {
    for (const node of ["bbdd", "bbdd-bbdd2"])
      assert.match(
        String(byName(`${node}-provision`).inputs.create),
        /packages\.sh' crm-bbdd2? crm-base-\w+ patroni python3-etcd etcd-server etcd-client pgbackrest nagios-nrpe-server$/,
      );
    // Nagios asks the pair for its backups' age through NRPE: its client on the Nagios host only.
    assert.match(String(byName("nagios-provision").inputs.create), /packages\.sh' crm-nagios crm-base-\w+ nagios-nrpe-plugin$/);
    assert.match(
      String(byName("bbdd-nas1-role").inputs.create),
      /packages\.sh' crm-nas1 crm-base-\w+ etcd-server <\/dev\/null && lxc-attach -n crm-nas1 /,
    );
    assert.match(
      String(byName("bbdd-backup-volume").inputs.stdin),
      /gluster volume create .*pgbackrest.* replica 3 10\.1\.4\.21:\/pgbackrest /,
    );
    // The storage hosts first (the witness and the repository live there), then the pair, then the app.
    for (const node of ["bbdd-role", "bbdd-bbdd2-role"]) {
      for (const dep of ["nas-volume", "bbdd-nas1-role", "bbdd-backup-volume"])
        assert.ok(byName(node).dependencies.includes(byName(dep).urn), `${node} does not wait for ${dep}`);
    }
    // The single server is backed up the same way: pgBackRest (and NRPE for Nagios) on bbdd, the
    // repository volume for bbdd alone; no etcd witness.
    const single = registeredBy({ ...ALL_PARTS, "crm:dbStandby": "false" });
    const inSingle = (name: string) => single.find((r) => r.name === name);
    assert.equal(inSingle("bbdd-nas1-role"), undefined);
    assert.match(String(inSingle("bbdd-provision")?.inputs.create), /packages\.sh' crm-bbdd crm-base-\w+ pgbackrest nagios-nrpe-server$/);
    assert.match(String(inSingle("bbdd-backup-volume")?.inputs.stdin), /auth\.allow '10\.1\.4\.21,10\.1\.4\.22,10\.1\.4\.23,10\.1\.4\.31'/);
    assert.ok(
      inSingle("bbdd-role")?.dependencies.includes(inSingle("bbdd-backup-volume")!.urn),
      "bbdd-role does not wait for its repository",
    );
  });

  it("crm:frontHa adds fw2 and lb2 under their components, conntrackd on the firewalls only, drains both balancers on a rollout, and Nagios watches both members", () => {
    const paired = registeredBy({ ...ALL_PARTS, "crm:frontHa": "true" });
    const named = (name: string) => paired.find((r) => r.name === name);
    for (const name of ["fw-fw2-container", "fw-fw2-role", "lb-lb2-container", "lb-lb2-role"]) assert.ok(named(name), name);
    for (const fw of ["fw", "fw-fw2"])
      assert.match(String(named(`${fw}-provision`)?.inputs.create), /packages\.sh' crm-fw2? crm-base-\w+ conntrackd$/);
    assert.equal(named("lb-provision"), undefined);
    // The preferred member first: its keepalived takes the addresses before the other's starts.
    assert.ok(named("lb-lb2-role")?.dependencies.includes(named("lb-role")!.urn));
    assert.ok(named("fw-fw2-role")?.dependencies.includes(named("fw-role")!.urn));
    assert.match(String(named("crm-s1-provision")?.inputs.create), /--balancer crm-lb --balancer crm-lb2 --backend crm_app\/s1/);
    // Without it, nothing of the pairs: the seed's scenario, its firewall without a provisioning step.
    assert.equal(
      resources.find((r) => /fw2|lb2|fw-provision/.test(r.name)),
      undefined,
    );

    // Nagios (on: ALL_PARTS) watches both members of each pair at their own addresses, HAProxy on
    // both balancers, and the shared addresses by ping: the objects the monitor host is given.
    const nagiosHosts = (rs: Registered[]) => {
      const cfg = writtenBy(scriptOf(rs.find((r) => r.name === "nagios-role")!), NAGIOS_CONF);
      return { cfg, front: objects(cfg, "host").filter((h) => /^crm-(firewall|balancer)$/.test(h.hostgroups ?? "")) };
    };
    const { cfg, front } = nagiosHosts(paired);
    assert.deepEqual(
      front.map((h) => [h.host_name, h.address]),
      [
        ["fw", FRONT_MEMBERS.fw.lan2],
        ["fw2", FRONT_MEMBERS.fw2.lan2],
        ["lb", FRONT_MEMBERS.lb.lan3],
        ["lb2", FRONT_MEMBERS.lb2.lan3],
        ["fw-vip", FIREWALL_INSIDE],
        ["lb-vip", SERVICE_ADDRESS],
      ],
    );
    for (const lb of ["lb", "lb2"]) assert.match(servicesOf(cfg, lb).get("HAProxy stats") ?? "", /^crm-check-http!\d+!\/$/, lb);
    for (const h of ["fw", "fw2", "fw-vip", "lb-vip"]) assert.deepEqual([...servicesOf(cfg, h).keys()], ["PING"], h);
    assert.deepEqual(
      nagiosHosts(resources).front.map((h) => h.host_name),
      ["fw", "lb"],
    );
  });

  it("a valid certificate of the user's own (crm:tlsCertificate, crm:tlsKey): no CA is made, the balancer serves it, and caCertificate is its chain's root", async () => {
    // A chain as a user brings one: the service's certificate, then the CA that issued it.
    const userCa = await made({ commonName: "a user's own CA", isCa: true, validityDays: 30 });
    const leaf = await made({ commonName: "crm.example", isCa: false, ipAddresses: [SERVICE_ADDRESS], validityDays: 20 }, userCa);
    const chain = leaf.certificatePem + userCa.certificatePem;
    const own = runUnderMocks({ ...ALL_PARTS, "crm:tlsCertificate": chain, "crm:tlsKey": leaf.privateKeyPem });
    const named = (name: string) => own.resources.find((r) => r.name === name)!;
    assert.deepEqual(
      own.resources.filter((r) => r.type.includes("crm-certificate")).map((r) => r.name),
      [],
    );
    assert.equal(
      writtenBy(scriptOf(named("lb-role")), CERTIFICATE_PATH),
      certificateFile({ certificatePem: chain, privateKeyPem: leaf.privateKeyPem }),
    );
    assert.equal(own.outputs.caCertificate, userCa.certificatePem);
    // The scenario's clients trust that root, as they trust the stack's own CA without one.
    assert.equal(writtenBy(scriptOf(named("vnx-c1-role")), TRUSTED_CA_PATH), userCa.certificatePem);
  });

  it("scaling to 4 servers adds s4's resources and changes no other host's container", () => {
    const scaled = registeredBy({ ...ALL_PARTS, "crm:monitoring": "false", "crm:servers": "4" });
    const base = registeredBy({ ...ALL_PARTS, "crm:monitoring": "false" });
    const containers = (rs: Registered[]) => new Map(rs.filter((r) => r.name.endsWith("-container")).map((r) => [r.name, r.inputs.create]));
    const [after, now] = [containers(scaled), containers(base)];
    assert.deepEqual(
      [...after.keys()].filter((n) => !now.has(n)),
      ["crm-s4-container"],
    );
    for (const [name, create] of now) assert.equal(after.get(name), create, `${name} would be replaced`);
  });
});
