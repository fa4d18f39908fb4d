import assert from "node:assert/strict";
import { containerName, hostArgs, preflightProblem } from "../../targets/vnx";
import { planScenario } from "../../topology/plan";

const hosts = planScenario({ servers: 3, monitoring: false, management: false, dbStandby: false });
const host = (name: string) => hosts.find((h) => h.name === name)!;

describe("vnx target", () => {
  it("names containers crm-<host>, so only the project's own containers are ever touched", () => {
    assert.deepEqual(
      hosts.map(containerName).filter((n) => !n.startsWith("crm-")),
      [],
    );
    assert.equal(containerName(host("s2")), "crm-s2");
  });

  it("gives host.sh each NIC on its LAN's bridge and each static route, FUSE only where asked", () => {
    assert.deepEqual(hostArgs(host("s1"), "crm-base-x", true), [
      "crm-s1",
      "crm-base-x",
      "--hostname",
      "s1",
      "--fuse",
      "--nic",
      "lan3=10.1.3.11/24",
      "--nic",
      "lan4=10.1.4.11/24",
      "--route",
      "10.1.0.0/16=10.1.3.1",
    ]);
    assert.ok(!hostArgs(host("fw"), "crm-base-x", false).includes("--fuse"));
  });

  it("refuses to run without root, cgroups, overlayfs or the LXC Debian template, saying why and what to run", () => {
    const ok = { uid: 0, hasCgroups: true, hasOverlay: true, hasLxc: true };
    assert.equal(preflightProblem(ok), undefined);
    assert.match(preflightProblem({ ...ok, uid: 1000 })!, /run it as root/);
    assert.match(preflightProblem({ ...ok, hasCgroups: false })!, /cgroups/);
    assert.match(preflightProblem({ ...ok, hasOverlay: false })!, /overlayfs/);
    assert.match(preflightProblem({ ...ok, hasLxc: false })!, /scripts\/vnx up.*lxc-templates/);
  });
});
