import assert from "node:assert/strict";
import { scenarioPolicy } from "../../components/Firewall";
import { renderNftables, ruleProblem } from "../../roles/firewall";
import { hasCommand, run } from "../support/shell";

describe("firewall ruleset", () => {
  it("lets through only ping, TCP/80 and TCP/443 to the load balancer in the seed's policy", () => {
    const ruleset = renderNftables(scenarioPolicy());
    const accepts = ruleset.split("\n").filter((l) => /accept comment/.test(l));
    assert.deepEqual(
      accepts.map((l) => l.trim().replace(/ comment .*/, "")),
      [
        "ip saddr 10.1.1.0/24 ip daddr 10.1.1.1 icmp type echo-request accept",
        "ip daddr 10.1.2.2 icmp type echo-request accept",
        "ip daddr 10.1.2.2 tcp dport 80 ct state new accept",
        "ip daddr 10.1.2.2 tcp dport 443 ct state new accept",
      ],
    );
    assert.match(ruleset, /chain forward \{\n\s+type filter hook forward priority filter; policy drop;/);
    assert.match(ruleset, /chain input \{\n\s+type filter hook input priority filter; policy drop;/);
  });

  it("opens the optional parts' entries only from the admin CIDR", () => {
    const policy = scenarioPolicy({ monitoring: "10.1.3.15", management: "10.1.3.20", adminCidr: "10.1.1.0/24" });
    const ruleset = renderNftables(policy);
    assert.match(ruleset, /ip saddr 10\.1\.1\.0\/24 ip daddr 10\.1\.3\.15 tcp dport 80 ct state new accept/);
    assert.match(ruleset, /ip saddr 10\.1\.1\.0\/24 ip daddr 10\.1\.3\.20 tcp dport 22 ct state new accept/);
  });

  it("is a ruleset nft itself accepts", function () {
    if (!hasCommand("nft") || !hasCommand("unshare")) this.skip();
    const policy = scenarioPolicy({ monitoring: "10.1.3.15", management: "10.1.3.20", adminCidr: "10.1.1.0/24" });
    // Checked inside a throw-away network namespace: nothing touches this machine's own rules.
    const r = run("unshare", ["--net", "nft", "-c", "-f", "-"], { input: renderNftables(policy) });
    assert.equal(r.status, 0, r.stderr);
  });

  it("rejects malformed rules with the rule's description in the message", () => {
    assert.match(ruleProblem({ description: "web", protocol: "tcp", to: "10.1.2.2" })!, /web: tcp needs a port/);
    assert.match(ruleProblem({ description: "ping", protocol: "icmp-echo", to: "10.1.2.2", port: 1 })!, /ping: icmp-echo takes no port/);
    assert.match(ruleProblem({ description: "ssh", protocol: "tcp", to: "10.1.3.20", port: 22, from: "any" })!, /ssh: source any/);
    assert.equal(ruleProblem({ description: "ok", protocol: "udp", to: "10.1.2.2", port: 53 }), undefined);
  });
});
