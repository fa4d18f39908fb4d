/**
 * The vnx stack for real: `pulumi up` builds the seed's scenario in LXC containers on this
 * machine, then each check exercises what a user of the architecture relies on, and
 * `pulumi destroy` must leave nothing behind. Needs root; takes a few minutes.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { assertUdpClosedAndPingOnlyService, backendSpreadFrom, uploadPhoto } from "../support/checks";
import { deployScenario, type Deployment } from "../support/deploy";
import { VALID_SECRETS, type TestStack } from "../support/pulumi";
import {
  get,
  inContainer,
  leftovers,
  machineState,
  loadStream,
  openTcpPorts,
  scenarioContainers,
  serversUp,
  spread,
  stateDifference,
  waitFor,
} from "../support/scenario";
import { run } from "../support/shell";

const SERVERS = ["s1", "s2", "s3"];
const NAS = ["nas1", "nas2", "nas3"];
/** Every address of the scenario that a client could try. */
const ADDRESSES = [
  "10.1.1.1",
  "10.1.2.1",
  "10.1.2.2",
  "10.1.3.1",
  ...SERVERS.flatMap((_, i) => [`10.1.3.1${i + 1}`, `10.1.4.1${i + 1}`]),
  "10.1.4.21",
  "10.1.4.22",
  "10.1.4.23",
  "10.1.4.31",
];

describe("vnx stack, end to end", function () {
  this.timeout(30 * 60_000);
  let deployment: Deployment;
  let stack: TestStack;
  const up = () => deployment.up();

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    deployment = await deployScenario("e2e", { "crm:servers": 3 });
    stack = deployment.stack;
  });

  after(() => deployment?.destroy());

  it("a second pulumi up changes nothing", () => {
    const r = stack.pulumi("preview", "--expect-no-changes");
    assert.equal(r.status, 0, r.stdout.slice(-3000));
  });

  it("serves the CRM at http://10.1.2.2/ from the machine, 30 requests spread evenly over s1..s3", async () => {
    const replies = [];
    for (let i = 0; i < 30; i++) replies.push(await get("/login"));
    assert.deepEqual(
      replies.map((r) => r.status),
      Array(30).fill(200),
    );
    assert.deepEqual(spread(replies), { s1: 10, s2: 10, s3: 10 });
  });

  it("serves it to client c1 through the firewall, also round-robin", () => {
    assert.deepEqual(backendSpreadFrom(inContainer, "c1", "http://10.1.2.2/login"), ["10 s1", "10 s2", "10 s3"]);
  });

  it("a photo uploaded through s1 is served by s2 and s3 and stored on all three bricks", () => {
    // Straight to s1 from lb (the only host with a leg on the app LAN), then fetched from the others.
    const photo = uploadPhoto(
      (script, input) =>
        run(
          "lxc-attach",
          ["-n", "crm-lb", "--clear-env", "--set-var", `ADMIN_PASSWORD=${VALID_SECRETS["crm:adminPassword"]}`, "--", "bash", "-c", script],
          {
            input,
          },
        ),
      "10.1.3.11:3000",
      ["10.1.3.12:3000", "10.1.3.13:3000"],
    );
    for (const nas of NAS) {
      assert.equal(inContainer(nas, `sha256sum /nas/uploads/${photo.name} | cut -c1-64`).stdout.trim(), photo.served[0], `${nas} brick`);
    }
  });

  it("the firewall lets through only ping and TCP/80 to 10.1.2.2 (nmap from c1)", () => {
    const open = openTcpPorts("c1", ADDRESSES);
    assert.deepEqual(open, ["10.1.2.2:80"]);
    assertUdpClosedAndPingOnlyService(inContainer, "c1", ADDRESSES, "10.1.2.2", "10.1.3.11");
  });

  it("losing an app server under a stream of GETs loses no request", async () => {
    const stream = loadStream("/login", { concurrency: 4, maxRequests: 3000 });
    await new Promise((r) => setTimeout(r, 2000));
    run("lxc-stop", ["-k", "-n", "crm-s2"]);
    await new Promise((r) => setTimeout(r, 6000));
    const replies = await stream.stop();
    const failed = replies.filter((r) => r.status !== 200);
    assert.ok(replies.length > 100, `only ${replies.length} requests ran`);
    assert.equal(failed.length, 0, `${failed.length} of ${replies.length} failed: ${JSON.stringify(failed)}`);
    assert.ok(!serversUp().includes("s2"), "s2 is out of the rotation");
    run("lxc-start", ["-n", "crm-s2"]);
    await waitFor("s2 back in rotation", 60, () => serversUp().includes("s2"));
  });

  it("every container restarted without Pulumi: the CRM serves again within 60 s", async () => {
    const containers = scenarioContainers();
    for (const c of containers) run("lxc-stop", ["-n", c, "-t", "20"]);
    for (const c of containers) run("lxc-start", ["-n", c]);
    const seconds = await waitFor(
      "the CRM answering with all servers up",
      60,
      async () => (await get("/login", undefined, 3000)).status === 200 && serversUp().length === 3,
    );
    console.log(`      (serving again ${seconds.toFixed(1)} s after the restart)`);
    const health = await get("/healthz");
    assert.equal(health.status, 200);
  });

  it("scales out to 4 servers and back to 3 under load, without a failed request", async () => {
    const stream = loadStream("/login", { concurrency: 2, maxRequests: 20000 });
    try {
      stack.configure({ "crm:servers": 4 });
      await up();
      assert.deepEqual(serversUp().sort(), ["s1", "s2", "s3", "s4"]);
      const replies = [];
      for (let i = 0; i < 40; i++) replies.push(await get("/login"));
      // The background stream shares the rotation, so the 40 split only roughly evenly.
      const counts = spread(replies);
      for (const s of ["s1", "s2", "s3", "s4"]) assert.ok((counts[s] ?? 0) >= 5, `${s} takes its share: ${JSON.stringify(counts)}`);
      stack.configure({ "crm:servers": 3 });
      await up();
      assert.deepEqual(serversUp().sort(), SERVERS);
      assert.ok(!scenarioContainers().includes("crm-s4"), "s4 is gone");
    } finally {
      const replies = await stream.stop();
      const failed = replies.filter((r) => r.status !== 200);
      assert.equal(failed.length, 0, `${failed.length} of ${replies.length} failed during scaling: ${JSON.stringify(failed)}`);
    }
  });

  it("pulumi destroy leaves no container, bridge, route, address, mount or rule", () => {
    const r = stack.pulumi("destroy", "--yes", "--skip-preview");
    assert.equal(r.status, 0, r.stdout.slice(-3000));
    assert.deepEqual(leftovers(), []);
    // The machine as it was before up: rules, routes, links, mounts, sysctls (see README, "What stays").
    assert.deepEqual(stateDifference(deployment.machineBefore, machineState()), []);
    assert.equal(fs.existsSync("/sys/class/net/crmlan1"), false);
  });
});
