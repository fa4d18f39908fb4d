/**
 * The cloud rehearsal (issue 9): for aws and openstack, the user data the program renders for
 * every host (under mocks, test/clouds/runner.ts) is run by cloud-init itself (Debian's package,
 * NoCloud seed) in LXC containers on bridges laid out like the cloud's subnets, behind the
 * cloud's security groups (stateful, per host) and network ACLs (stateless, per subnet), rendered
 * to nftables from the program's own rule objects; a local HAProxy with the cloud's health check
 * stands in for the ALB / Octavia, a small server for S3 / Swift (and EC2's metadata service).
 *
 * What is substituted, and nothing else: the bundle URL's `https://HOST/` becomes
 * `http://198.51.100.80/HOST/` (the store's stand-in); the image's Debian sources are a local
 * repository (the hosts reach no mirror; test/rehearsal/image.sh); an enabled unit stands in for
 * the SSM agent, whose package comes from AWS's bucket. Needs root; both clouds in a few minutes.
 */
import assert from "node:assert/strict";
import { AWS_CONFIG, OPENSTACK_CONFIG, runAsync, scenario } from "../clouds/harness";
import type { Recorded, RunResult } from "../clouds/model";
import { uploadPhoto } from "../support/checks";
import { run } from "../support/shell";
import { SECRETS } from "../clouds/harness";
import { GUARDED_RANGES, INTERNET, internetBridge, layoutOf, PROBE_PORT, type Cloud, type Layout, type RehearsalHost } from "./layout";
import { addMembers } from "./nft";
import { balancerConfig, serversUp, STATS_URL, type Member } from "./standIns";
import {
  appBundle,
  cloudInitResult,
  openFrom,
  listen,
  nftIn,
  onHost,
  rehearsalImage,
  startHost,
  STORE_LOG,
  substrate,
  type StageContext,
} from "./stage";

const CLOUD_INIT_SECONDS = 300;
const CLOUDS = ["aws", "openstack"] as const;
const CONFIG: Readonly<Record<Cloud, Record<string, string>>> = { aws: AWS_CONFIG, openstack: OPENSTACK_CONFIG };

/** Refuses to run without the route that keeps 10.1.0.0/16 on this machine (scripts/test.sh installs it). */
function assertGuardRoute(): void {
  const routes = run("ip", ["route", "show", "type", "unreachable", "10.1.0.0/16"]).stdout;
  if (!routes.includes("10.1.0.0/16"))
    throw new Error("no `unreachable 10.1.0.0/16` route: refusing to put scenario addresses on bridges (see test/support/guard.ts)");
}

function byRole(layout: Layout, role: string): RehearsalHost[] {
  return layout.hosts.filter((h) => h.role === role);
}

function hostNamed(layout: Layout, host: string): RehearsalHost {
  const found = layout.hosts.find((h) => h.host === host);
  if (!found) throw new Error(`no host ${host} in the ${layout.cloud} layout`);
  return found;
}

/** The address the load balancer reaches an app server at (its first NIC, on the front subnet). */
function members(hosts: readonly RehearsalHost[]): Member[] {
  return hosts.map((h) => ({ name: h.host, address: h.nics[0].address }));
}

/** Inputs of the database and storage hosts and their volumes: what a scaling must not touch. */
function stateful(result: RunResult): Record<string, unknown> {
  const isStateful = (r: Recorded) => /^(bbdd|nas)-/.test(r.name) && r.custom;
  return Object.fromEntries(result.resources.filter(isStateful).map((r) => [`${r.type} ${r.name}`, r.inputs]));
}

async function waitFor(what: string, seconds: number, check: () => boolean): Promise<void> {
  for (let i = 0; i < seconds; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.fail(`${what}: not within ${seconds} s`);
}

function balancerUp(layout: Layout): string[] {
  return serversUp(onHost(hostNamed(layout, "lb").container, `curl -fsS '${STATS_URL}'`).stdout).sort();
}

describe("cloud rehearsal: user data through cloud-init in LXC, behind the clouds' own rules", function () {
  this.timeout(8 * 60_000);
  let image: string;
  let bundle: { archive: string; sha256: string };
  /** Each cloud's program at 3 and at 4 servers, with the real bundle's digest. */
  const runs = new Map<Cloud, [RunResult, RunResult]>();

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    assertGuardRoute();
    // Leftovers of an interrupted run go first; then our other range stays here too.
    substrate("cleanup");
    substrate("guard", ...GUARDED_RANGES);
    bundle = appBundle();
    // The four programs run in their own processes while the image is checked (or built).
    const mocked = { bundleDigest: bundle.sha256 };
    const pending = CLOUDS.map((c) =>
      Promise.all([runAsync(scenario(CONFIG[c], {}, mocked)), runAsync(scenario(CONFIG[c], { "crm:servers": "4" }, mocked))]),
    );
    image = rehearsalImage();
    (await Promise.all(pending)).forEach(([three, four], i) => {
      assert.deepEqual([three.errors, four.errors], [[], []]);
      runs.set(CLOUDS[i], [three, four]);
    });
  });

  after(function () {
    if (process.getuid?.() !== 0) return;
    substrate("cleanup");
    substrate("unguard");
  });

  for (const cloud of CLOUDS) {
    describe(cloud, function () {
      let layout: Layout;
      let grown: Layout;
      let three: RunResult;
      let four: RunResult;
      let ctx: StageContext;
      let started = 0;
      const cloudInit = new Map<string, { status: number; report: string }>();

      before(async function () {
        started = Date.now();
        [three, four] = runs.get(cloud)!;
        layout = layoutOf(cloud, three);
        grown = layoutOf(cloud, four);
        ctx = { layout, image, bundle, members: members(byRole(layout, "app")) };
        substrate("bridges", ...layout.subnets.map((s) => s.bridge), internetBridge(cloud));
        // Stand-ins first (the hosts' fetches retry anyway), then every cloud host at once.
        for (const h of layout.hosts.filter((x) => x.kind !== "cloud")) startHost(ctx, h);
        const hosts = layout.hosts.filter((x) => x.kind === "cloud");
        for (const h of hosts) startHost(ctx, h);
        const results = await Promise.all(hosts.map((h) => cloudInitResult(h.container, CLOUD_INIT_SECONDS)));
        hosts.forEach((h, i) => cloudInit.set(h.host, results[i]));
      });

      after(function () {
        console.log(`      ${cloud} rehearsal: ${((Date.now() - started) / 1000).toFixed(0)} s`);
        if (process.getuid?.() === 0) substrate("cleanup");
      });

      it("cloud-init completes on every host: `cloud-init status --wait` is done, without errors", () => {
        assert.deepEqual(
          [...cloudInit.keys()].sort(),
          layout.hosts
            .filter((h) => h.kind === "cloud")
            .map((h) => h.host)
            .sort(),
        );
        for (const [host, r] of cloudInit) {
          assert.equal(r.status, 0, `${host}:\n${r.report}`);
          assert.match(r.report, /^status: done$/m, `${host}:\n${r.report}`);
          assert.match(r.report, /^errors: \[\]$/m, `${host}:\n${r.report}`);
        }
      });

      it("the CRM answers through the load balancer's stand-in, every app server healthy by the cloud's check", async () => {
        const apps = byRole(layout, "app").map((h) => h.host);
        await waitFor("every app server UP on the stand-in", 90, () => balancerUp(layout).join() === apps.sort().join());
        const world = hostNamed(layout, "world").container;
        const r = onHost(world, `curl -fsS -o /dev/null -w '%{http_code}' http://${layout.service}/login`);
        assert.equal(r.stdout, "200", r.stderr);
      });

      it(`the bundle came from the object store's stand-in${cloud === "aws" ? ", signed with the metadata service's credentials" : ""}`, () => {
        const log = onHost(hostNamed(layout, "store").container, `cat ${STORE_LOG}`).stdout.trim().split("\n");
        const gets = log
          .map((l) => JSON.parse(l) as { method: string; path: string; authorization: string; token: string })
          .filter((e) => e.path.endsWith(`app-${bundle.sha256}.tar.gz`));
        assert.ok(gets.length >= byRole(layout, "app").length, log.join("\n"));
        for (const g of gets) {
          if (cloud === "aws") {
            assert.match(g.authorization, /^AWS4-HMAC-SHA256 Credential=ASIAREHEARSAL\/\d{8}\/eu-west-1\/s3\/aws4_request/);
            assert.equal(g.token, "rehearsal-session-token");
          } else assert.equal(g.authorization, "", "a public-read Swift object needs no credentials");
        }
      });

      it("a photo uploaded through s1 lies on all three bricks", () => {
        const [s1, ...others] = byRole(layout, "app").map((h) => `${h.nics[0].address}:${layout.health.memberPort}`);
        const lb = hostNamed(layout, "lb").container;
        const photo = uploadPhoto(
          (script, input) => onHost(lb, script, { input, env: { ADMIN_PASSWORD: SECRETS["crm:adminPassword"] } }),
          s1,
          others,
        );
        for (const nas of byRole(layout, "nas")) {
          const stored = onHost(nas.container, `sha256sum /nas/uploads/${photo.name} | cut -c1-64`);
          assert.equal(stored.stdout.trim(), photo.served[0], `${nas.host}'s brick: ${stored.stderr}`);
        }
      });

      it("an app server reaches nothing but the database, the bricks and the internet's web ports", () => {
        const at = (host: string, port: number) => `${hostNamed(layout, host).nics[0].address}:${port}`;
        const db = byRole(layout, "db")[0].host;
        const probed = [db, "nas1", "s2", "lb", "store"];
        // A listener on each target's probe port, reachable from the target itself: a refused probe is the rules' doing.
        for (const host of probed) {
          listen(hostNamed(layout, host).container, PROBE_PORT);
          assert.deepEqual(openFrom(hostNamed(layout, host).container, [at(host, PROBE_PORT)]), [at(host, PROBE_PORT)], `${host} listens`);
        }
        const allowed = [at(db, 5432), at("nas1", 24007), `${INTERNET.store}:80`];
        const denied = [...probed.map((h) => at(h, PROBE_PORT)), at("s2", layout.health.memberPort)];
        assert.deepEqual(openFrom(hostNamed(layout, "s1").container, [...allowed, ...denied]), [...allowed].sort());
        assert.deepEqual(openFrom(hostNamed(layout, "lb").container, [at("s2", layout.health.memberPort)]), [
          at("s2", layout.health.memberPort),
        ]);
      });

      it("nothing reaches the database from the load balancer's subnet", () => {
        const db = byRole(layout, "db")[0];
        listen(db.container, PROBE_PORT);
        const ports = [5432, 22, PROBE_PORT].map((p) => `${db.nics[0].address}:${p}`);
        // The stand-in in the balancer's group, and a probe host there in no group at all (only the database's own rules stop it).
        for (const from of ["lb", "dmz"]) assert.deepEqual(openFrom(hostNamed(layout, from).container, ports), [], from);
        assert.deepEqual(openFrom(hostNamed(layout, "s1").container, [ports[0]]), [ports[0]], "while s1 reaches it");
      });

      if (cloud === "aws") {
        it("the public subnets' ACL admits from the internet only its entries (a host in no group behind it)", () => {
          const dmz = hostNamed(layout, "dmz");
          listen(dmz.container, 80);
          listen(dmz.container, 22);
          const world = hostNamed(layout, "world").container;
          const dmzAt = (port: number) => `${dmz.nics[0].address}:${port}`;
          const s1App = `${hostNamed(layout, "s1").nics[0].address}:${layout.health.memberPort}`;
          // 80: the entry "web to the load balancer"; 22 and the app port: no entry.
          assert.deepEqual(openFrom(world, [dmzAt(80), dmzAt(22), s1App]), [dmzAt(80)]);
        });
      }

      it("3 → 4 servers admits s4 with no change to the database's or the bricks' user data and inputs", async () => {
        assert.deepEqual(stateful(four), stateful(three));
        const s4 = hostNamed(grown, "s4");
        // A group reference follows membership: every host's set of the app tier gains s4's addresses.
        for (const h of layout.hosts.filter((x) => x.tier))
          nftIn(
            h.container,
            addMembers(
              "app",
              s4.nics.map((n) => n.address),
            ),
          );
        startHost(ctx, s4);
        const r = await cloudInitResult(s4.container, CLOUD_INIT_SECONDS);
        assert.equal(r.status, 0, r.report);
        assert.match(r.report, /^status: done$/m, r.report);
        const lb = hostNamed(layout, "lb");
        const apps = byRole(grown, "app");
        const reload = onHost(lb.container, "cat >/etc/haproxy/haproxy.cfg && systemctl reload haproxy", {
          input: balancerConfig(layout.health, lb.nics[0].address, members(apps)),
        });
        assert.equal(reload.status, 0, reload.stderr);
        await waitFor("s4 UP on the stand-in", 90, () => balancerUp(layout).includes("s4"));
        assert.deepEqual(balancerUp(layout), apps.map((h) => h.host).sort());
      });
    });
  }
});
