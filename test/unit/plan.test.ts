import assert from "node:assert/strict";
import { addressOn, hostsWithRole, maxServers, planScenario } from "../../topology/plan";

const seed = { servers: 3, monitoring: false, management: false, dbStandby: false };

describe("address plan", () => {
  it("reproduces the seed's scenario", () => {
    const hosts = planScenario(seed);
    const byName = Object.fromEntries(hosts.map((h) => [h.name, h.nics.map((n) => `${n.lan}=${n.address}`)]));
    assert.deepEqual(byName, {
      fw: ["lan1=10.1.1.1", "lan2=10.1.2.1"],
      lb: ["lan2=10.1.2.2", "lan3=10.1.3.1"],
      nas1: ["lan4=10.1.4.21"],
      nas2: ["lan4=10.1.4.22"],
      nas3: ["lan4=10.1.4.23"],
      bbdd: ["lan4=10.1.4.31"],
      s1: ["lan3=10.1.3.11", "lan4=10.1.4.11"],
      s2: ["lan3=10.1.3.12", "lan4=10.1.4.12"],
      s3: ["lan3=10.1.3.13", "lan4=10.1.4.13"],
      c1: ["lan1=10.1.1.11"],
      c2: ["lan1=10.1.1.12"],
    });
  });

  it("routes like the seed: clients and servers reach 10.1.0.0/16 through fw and lb; no host has a default route", () => {
    const hosts = planScenario(seed);
    const route = (name: string) => hosts.find((h) => h.name === name)!.routes;
    assert.deepEqual(route("c1"), [{ to: "10.1.0.0/16", via: "10.1.1.1" }]);
    assert.deepEqual(route("s2"), [{ to: "10.1.0.0/16", via: "10.1.3.1" }]);
    assert.deepEqual(route("fw"), [
      { to: "10.1.3.0/24", via: "10.1.2.2" },
      { to: "10.1.4.0/24", via: "10.1.2.2" },
    ]);
    assert.deepEqual(route("lb"), [{ to: "10.1.1.0/24", via: "10.1.2.1" }]);
    assert.ok(hosts.every((h) => h.routes.every((r) => r.to !== "0.0.0.0/0")));
  });

  it("adds s4 at .14, and the optional hosts at their seed addresses", () => {
    const hosts = planScenario({ servers: 4, monitoring: true, management: true, dbStandby: true });
    const s4 = hosts.find((h) => h.name === "s4")!;
    assert.equal(addressOn(s4, "lan3"), "10.1.3.14");
    assert.equal(addressOn(s4, "lan4"), "10.1.4.14");
    assert.equal(addressOn(hostsWithRole(hosts, "monitor")[0], "lan3"), "10.1.3.15");
    assert.equal(addressOn(hostsWithRole(hosts, "management")[0], "lan4"), "10.1.4.20");
    assert.deepEqual(
      hostsWithRole(hosts, "db").map((h) => addressOn(h, "lan4")),
      ["10.1.4.31", "10.1.4.32"],
    );
  });

  it("never gives two hosts one address, at the largest tier allowed", () => {
    for (const optional of [
      { monitoring: false, management: false },
      { monitoring: true, management: true },
      { monitoring: false, management: true },
    ]) {
      const hosts = planScenario({ ...optional, dbStandby: true, servers: maxServers(optional) });
      const addresses = hosts.flatMap((h) => h.nics.map((n) => n.address));
      assert.equal(new Set(addresses).size, addresses.length, JSON.stringify(optional));
    }
  });
});
