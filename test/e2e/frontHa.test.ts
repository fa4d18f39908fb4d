/**
 * The redundant front (crm:frontHa) on the vnx stack: fw/fw2 and lb/lb2 share the front's
 * addresses by VRRP, the firewalls' connections are synchronized by conntrackd. Under a GET stream
 * from c1, the member holding the addresses is killed (`lxc-stop -k`): the failed requests and the
 * longest time without an answer are measured and bounded; a kept-alive connection through the
 * dying firewall goes on; killing the backups loses nothing; the killed members come back without
 * taking the addresses back; `pulumi up --refresh` starts what was killed. Needs root.
 */
import assert from "node:assert/strict";
import { STATS_PORT } from "../../roles/balancer";
import { CONNTRACKD_CONF } from "../../roles/conntrackd";
import { BALANCER_FRONT, FIREWALL_INSIDE, FIREWALL_OUTSIDE, FRONT_MEMBERS, LANS, SERVICE_ADDRESS } from "../../topology/plan";
import { deployScenario, type Deployment } from "../support/deploy";
import {
  clientStream,
  get,
  inContainer,
  leftovers,
  machineState,
  openTcpPorts,
  stateDifference,
  waitFor,
  type StreamResult,
} from "../support/scenario";
import { run, runAsync } from "../support/shell";

/**
 * Each pair and the addresses it shares, which move together: the firewall's two gateways; the
 * balancer's service address and the app servers' gateway.
 */
const PAIRS = {
  lb: { members: ["lb", "lb2"], shared: [SERVICE_ADDRESS, BALANCER_FRONT] },
  fw: { members: ["fw", "fw2"], shared: [FIREWALL_OUTSIDE, FIREWALL_INSIDE] },
} as const;
type Pair = keyof typeof PAIRS;

const running = (host: string) => run("lxc-info", ["-n", `crm-${host}`, "-sH"]).stdout.trim() === "RUNNING";

/** The pair's shared addresses that a member holds now (none when it is stopped). */
function held(pair: Pair, member: string): string[] {
  if (!running(member)) return [];
  const own = inContainer(member, "ip -o -4 addr show").stdout;
  return PAIRS[pair].shared.filter((a) => own.includes(` ${a}/`));
}

/** The member holding the pair's addresses: it holds every one of them, and the other member none. */
function holder(pair: Pair): string {
  const found = PAIRS[pair].members.map((m) => [m, held(pair, m)] as const).filter(([, addresses]) => addresses.length > 0);
  assert.ok(
    found.length === 1 && found[0][1].length === PAIRS[pair].shared.length,
    `${pair}: one member holds all of ${PAIRS[pair].shared.join(", ")}, the other none; found ${JSON.stringify(found)}`,
  );
  return found[0][0];
}

/** The source port of the kept-alive connection across the firewall's failover. */
const KEPT_ALIVE_PORT = 30400; // below the ephemeral range: no other connection of c1 takes it

/** The connections a firewall holds for its peer: conntrackd's external cache. */
const syncedToPeer = (fw: string) => inContainer(fw, `conntrackd -C ${CONNTRACKD_CONF} -e`).stdout;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `action` in the middle of a GET stream from c1 (bounded: 60 s, 3,000 requests) and returns
 * what the stream saw. 20 s after the action, so that even on a loaded machine the stream holds
 * well over 100 requests and 1 % means something.
 */
async function underStream(action: () => void | Promise<void>): Promise<StreamResult> {
  const stream = clientStream("c1", { seconds: 60, maxRequests: 3000 });
  await sleep(4000);
  await action();
  await sleep(20_000);
  return stream.stop();
}

/**
 * At most 1 % of the stream failed. The one request in flight on the member that dies may be lost
 * whatever the failover does, so one failure is allowed in a stream shorter than 100 requests.
 */
function assertFewFailed(r: StreamResult): void {
  assert.ok(r.total >= 50, `a stream across the kill (${r.total} requests)`);
  assert.ok(r.failed.length <= Math.max(1, r.total / 100), `${r.failed.length} of ${r.total} failed: ${r.failed.join(" ")}`);
  assert.ok(r.longestGap <= 3, `longest gap ${r.longestGap.toFixed(2)} s`);
}

function report(what: string, r: StreamResult): void {
  console.log(`      (${what}: ${r.failed.length} of ${r.total} failed, longest gap ${r.longestGap.toFixed(2)} s)`);
}

const kill = (host: string) => assert.equal(run("lxc-stop", ["-k", "-n", `crm-${host}`]).status, 0);
const partner = (pair: Pair, member: string): string => PAIRS[pair].members.find((m) => m !== member)!;

/** Now, as journalctl's `--since @SECONDS` takes it (the containers share this machine's clock). */
const epochSeconds = () => Math.floor(Date.now() / 1000);

/** keepalived's state on a member since its last boot, as its VRRP instances report it (BACKUP once it has rejoined). */
function vrrpState(host: string): string {
  const r = inContainer(host, "journalctl -b -u keepalived -o cat --no-pager | grep -oE 'Entering (MASTER|BACKUP|FAULT) STATE' | tail -1");
  return r.stdout.trim();
}

/**
 * How many times a member's VRRP instances entered `state` since `since` (epoch seconds), by
 * keepalived's journal: every transition is there, however brief, where sampling the addresses
 * could miss one.
 */
function vrrpEntries(host: string, state: "MASTER" | "BACKUP" | "FAULT", since: number): number {
  const r = inContainer(host, `journalctl --since @${since} -u keepalived -o cat --no-pager | grep -c 'Entering ${state} STATE' || true`);
  return Number(r.stdout.trim());
}

/** The state a restarted member reports, once it reports one (a slow boot may take a while). */
async function rejoinedState(host: string): Promise<string> {
  await waitFor(`${host}: keepalived reports a VRRP state`, 60, () => vrrpState(host) !== "");
  return vrrpState(host);
}

/**
 * The member killed last (now the one not holding the pair's addresses) is started again: it
 * rejoins as the backup and the addresses stay where they are.
 */
async function rejoinsAsBackup(pair: Pair): Promise<void> {
  const holding = holder(pair);
  const backup = partner(pair, holding);
  // The member was stopped until now: everything its journal holds from here on is this boot's.
  const since = epochSeconds();
  assert.equal(run("lxc-start", ["-n", `crm-${backup}`]).status, 0);
  assert.equal(await rejoinedState(backup), "Entering BACKUP STATE");
  // A while with both members up: a flap would come now, if at all.
  await sleep(20_000);
  assert.ok(running(backup), `${backup} runs again`);
  assert.equal(vrrpEntries(backup, "MASTER", since), 0, `${backup} held the addresses for a moment after it came back`);
  for (const state of ["BACKUP", "FAULT"] as const)
    assert.equal(vrrpEntries(holding, state, since), 0, `${holding} entered ${state} while ${backup} came back`);
  assert.equal(holder(pair), holding);
  assert.equal(vrrpState(backup), "Entering BACKUP STATE");
}

describe("vnx stack with a redundant front (crm:frontHa)", function () {
  this.timeout(20 * 60_000);
  let deployment: Deployment;
  let killedBackups: string[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    deployment = await deployScenario("e2e-fronts", { "crm:servers": 2, "crm:frontHa": true });
  });

  after(() => deployment?.destroy());

  it("serves through the shared addresses, held by each pair's preferred member, with identical firewall rules", async () => {
    const reply = await get("/login");
    assert.equal(reply.status, 200, reply.error);
    assert.equal(holder("lb"), "lb");
    assert.equal(holder("fw"), "fw");
    // The app servers' gateway sits with the service address (holder checks every shared address).
    assert.deepEqual(held("lb", "lb"), [SERVICE_ADDRESS, BALANCER_FRONT]);
    const ruleset = (h: string) => inContainer(h, "sha256sum </etc/nftables.conf").stdout;
    assert.equal(ruleset("fw"), ruleset("fw2"));
    assert.equal(inContainer("fw2", "systemctl is-active conntrackd").stdout.trim(), "active");
  });

  it("the firewalls let through only TCP/80 and TCP/443 to 10.1.2.2: nothing on the members' own addresses (nmap from c1)", () => {
    // Every address of the pairs that c1's side can name: the members' own on LAN1 and LAN2, and the shared ones there.
    const onClientSide = (a: string) => [LANS.lan1.prefix, LANS.lan2.prefix].some((p) => a.startsWith(`${p}.`));
    const members = Object.values(FRONT_MEMBERS)
      .flatMap((m) => Object.values(m))
      .filter(onClientSide);
    const targets = [...new Set([...members, FIREWALL_OUTSIDE, FIREWALL_INSIDE, SERVICE_ADDRESS])];
    assert.equal(targets.length, 9, targets.join(" "));
    assert.deepEqual(openTcpPorts("c1", targets, 240), [`${SERVICE_ADDRESS}:443`, `${SERVICE_ADDRESS}:80`]);
  });

  it("each balancer shows its own HAProxy at its own address, where Nagios checks it, the backup's too", async () => {
    const statsFrom = (address: string) =>
      inContainer("s1", `curl -s -o /dev/null -m 5 -w '%{http_code}' http://${address}:${STATS_PORT}/`).stdout.trim();
    assert.equal(statsFrom("10.1.3.2"), "200", "lb");
    assert.equal(statsFrom("10.1.3.3"), "200", "lb2");
    // Nagios would see the backup's HAProxy stop, though the pair goes on serving.
    inContainer("lb2", "systemctl stop haproxy");
    try {
      assert.notEqual(statsFrom("10.1.3.3"), "200", "lb2 with HAProxy stopped");
      // keepalived's own check sees it too: lb2 could not take the address now.
      await waitFor("lb2 in VRRP FAULT", 30, () => vrrpState("lb2") === "Entering FAULT STATE");
    } finally {
      inContainer("lb2", "systemctl start haproxy");
    }
    assert.equal(statsFrom("10.1.3.3"), "200", "lb2 restarted");
    // The next tests need lb2 a backup again.
    await waitFor("lb2 a VRRP backup again", 30, () => vrrpState("lb2") === "Entering BACKUP STATE");
    assert.equal(holder("lb"), "lb");
  });

  it("loses at most 1 % of the requests and 3 s when the balancer holding the service address dies", async () => {
    const victim = holder("lb");
    const r = await underStream(() => kill(victim));
    report(`${victim} killed`, r);
    const heir = partner("lb", victim);
    assert.equal(holder("lb"), heir);
    // The app servers' gateway moved with the service address, and they reach it there.
    assert.deepEqual(held("lb", heir), [SERVICE_ADDRESS, BALANCER_FRONT]);
    const ping = inContainer("s1", `ping -c 3 -i 0.5 -W 2 ${BALANCER_FRONT}`);
    assert.equal(ping.status, 0, ping.stdout + ping.stderr);
    assertFewFailed(r);
  });

  it("the killed balancer comes back as the backup: the address does not move back", () => rejoinsAsBackup("lb"));

  it("loses at most 1 % and 3 s when the firewall holding the gateway dies, and a kept-alive connection through it goes on", async () => {
    // 48 requests over one connection, 4 a second: the kill falls in the middle of it. Its own
    // source port, to find it in the backup's copy of the connections.
    const keptAlive = runAsync("lxc-attach", [
      "-n",
      "crm-c1",
      "--clear-env",
      "--",
      "curl",
      "--local-port",
      String(KEPT_ALIVE_PORT),
      "-s",
      "-o",
      "/dev/null",
      "--max-time",
      "40",
      "--rate",
      "4/s",
      "-w",
      "%{http_code} %{num_connects}\\n",
      "https://10.1.2.2/login?n=[1-48]",
    ]);
    const victim = holder("fw");
    const heir = partner("fw", victim);
    let killedAt = 0;
    const r = await underStream(() => {
      // conntrackd carried it to the backup before the kill (without it, the kernel there could
      // still take the connection up as new: the one-connection check below alone would not tell).
      assert.match(syncedToPeer(heir), new RegExp(`ESTABLISHED .*sport=${KEPT_ALIVE_PORT} dport=443 `));
      killedAt = epochSeconds();
      kill(victim);
    });
    report(`${victim} killed`, r);
    assert.equal(holder("fw"), heir);
    // The takeover committed the peer's connections into the new holder's kernel table
    // (crm-conntrack-failover primary, keepalived's notify): conntrackd's own report of it.
    const commit = inContainer(
      heir,
      `journalctl --since @${killedAt} -o cat --no-pager | grep -E 'external cache|Committed [0-9]+ new|be committed'`,
    );
    assert.match(commit.stdout, /committing all external caches/, `${heir}'s journal: ${commit.stdout}`);
    const committed = [...commit.stdout.matchAll(/Committed (\d+) new entries/g)].map((m) => Number(m[1]));
    console.log(`      (${heir} committed ${committed.join(" + ") || "nothing"} of ${victim}'s connections)`);
    assert.ok(
      committed.some((n) => n > 0),
      `no connection committed: ${commit.stdout}`,
    );
    // The machine's own route to the scenario (via 10.1.1.1) follows the shared address too.
    const reply = await get("/login");
    assert.equal(reply.status, 200, reply.error);
    assertFewFailed(r);
    const answers = (await keptAlive).stdout.split("\n").filter(Boolean);
    console.log(
      `      (kept-alive connection: ${answers.length} answers, ${answers.filter((a) => a.startsWith("200")).length} of them 200)`,
    );
    assert.equal(answers.length, 48);
    assert.deepEqual(
      answers.map((a) => a.split(" ")[0]),
      answers.map(() => "200"),
    );
    // One TCP connection for all 48: the new firewall let the established connection through (conntrackd).
    assert.equal(
      answers.reduce((n, a) => n + Number(a.split(" ")[1]), 0),
      1,
      `connections opened: ${answers.map((a) => a.split(" ")[1]).join("")}`,
    );
  });

  it("the killed firewall comes back as the backup: the addresses do not move back", () => rejoinsAsBackup("fw"));

  it("loses nothing when the backup members die", async () => {
    const backups = (["lb", "fw"] as const).map((pair) => partner(pair, holder(pair)));
    const r = await underStream(() => backups.forEach(kill));
    report(`backups ${backups.join(" and ")} killed`, r);
    assert.deepEqual(r.failed, []);
    assert.ok(r.longestGap <= 3, `longest gap ${r.longestGap.toFixed(2)} s`);
    killedBackups = backups;
  });

  it("pulumi up --refresh starts the killed members, and the addresses stay where they are", async () => {
    const holding = [holder("lb"), holder("fw")];
    assert.equal(killedBackups.length, 2, "the backups were killed");
    assert.ok(!killedBackups.some(running));
    const r = deployment.stack.pulumi("up", "--yes", "--skip-preview", "--refresh");
    assert.equal(r.status, 0, r.stdout.slice(-6000) + r.stderr.slice(-3000));
    assert.deepEqual(killedBackups.filter(running), killedBackups);
    assert.deepEqual([holder("lb"), holder("fw")], holding);
    const reply = await get("/login");
    assert.equal(reply.status, 200, reply.error);
  });

  it("pulumi destroy leaves nothing behind", () => {
    const r = deployment.stack.pulumi("destroy", "--yes", "--skip-preview");
    assert.equal(r.status, 0, r.stdout.slice(-3000));
    assert.deepEqual(leftovers(), []);
    assert.deepEqual(stateDifference(deployment.machineBefore, machineState()), []);
  });
});
