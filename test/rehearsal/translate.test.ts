/**
 * The rehearsal's translations, without containers: the layout read from the mocked stacks, the
 * security groups and ACLs as nftables (checked by nft itself, and in the netfilter semantics
 * that matter), the stand-in's haproxy.cfg (checked by haproxy), the one substitution in the user data.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseCloudInit } from "../../targets/cloud/cloudinit";
import { AWS_CONFIG, OPENSTACK_CONFIG, runAsync, scenario } from "../clouds/harness";
import { hasCommand, run, tempDir } from "../support/shell";
import { INTERNET, layoutOf, tierMembers, type Cloud, type Layout } from "./layout";
import { naclRuleset, securityGroupRuleset } from "./nft";
import { balancerConfig, fetchesBundle, redirectBundle, serversUp } from "./standIns";

const CONFIG: Readonly<Record<Cloud, Record<string, string>>> = { aws: AWS_CONFIG, openstack: OPENSTACK_CONFIG };
const DIGEST = "ab".repeat(32);

function nftChecks(ruleset: string): boolean {
  return run("unshare", ["--net", "nft", "-c", "-f", "-"], { input: ruleset }).status === 0;
}

describe("cloud rehearsal: translations (no containers)", function () {
  this.timeout(180_000);
  const layouts = new Map<Cloud, Layout>();

  before(async () => {
    const results = await Promise.all(
      (["aws", "openstack"] as const).map((c) => runAsync(scenario(CONFIG[c], {}, { bundleDigest: DIGEST }))),
    );
    (["aws", "openstack"] as const).forEach((c, i) => layouts.set(c, layoutOf(c, results[i])));
  });

  it("aws: each app server in its zone's app subnet, the fixed hosts at the program's addresses, volumes where the program attaches them", () => {
    const l = layouts.get("aws")!;
    const at = (host: string) => l.hosts.find((h) => h.host === host)!;
    assert.deepEqual(
      ["s1", "s2", "s3"].map((s) => at(s).nics[0].bridge),
      ["rh-a-app-0", "rh-a-app-1", "rh-a-app-2"],
    );
    assert.deepEqual(
      ["bbdd", "nas1", "nas2", "nas3"].map((h) => at(h).nics[0].address),
      ["10.1.4.31", "10.1.4.21", "10.1.4.86", "10.1.4.151"],
    );
    assert.deepEqual(
      l.hosts.filter((h) => h.disk).map((h) => h.host),
      ["nas1", "nas2", "nas3", "bbdd"],
    );
    assert.match(at("bbdd").disk!, /^\/dev\/disk\/by-id\/nvme-Amazon_Elastic_Block_Store_vol0/);
  });

  it("openstack: the fixed ports' addresses, app servers on the front and back networks, the VIP on the DMZ", () => {
    const l = layouts.get("openstack")!;
    const at = (host: string) => l.hosts.find((h) => h.host === host)!;
    assert.deepEqual(
      at("s1").nics.map((n) => n.bridge),
      ["rh-o-lan3", "rh-o-lan4"],
    );
    assert.equal(at("bbdd").nics[0].address, "10.1.4.31");
    assert.equal(l.service, "10.1.2.2");
    assert.equal(at("lb").nics[0].bridge, "rh-o-lan2");
  });

  for (const cloud of ["aws", "openstack"] as const) {
    it(`${cloud}: every security group is a valid ruleset; the database's admits only the app tier, on 5432`, function () {
      if (!hasCommand("nft") || !hasCommand("unshare")) this.skip();
      const l = layouts.get(cloud)!;
      const members = tierMembers(l.hosts);
      for (const tier of ["lb", "app", "db", "nas"] as const) assert.ok(nftChecks(securityGroupRuleset(tier, l.rules, members)), tier);
      const db = securityGroupRuleset("db", l.rules, members);
      const input = db.slice(db.indexOf("chain input"), db.indexOf("chain output"));
      assert.deepEqual(
        input.split("\n").filter((line) => line.includes(" accept #")),
        ["    ip saddr @app meta l4proto tcp th dport 5432 accept # postgresql from the app servers"],
      );
    });

    it(`${cloud}: the stand-in's haproxy.cfg is valid and checks the cloud's health path`, function () {
      if (!hasCommand("haproxy")) this.skip();
      const l = layouts.get(cloud)!;
      const file = path.join(tempDir("rh-haproxy"), "haproxy.cfg");
      fs.writeFileSync(file, balancerConfig(l.health, "127.0.0.1", [{ name: "s1", address: "127.0.0.1" }]));
      const r = run("haproxy", ["-c", "-f", file]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(fs.readFileSync(file, "utf8"), /option httpchk GET \/healthz\n  http-check expect status 200\n/);
    });

    it(`${cloud}: the user data changes only in the bundle's URL, which points at the store's stand-in`, () => {
      const l = layouts.get(cloud)!;
      const app = l.hosts.find((h) => h.role === "app")!;
      const db = l.hosts.find((h) => h.role === "db")!;
      assert.equal(fetchesBundle(db.userData!), false);
      const { userData, path: at } = redirectBundle(app.userData!);
      const before = parseCloudInit(app.userData!);
      const after = parseCloudInit(userData);
      const changed = before.write_files.flatMap((f, i) => {
        const a = f.content.split("\n");
        const b = after.write_files[i].content.split("\n");
        return a.flatMap((line, k) => (line === b[k] ? [] : [b[k]]));
      });
      assert.equal(changed.length, 1, JSON.stringify(changed));
      assert.ok(changed[0].includes(`http://${INTERNET.store}${at}`), changed[0]);
      assert.ok(at.endsWith(`/app-${DIGEST}.tar.gz`));
    });
  }

  it("aws: the public subnets' ACL is a valid, stateless ruleset: entries in order, a default deny, no connection tracking", function () {
    if (!hasCommand("nft") || !hasCommand("unshare")) this.skip();
    const ruleset = naclRuleset(layouts.get("aws")!.nacls);
    assert.ok(nftChecks(ruleset));
    assert.doesNotMatch(ruleset, /ct state/);
    assert.match(ruleset, /meta l4proto tcp th dport 80 return # rule 110\n[\s\S]*drop\n  \}\n  chain acl0_out/);
  });

  it("reads the servers HAProxy reports UP from its CSV statistics", () => {
    const csv = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status\n";
    const row = (sv: string, status: string) => ["members", sv, ...Array(15).fill(""), status].join(",");
    assert.deepEqual(serversUp(csv + [row("s1", "UP"), row("s2", "DOWN"), row("BACKEND", "UP")].join("\n")), ["s1"]);
  });
});
