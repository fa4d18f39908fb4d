import assert from "node:assert/strict";
import { isIpv4Cidr, parseSettings } from "../../topology/settings";

/** The message a bad setting produces, for asserting that it names the key. */
function errorOf(raw: Record<string, unknown>): string {
  try {
    parseSettings(raw);
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail(`expected ${JSON.stringify(raw)} to be rejected`);
}

describe("settings", () => {
  it("fills the seed's defaults: 3 servers, round-robin, no optional hosts", () => {
    const s = parseSettings({ target: "vnx" });
    assert.deepEqual(s, {
      target: "vnx",
      servers: 3,
      monitoring: false,
      management: false,
      dbStandby: false,
      frontHa: false,
      balance: "roundrobin",
      rolloutTimeout: 90,
      backupRetention: 2,
      adminCidr: "10.1.1.0/24",
      managementKeys: [],
    });
  });

  it("bounds the rollout's health wait, naming crm:rolloutTimeout", () => {
    assert.equal(parseSettings({ target: "vnx", rolloutTimeout: "30" }).rolloutTimeout, 30);
    assert.match(errorOf({ target: "vnx", rolloutTimeout: "5" }), /crm:rolloutTimeout: must be at least 10/);
    assert.match(errorOf({ target: "vnx", rolloutTimeout: "ten" }), /crm:rolloutTimeout: must be a whole number/);
  });

  it("keeps at least one full backup, naming crm:backupRetention", () => {
    assert.equal(parseSettings({ target: "vnx", backupRetention: "4" }).backupRetention, 4);
    assert.match(errorOf({ target: "vnx", backupRetention: "0" }), /crm:backupRetention: must be at least 1 \(full backups to keep\)/);
    assert.match(errorOf({ target: "vnx", backupRetention: -3 }), /crm:backupRetention: must be at least 1/);
    assert.match(errorOf({ target: "vnx", backupRetention: "two" }), /crm:backupRetention: must be a whole number/);
  });

  it("requires operator keys with the management host, and names a bad one by its index", () => {
    assert.match(errorOf({ target: "vnx", management: true }), /crm:managementKeys: is required when crm:management is true/);
    assert.match(errorOf({ target: "vnx", management: true, managementKeys: ["ssh-rsa AAAA"] }), /crm:managementKeys\[0\]: /);
  });

  it("reads Pulumi's string values as numbers and booleans", () => {
    const s = parseSettings({ target: "vnx", servers: "4", monitoring: "true" });
    assert.equal(s.servers, 4);
    assert.equal(s.monitoring, true);
  });

  it("names crm:servers when it is not a number", () => {
    assert.match(errorOf({ target: "vnx", servers: "three" }), /crm:servers: must be a whole number/);
  });

  it("rejects 0 servers and more than the address plan allows, naming crm:servers", () => {
    assert.match(errorOf({ target: "vnx", servers: 0 }), /crm:servers: must be between 1 and 10, got 0/);
    // s11 would take 10.1.4.21, nas1's address; with ges, s10 would take its .20.
    assert.match(errorOf({ target: "vnx", servers: 11 }), /crm:servers: must be between 1 and 10, got 11/);
    assert.match(errorOf({ target: "vnx", servers: 10, management: true }), /crm:servers: must be between 1 and 9, got 10/);
    // With monitoring, nagios owns .15, so s5 would collide with it.
    assert.match(errorOf({ target: "vnx", servers: 5, monitoring: true }), /crm:servers: must be between 1 and 4 \(the monitoring host/);
  });

  it("names crm:adminCidr when it is not a CIDR", () => {
    assert.match(errorOf({ target: "vnx", adminCidr: "10.1.1.0/33" }), /crm:adminCidr: must be an IPv4 CIDR/);
    assert.match(errorOf({ target: "vnx", adminCidr: "10.1.300.0/24" }), /crm:adminCidr/);
  });

  it("names crm:target when it is missing or unknown", () => {
    assert.match(errorOf({}), /crm:target: must be one of vnx, openstack, aws/);
    assert.match(errorOf({ target: "gcp" }), /crm:target: must be one of vnx, openstack, aws/);
  });

  it("lists every bad key at once", () => {
    const message = errorOf({ target: "vnx", balance: "random", monitoring: "yes" });
    assert.match(message, /crm:balance/);
    assert.match(message, /crm:monitoring/);
  });

  it("recognizes CIDRs", () => {
    assert.ok(isIpv4Cidr("0.0.0.0/0"));
    assert.ok(isIpv4Cidr("10.1.4.0/24"));
    assert.ok(!isIpv4Cidr("10.1.4.0"));
    assert.ok(!isIpv4Cidr("10.1.4.0/24/1"));
  });
});
