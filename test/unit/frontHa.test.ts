/**
 * crm:frontHa without containers: the plan's pairs, the settings, and the renderers of the
 * front pairs (keepalived.conf, conntrackd.conf, the firewall's additions), checked by the real
 * keepalived and nft where the machine has them.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { scenarioPolicy } from "../../components/Firewall";
import { HAPROXY_ALIVE } from "../../roles/balancer";
import { FAILOVER_SCRIPT, renderConntrackdConf, type ConntrackSyncArgs } from "../../roles/conntrackd";
import { firewallPairRules, renderNftables, type FirewallPairRules } from "../../roles/firewall";
import { renderNagiosObjects } from "../../roles/monitor";
import { renderVrrpPairConf, type VrrpPairArgs } from "../../roles/vrrp";
import { unsupportedOnClouds } from "../../targets/cloud/settings";
import { frontPair, nicName } from "../../targets/vnx";
import { hostsWithRole, maxServers, planScenario, virtualAddresses, type HostPlan } from "../../topology/plan";
import { parseSettings } from "../../topology/settings";
import { hasCommand, run, tempDir } from "../support/shell";

const ha = { servers: 3, monitoring: true, management: true, dbStandby: true, frontHa: true };
const hosts = planScenario(ha);
const host = (name: string): HostPlan => hosts.find((h) => h.name === name)!;

const fwPair = (self: string, peer: string, preferred: boolean): VrrpPairArgs => ({
  ...frontPair("fw", host(self), host(peer), preferred, [
    ["lan1", "10.1.1.1", 11],
    ["lan2", "10.1.2.1", 12],
  ]),
  onMaster: `${FAILOVER_SCRIPT} primary`,
  onBackup: `${FAILOVER_SCRIPT} backup`,
});
const lbPair = (self: string, peer: string, preferred: boolean): VrrpPairArgs => ({
  ...frontPair("lb", host(self), host(peer), preferred, [
    ["lan2", "10.1.2.2", 22],
    ["lan3", "10.1.3.1", 23],
  ]),
  check: HAPROXY_ALIVE,
});
const pairRules: FirewallPairRules = {
  members: ["10.1.1.3", "10.1.2.3", "10.1.1.4", "10.1.2.4"],
  sync: { from: ["10.1.2.3", "10.1.2.4"], port: 3780 },
};
const sync: ConntrackSyncArgs = {
  self: "10.1.2.3",
  peer: "10.1.2.4",
  interface: "eth1",
  port: 3780,
  ignore: [...pairRules.members, "10.1.1.1", "10.1.2.1"],
};

describe("front pairs (crm:frontHa): plan and settings", () => {
  it("adds fw2 and lb2; the members have addresses of their own and the front's addresses are shared", () => {
    const byName = Object.fromEntries(
      hosts.filter((h) => h.role === "firewall" || h.role === "balancer").map((h) => [h.name, h.nics.map((n) => n.address)]),
    );
    assert.deepEqual(byName, {
      fw: ["10.1.1.3", "10.1.2.3"],
      fw2: ["10.1.1.4", "10.1.2.4"],
      lb: ["10.1.2.5", "10.1.3.2"],
      lb2: ["10.1.2.6", "10.1.3.3"],
    });
    // Every route still goes through the shared addresses, so it survives a member.
    assert.deepEqual(host("c1").routes, [{ to: "10.1.0.0/16", via: "10.1.1.1" }]);
    assert.deepEqual(host("s1").routes, [{ to: "10.1.0.0/16", via: "10.1.3.1" }]);
    assert.deepEqual(host("lb2").routes, [{ to: "10.1.1.0/24", via: "10.1.2.1" }]);
    assert.deepEqual(host("fw2").routes, [
      { to: "10.1.3.0/24", via: "10.1.2.2" },
      { to: "10.1.4.0/24", via: "10.1.2.2" },
    ]);
    assert.deepEqual(
      virtualAddresses(ha).map((v) => `${v.name}=${v.address}`),
      ["fw-vip=10.1.2.1", "lb-vip=10.1.2.2"],
    );
    assert.deepEqual(virtualAddresses({ frontHa: false }), []);
  });

  it("gives no two hosts one address, and no host a shared address, at the largest tier", () => {
    const full = planScenario({ ...ha, servers: maxServers(ha) });
    const addresses = full.flatMap((h) => h.nics.map((n) => n.address));
    assert.equal(new Set(addresses).size, addresses.length);
    for (const shared of ["10.1.1.1", "10.1.2.1", "10.1.2.2", "10.1.3.1", "10.1.1.2"]) assert.ok(!addresses.includes(shared), shared);
  });

  it("Nagios watches every member by its own address and the shared addresses like hosts", () => {
    const watched = hosts.filter((h) => h.role === "firewall" || h.role === "balancer");
    const objects = renderNagiosObjects({
      hosts: [...watched.map((h) => ({ name: h.name, role: h.role, address: h.nics[h.nics.length - 1].address })), ...virtualAddresses(ha)],
      appPort: 3000,
      adminPassword: "secret-password",
      listen: "10.1.3.15",
    });
    for (const [name, address, group] of [
      ["fw", "10.1.2.3", "firewall"],
      ["fw2", "10.1.2.4", "firewall"],
      ["lb", "10.1.3.2", "balancer"],
      ["lb2", "10.1.3.3", "balancer"],
      ["fw-vip", "10.1.2.1", "firewall"],
      ["lb-vip", "10.1.2.2", "balancer"],
    ])
      assert.match(
        objects,
        new RegExp(`host_name +${name}\n.*\n +address +${address.replace(/\./g, "\\.")}\n +hostgroups +crm-${group}\n`),
      );
  });

  it("is off by default, read from a string, and named when it is not a boolean", () => {
    assert.equal(parseSettings({ target: "vnx" }).frontHa, false);
    assert.equal(parseSettings({ target: "vnx", frontHa: "true" }).frontHa, true);
    assert.throws(() => parseSettings({ target: "vnx", frontHa: "yes" }), /crm:frontHa: /);
  });

  it("is refused on the clouds, naming crm:frontHa", () => {
    for (const target of ["aws", "openstack"] as const) {
      const problem = unsupportedOnClouds(parseSettings({ target, frontHa: true }), target);
      assert.match(problem ?? "", new RegExp(`^crm:frontHa: ${target} has no firewall or balancer host to double`));
      assert.equal(unsupportedOnClouds(parseSettings({ target }), target), undefined);
    }
  });
});

describe("front pairs: keepalived.conf", () => {
  it("makes both members BACKUP with nopreempt, the preferred one with the higher priority", () => {
    const [fw, fw2] = [renderVrrpPairConf(fwPair("fw", "fw2", true)), renderVrrpPairConf(fwPair("fw2", "fw", false))];
    for (const conf of [fw, fw2]) {
      assert.equal(conf.match(/^\s+state BACKUP$/gm)?.length, 2);
      assert.equal(conf.match(/^\s+nopreempt$/gm)?.length, 2);
      assert.match(conf, /vrrp_version 3/);
      assert.match(conf, /advert_int 0\.25/);
    }
    assert.equal(fw.match(/priority 100/g)?.length, 2);
    assert.equal(fw2.match(/priority 90/g)?.length, 2);
  });

  it("moves both of a pair's addresses together (one sync group), each from the member's own address to its peer's", () => {
    const fw2 = renderVrrpPairConf(fwPair("fw2", "fw", false));
    assert.match(fw2, /vrrp_sync_group crm_fw \{\n {2}group \{\n {4}crm_fw_lan1\n {4}crm_fw_lan2\n {2}\}/);
    assert.match(
      fw2,
      /vrrp_instance crm_fw_lan1 \{[^}]*interface eth0\n {2}virtual_router_id 11[^}]*unicast_src_ip 10\.1\.1\.4\n {2}unicast_peer \{\n {4}10\.1\.1\.3\n/,
    );
    assert.match(fw2, /virtual_ipaddress \{\n {4}10\.1\.2\.1\/24 dev eth1\n/);
    assert.match(fw2, /notify_master "\/usr\/local\/sbin\/crm-conntrack-failover primary"/);
    assert.match(fw2, /notify_backup "\/usr\/local\/sbin\/crm-conntrack-failover backup"/);
    const lb2 = renderVrrpPairConf(lbPair("lb2", "lb", false));
    assert.match(lb2, /virtual_ipaddress \{\n {4}10\.1\.2\.2\/24 dev eth0\n/);
    assert.match(lb2, /virtual_ipaddress \{\n {4}10\.1\.3\.1\/24 dev eth1\n/);
    assert.match(lb2, /vrrp_script crm_lb_check \{\n {2}script "\/usr\/bin\/systemctl is-active --quiet haproxy.service"/);
    assert.equal(lb2.match(/track_script \{\n {4}crm_lb_check\n/g)?.length, 2);
  });

  it("refuses a pair without addresses or with a repeated router id", () => {
    const args = lbPair("lb", "lb2", true);
    assert.throws(() => renderVrrpPairConf({ ...args, addresses: [] }), /vrrp lb: no shared address/);
    assert.throws(
      () => renderVrrpPairConf({ ...args, addresses: [args.addresses[0], { ...args.addresses[1], routerId: 22 }] }),
      /one router id/,
    );
  });

  it("names each member's NICs in the plan's order", () => {
    assert.equal(nicName(host("fw2"), "lan1"), "eth0");
    assert.equal(nicName(host("lb"), "lan3"), "eth1");
    assert.throws(() => nicName(host("lb"), "lan1"), /lb has no NIC on lan1/);
  });

  it("is a configuration keepalived accepts", function () {
    if (!hasCommand("keepalived") || !hasCommand("unshare")) this.skip();
    const dir = tempDir("keepalived-front");
    // The notify script must exist (and be root's) for keepalived to keep it: point at a copy of the real one.
    const notify = path.join(dir, "crm-conntrack-failover");
    fs.copyFileSync(path.join(__dirname, "../../roles/files/crm-conntrack-failover"), notify);
    fs.chmodSync(notify, 0o755);
    for (const args of [fwPair("fw", "fw2", true), fwPair("fw2", "fw", false), lbPair("lb", "lb2", true), lbPair("lb2", "lb", false)]) {
      const file = path.join(dir, `${args.member}.conf`);
      fs.writeFileSync(file, renderVrrpPairConf(args).replaceAll(FAILOVER_SCRIPT, notify));
      // In a throw-away network namespace with the members' NICs: keepalived checks that they exist.
      const r = run("unshare", ["--net", "sh", "-c", 'ip link add eth0 type veth peer name eth1 && keepalived -t -f "$0" -l', file]);
      assert.equal(r.status, 0, `${args.member}: ${r.stdout}${r.stderr}`);
    }
    const broken = path.join(dir, "broken.conf");
    fs.writeFileSync(broken, renderVrrpPairConf(lbPair("lb", "lb2", true)).replace("advert_int 0.25", "advert_int quarter"));
    const rb = run("unshare", ["--net", "sh", "-c", 'ip link add eth0 type veth peer name eth1 && keepalived -t -f "$0"', broken]);
    assert.notEqual(rb.status, 0, "keepalived -t must reject a broken file");
  });
});

describe("front pairs: conntrackd.conf", () => {
  const conf = renderConntrackdConf(sync);

  it("synchronizes reliably (FTFW) over UDP between the two members' DMZ addresses", () => {
    assert.match(conf, /Mode FTFW \{/);
    assert.match(
      conf,
      /UDP \{\n {4}IPv4_address 10\.1\.2\.3\n {4}IPv4_Destination_Address 10\.1\.2\.4\n {4}Port 3780\n {4}Interface eth1\n/,
    );
    assert.match(conf, /Systemd on/);
    assert.match(conf, /DisableExternalCache off/);
  });

  it("synchronizes only the TCP states a new member can carry on, never a half-open connection", () => {
    assert.match(conf, /State Accept \{\n {6}ESTABLISHED CLOSED TIME_WAIT CLOSE_WAIT for TCP\n {4}\}/);
  });

  it("leaves the firewalls' own traffic (VRRP, the sync itself) out", () => {
    const ignored = [...conf.slice(conf.indexOf("Address Ignore")).matchAll(/IPv4_address (\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(ignored.sort(), ["10.1.1.1", "10.1.1.3", "10.1.1.4", "10.1.2.1", "10.1.2.3", "10.1.2.4", "127.0.0.1"].sort());
  });

  it("refuses a bad address or port", () => {
    assert.throws(() => renderConntrackdConf({ ...sync, peer: "fw2" }), /"fw2" is not an IPv4 address/);
    assert.throws(() => renderConntrackdConf({ ...sync, port: 0 }), /bad port 0/);
  });

  it("the failover script is valid bash that refuses an unknown state", function () {
    const script = path.join(__dirname, "../../roles/files/crm-conntrack-failover");
    assert.equal(run("bash", ["-n", script]).status, 0);
    const r = run("bash", [script, "sideways"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /usage: .* primary\|backup/);
  });
});

describe("front pairs: the firewalls' ruleset", () => {
  const policy = scenarioPolicy({
    monitoring: "10.1.3.15",
    adminCidr: "10.1.1.0/24",
    firewallInside: ["10.1.2.3", "10.1.2.4", "10.1.2.1"],
  });

  it("lets VRRP in only from the members, and the sync only from their DMZ addresses", () => {
    const ruleset = renderNftables(policy, pairRules);
    assert.match(ruleset, /ip saddr \{ 10\.1\.1\.3, 10\.1\.2\.3, 10\.1\.1\.4, 10\.1\.2\.4 \} ip protocol 112 accept/);
    assert.match(ruleset, /ip saddr \{ 10\.1\.2\.3, 10\.1\.2\.4 \} udp dport 3780 accept/);
    // Input only: neither is forwarded.
    const forward = ruleset.slice(ruleset.indexOf("chain forward"));
    assert.doesNotMatch(forward, /protocol 112|dport 3780/);
  });

  it("lets the monitoring host ping every member, and takes up a connection its peer never synchronized", () => {
    const ruleset = renderNftables(policy, pairRules);
    // No SYN-only rule: the kernel's loose pickup, under the forward policy, carries it on.
    assert.doesNotMatch(ruleset, /!= syn/);
    for (const a of ["10.1.2.1", "10.1.2.3", "10.1.2.4"])
      assert.match(ruleset, new RegExp(`ip saddr 10\\.1\\.3\\.15/32 ip daddr ${a.replace(/\./g, "\\.")} icmp type echo-request accept`));
  });

  it("adds nothing without a pair", () => {
    assert.doesNotMatch(renderNftables(scenarioPolicy()), /protocol 112|dport 3780|!= syn/);
  });

  it("is a ruleset nft itself accepts", function () {
    if (!hasCommand("nft") || !hasCommand("unshare")) this.skip();
    const r = run("unshare", ["--net", "nft", "-c", "-f", "-"], { input: renderNftables(policy, pairRules) });
    assert.equal(r.status, 0, r.stderr);
  });

  it("takes the pair's rules from the plan's two firewalls: every address of both, their LAN2 addresses for the sync", () => {
    assert.deepEqual(firewallPairRules(hostsWithRole(hosts, "firewall")), pairRules);
  });
});
