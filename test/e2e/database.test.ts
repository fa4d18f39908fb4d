/**
 * The database pair (crm:dbStandby) on the vnx stack: Patroni on bbdd and bbdd2, etcd on both and
 * on nas1, the app servers' local HAProxy following the leader, pgBackRest on the storage hosts
 * (docs/database.md). The leader's container is killed (`lxc-stop -k`) under a constant write load
 * through the app's endpoint, three times: no acknowledged write is lost and writes resume within
 * RESUME_BOUND (the issue's 15 s is below what Patroni 4.0 allows: see there); the killed node
 * comes back as a replica on its own, by pg_rewind and never by a fresh copy (Patroni's journal); a
 * leader cut off from the other members by nftables stops taking writes before the standby takes
 * any (a write to each node every 100 ms, the timeline recorded); with the node that did not lead
 * at deploy leading, every app server keeps its DATABASE_URL (the local proxy) and the CRM serves
 * a signed-in page, and `pulumi up` changes nothing and does not fail back; a dropped table is
 * restored to the time before the drop and served by the CRM. Needs root; takes about 7 minutes
 * (two runs on LXC, 2026-12-02: 6 and 7).
 */
import assert from "node:assert/strict";
import { deployScenario, type Deployment } from "../support/deploy";
import { nagiosServiceReport, nagiosServices, UP_OR_OK } from "../support/nagios";
import { VALID_SECRETS } from "../support/pulumi";
import { inContainer, leftovers, machineState, stateDifference, waitFor } from "../support/scenario";
import { run, runAsync } from "../support/shell";
import { APP_ENV_FILE } from "../../roles/app";
import {
  DB_PROXY_ADDRESS,
  PATRONI_CONFIG,
  PATRONI_MEMBER_CHECK_SECONDS,
  PATRONI_MIN_TTL,
  PATRONI_REST_PORT,
  PATRONI_TIMING,
} from "../../roles/patroni";
import { addressOn, APP_PORT, hostsWithRole, NAS_ADDRESSES, PG_PORT, planScenario } from "../../topology/plan";

/**
 * How soon writes must resume after the leader's host dies. Issue 11 asks for 15 s, but Patroni
 * 4.0 (Debian 13's) raises any ttl below PATRONI_MIN_TTL to it, and a dead leader's lock lasts its
 * ttl: then the standby asks the dead member's REST API (a fixed timeout) and the app servers'
 * HAProxy needs a check (1 s) to follow. Measured on LXC: 22.0-22.7 s (docs/database.md). The
 * bound is that sum with 2 s of margin, so a regression past Patroni's own floor fails.
 */
const RESUME_BOUND = Math.max(PATRONI_TIMING.ttl, PATRONI_MIN_TTL) + PATRONI_MEMBER_CHECK_SECONDS + 1 + 2;

const SETTINGS = { servers: 2, monitoring: true, management: false, dbStandby: true } as const;
/** The app servers of this stack (s1, s2), each with its own proxy to the leader. */
const APP_SERVERS = hostsWithRole(planScenario(SETTINGS), "app");
const NODES = { bbdd: "10.1.4.31", bbdd2: "10.1.4.32" } as const;
type Node = keyof typeof NODES;
/** The app's endpoint on every app server: HAProxy following Patroni's leader (DATABASE_URL). */
const APP_ENDPOINT = `host=${DB_PROXY_ADDRESS} port=${PG_PORT} dbname=crm user=crm connect_timeout=2`;
const WRITER = "s1";
/** etcd's third member (nas1). */
const WITNESS = NAS_ADDRESSES[0];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const running = (host: string) => run("lxc-info", ["-n", `crm-${host}`, "-sH"]).stdout.trim() === "RUNNING";
const other = (node: Node): Node => (node === "bbdd" ? "bbdd2" : "bbdd");

/** The HTTP status a node's Patroni gives `path` (asked on the node itself: LAN4 is not reachable from here). */
function patroniStatus(node: Node, path: string): string {
  if (!running(node)) return "down";
  return inContainer(node, `curl -s -o /dev/null -m 2 -w '%{http_code}' http://${NODES[node]}:${PATRONI_REST_PORT}${path}`).stdout.trim();
}

/** The nodes whose Patroni says they are the primary (one, when all is well). */
function leaders(): Node[] {
  return (Object.keys(NODES) as Node[]).filter((n) => patroniStatus(n, "/primary") === "200");
}

function leader(): Node {
  const found = leaders();
  assert.equal(found.length, 1, `exactly one primary, found ${JSON.stringify(found)}`);
  return found[0];
}

/** Runs SQL as postgres on a node, in the app's database; "" when it does not answer. */
function sql(node: Node, query: string): string {
  const r = inContainer(node, `runuser -u postgres -- psql -d crm -qXAtc ${JSON.stringify(query)}`);
  return r.status === 0 ? r.stdout.trim() : "";
}

/** Runs SQL that must succeed (a change) as postgres on a node. */
function execSql(node: Node, query: string): void {
  const r = inContainer(node, `runuser -u postgres -- psql -d crm -qXAt -v ON_ERROR_STOP=1 -c ${JSON.stringify(query)}`);
  assert.equal(r.status, 0, `${query}: ${r.stderr}`);
}

/** SQL through the app's endpoint on an app server, as the app's user. */
function appSql(query: string) {
  return run("lxc-attach", [
    "-n",
    `crm-${WRITER}`,
    "--clear-env",
    "--set-var",
    `PGPASSWORD=${VALID_SECRETS["crm:dbPassword"]}`,
    "--",
    "psql",
    APP_ENDPOINT,
    "-qXAt",
    "-v",
    "ON_ERROR_STOP=1",
    "-c",
    query,
  ]);
}

/** One write per line: `ok N EPOCH` once acknowledged, `fail N EPOCH` otherwise. */
interface Writes {
  readonly acknowledged: { n: number; at: number }[];
  readonly failed: { n: number; at: number }[];
}

/**
 * A constant write load from the app server through the app's endpoint: a new connection per insert
 * (as a pool reconnects), each bounded by `timeout`, until stopped; at most `seconds` and 5,000 writes.
 */
function writeLoad(runId: number, seconds: number) {
  const loop = `end=$((SECONDS + ${seconds})); n=0
while ((SECONDS < end && n < 5000)) && [ ! -e /tmp/crm-writes.stop ]; do
  n=$((n + 1))
  out=$(timeout 5 psql '${APP_ENDPOINT}' -qXAt -v ON_ERROR_STOP=1 -c "insert into e2e_writes (run, n) values (${runId}, $n) returning n" 2>/dev/null || true)
  if [ "$out" = "$n" ]; then echo "ok $n $EPOCHREALTIME"; else echo "fail $n $EPOCHREALTIME"; fi
  sleep 0.05
done`;
  inContainer(WRITER, "rm -f /tmp/crm-writes.stop");
  const done = runAsync("lxc-attach", [
    "-n",
    `crm-${WRITER}`,
    "--clear-env",
    "--set-var",
    `PGPASSWORD=${VALID_SECRETS["crm:dbPassword"]}`,
    "--",
    "bash",
    "-c",
    loop,
  ]);
  return {
    async stop(): Promise<Writes> {
      inContainer(WRITER, "touch /tmp/crm-writes.stop");
      const lines = (await done).stdout.split("\n").filter(Boolean);
      const parse = (kind: string) =>
        lines
          .filter((l) => l.startsWith(`${kind} `))
          .map((l) => {
            const [, n, at] = l.split(" ");
            return { n: Number(n), at: Number(at) };
          });
      return { acknowledged: parse("ok"), failed: parse("fail") };
    },
  };
}

/**
 * From the app server, straight to each node (not through the proxy): every 100 ms a write to each,
 * a new connection each time, killed after 1 s (a commit waiting for a synchronous standby that
 * is gone is never acknowledged). Returns each acknowledged write's node and time.
 */
function probeEachNode(seconds: number) {
  const loop = (node: Node) => `end=$((SECONDS + ${seconds})); n=0
while ((SECONDS < end && n < 3000)) && [ ! -e /tmp/crm-probe.stop ]; do
  n=$((n + 1))
  out=$(timeout -s KILL 1 psql 'host=${NODES[node]} port=5432 dbname=crm user=crm connect_timeout=1' -qXAt -c "insert into e2e_probe (node, n) values ('${node}', $n) returning n" 2>/dev/null || true)
  [ "$out" = "$n" ] && echo "${node} $EPOCHREALTIME"
  sleep 0.1
done`;
  inContainer(WRITER, "rm -f /tmp/crm-probe.stop");
  const created = appSql("create table if not exists e2e_probe (node text, n int, at timestamptz default clock_timestamp())");
  assert.equal(created.status, 0, created.stderr);
  const loops = (Object.keys(NODES) as Node[]).map((node) =>
    runAsync("lxc-attach", [
      "-n",
      `crm-${WRITER}`,
      "--clear-env",
      "--set-var",
      `PGPASSWORD=${VALID_SECRETS["crm:dbPassword"]}`,
      "--",
      "bash",
      "-c",
      loop(node),
    ]),
  );
  return {
    async stop(): Promise<{ node: Node; at: number }[]> {
      inContainer(WRITER, "touch /tmp/crm-probe.stop");
      const outputs = await Promise.all(loops);
      return outputs
        .flatMap((r) => r.stdout.split("\n").filter(Boolean))
        .map((l) => {
          const [node, at] = l.split(" ");
          return { node: node as Node, at: Number(at) };
        });
    },
  };
}

/**
 * Patroni 4.0's log lines (patroni/postgresql/__init__.py, bootstrap.py, ha.py, postgresql/rewind.py
 * at v4.0.7) saying that a node threw its data directory away and copied the leader's afresh: what
 * remove_data_directory_on_rewind_failure does when pg_rewind fails, so a rejoin would still succeed.
 */
const RECLONED =
  /Removing data directory|replica has been created using|bootstrap(ped)? from (leader|replica) |reinitializing due to diverged timelines|is set\. removing\.\.\./;
/** rewind.py's line after a successful pg_rewind. */
const REWOUND = /pg_rewind exit code=0\b/;

/** How a node rejoined since `since` (epoch seconds), from Patroni's journal on it. */
function rejoinLog(node: Node, since: number): { rewound: boolean; recloned: string[] } {
  const journal = inContainer(node, `journalctl -u patroni.service --since @${Math.floor(since)} --no-pager -o cat`);
  assert.equal(journal.status, 0, journal.stderr);
  const lines = journal.stdout.split("\n");
  return { rewound: lines.some((l) => REWOUND.test(l)), recloned: lines.filter((l) => RECLONED.test(l)) };
}

/**
 * An app server's DATABASE_URL as the role wrote it for crm.service, and as the running app has it
 * (its process environment). Compared, never printed: it holds the password.
 */
function appDatabaseUrl(server: string): { written: string; running: string } {
  const written = inContainer(server, `sed -n 's/^DATABASE_URL="\\(.*\\)"$/\\1/p' ${APP_ENV_FILE}`).stdout.trim();
  const running = inContainer(
    server,
    `tr '\\0' '\\n' </proc/$(systemctl show -p MainPID --value crm.service)/environ | sed -n 's/^DATABASE_URL=//p'`,
  ).stdout.trim();
  return { written, running };
}

/** Every app server's DATABASE_URL is its local proxy, 127.0.0.1:5432, and the running app uses it. */
function checkAppDatabaseUrls(): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const { name } of APP_SERVERS) {
    const { written, running } = appDatabaseUrl(name);
    assert.ok(URL.canParse(written), `${name}: a DATABASE_URL in ${APP_ENV_FILE}`);
    const url = new URL(written);
    assert.equal(url.hostname, DB_PROXY_ADDRESS, `${name}: DATABASE_URL's host is the local proxy`);
    assert.equal(url.port, String(PG_PORT), `${name}: DATABASE_URL's port`);
    assert.ok(running === written, `${name}: the running app has the DATABASE_URL of ${APP_ENV_FILE}`);
    urls[name] = written;
  }
  return urls;
}

/** A page of the CRM as the signed-in admin, from a client through the firewall and the balancer. */
function signedInPage(pathAndQuery: string) {
  return run("lxc-attach", [
    "-n",
    "crm-c1",
    "--clear-env",
    "--set-var",
    `ADMIN_PASSWORD=${VALID_SECRETS["crm:adminPassword"]}`,
    "--",
    "bash",
    "-c",
    `set -euo pipefail; jar=$(mktemp)
token=$(curl -fsS -b "$jar" -c "$jar" https://10.1.2.2/login | sed -n 's/.*name="_csrf" value="\\([^"]*\\)".*/\\1/p' | head -1)
curl -fsS -b "$jar" -c "$jar" -o /dev/null --data-urlencode "_csrf=$token" --data-urlencode username=admin --data-urlencode "password=$ADMIN_PASSWORD" https://10.1.2.2/login
curl -fsS -b "$jar" "https://10.1.2.2${pathAndQuery}"`,
  ]);
}

/** The cluster is healthy: one leader, the other node its synchronous standby, streaming. */
async function waitForSyncStandby(what: string, seconds: number): Promise<number> {
  return waitFor(what, seconds, () => {
    const found = leaders();
    return found.length === 1 && patroniStatus(other(found[0]), "/sync") === "200";
  });
}

describe("vnx stack with the database pair (Patroni, etcd, pgBackRest)", function () {
  this.timeout(40 * 60_000);
  let deployment: Deployment;
  const figures: string[] = [];
  /** The node that led when the deployment finished: what a fail-back would bring back. */
  let deployLeader: Node | undefined;
  /** Each app server's DATABASE_URL at deploy. */
  let deployUrls: Record<string, string> = {};

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    deployment = await deployScenario("e2e-database", {
      "crm:servers": SETTINGS.servers,
      "crm:dbStandby": SETTINGS.dbStandby,
      "crm:monitoring": SETTINGS.monitoring,
    });
  });

  after(() => {
    if (figures.length) console.log(`      figures:\n${figures.map((f) => `        ${f}`).join("\n")}`);
    deployment?.destroy();
  });

  it("runs one leader with a synchronous standby, etcd on three hosts, and serves the CRM through the app's endpoint", async () => {
    await waitForSyncStandby("a leader and its synchronous standby", 120);
    deployLeader = leader();
    figures.push(`deploy: ${deployLeader} leading`);
    deployUrls = checkAppDatabaseUrls();
    const members = inContainer("bbdd", "ETCDCTL_API=3 etcdctl --endpoints=http://10.1.4.31:2379 member list -w simple");
    assert.equal(members.status, 0, members.stderr);
    assert.deepEqual(
      members.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(", ")[2])
        .sort(),
      ["bbdd", "bbdd2", "nas1"],
    );
    const created = appSql("create table if not exists e2e_writes (run int, n int, primary key (run, n)); select 1");
    assert.equal(created.status, 0, created.stderr);
    assert.equal(inContainer("c1", "curl -s -o /dev/null -w '%{http_code}' https://10.1.2.2/healthz").stdout, "200");
  });

  it("Nagios sees, on both nodes, Patroni running, a leader, the replication lag and the last backup's age OK", async () => {
    const password = VALID_SECRETS["crm:adminPassword"];
    const watched = ["Patroni", "Patroni leader", "Replication lag", "Backup age", "PostgreSQL"];
    for (const node of ["bbdd", "bbdd2"]) {
      await waitFor(
        `${node}'s database services OK in Nagios`,
        180,
        () => {
          const services = nagiosServices(password, node);
          return watched.every((s) => services[s] === UP_OR_OK);
        },
        () => nagiosServiceReport(password, node),
      );
    }
  });

  for (const attempt of [1, 2, 3]) {
    it(`loses no acknowledged write when the leader's host is killed, and writes resume within ${RESUME_BOUND} s (run ${attempt})`, async () => {
      await waitForSyncStandby("a synchronous standby before the kill", 180);
      const victim = leader();
      const writes = writeLoad(attempt, 90);
      await sleep(8000);
      const killedAt = Date.now() / 1000;
      assert.equal(run("lxc-stop", ["-k", "-n", `crm-${victim}`]).status, 0);
      // Whatever the writes show, the killed node is started again below, so that one failed run
      // does not leave the next ones without a standby.
      let failure: unknown;
      let result: Writes | undefined;
      try {
        await waitFor("the standby promoted", 40, () => leaders().join() === other(victim));
        await sleep(8000);
        result = await writes.stop();
        const before = result.acknowledged.filter((w) => w.at < killedAt);
        assert.ok(before.length >= 10, `a load before the kill (${before.length} acknowledged)`);
        // The outage: the longest time without an acknowledged write, from the last one before the
        // kill (a write the dying leader acknowledged as it was being killed counts as before).
        const times = result.acknowledged.map((w) => w.at).filter((t) => t >= killedAt - 2);
        let outage = 0;
        let resumedAt = NaN;
        for (let i = 1; i < times.length; i++) {
          if (times[i] - times[i - 1] > outage) [outage, resumedAt] = [times[i] - times[i - 1], times[i]];
        }
        assert.ok(Number.isFinite(resumedAt) && resumedAt > killedAt, "writes resumed after the kill");
        const stored = new Set(
          sql(other(victim), `select n from e2e_writes where run = ${attempt}`).split("\n").filter(Boolean).map(Number),
        );
        const lost = result.acknowledged.filter((w) => !stored.has(w.n)).map((w) => w.n);
        figures.push(
          `run ${attempt}: ${victim} killed; ${before.length} writes acknowledged before, ${lost.length} lost; no write ` +
            `acknowledged for ${outage.toFixed(1)} s, the first again ${(resumedAt - killedAt).toFixed(1)} s after the kill; ` +
            `${result.failed.length} attempts failed meanwhile`,
        );
        console.log(`      (${figures[figures.length - 1]})`);
        assert.deepEqual(lost, [], "every acknowledged write is on the new leader");
        assert.ok(resumedAt - killedAt <= RESUME_BOUND, `writes resumed ${(resumedAt - killedAt).toFixed(1)} s after the kill`);
      } catch (e) {
        failure = e;
        result ??= await writes.stop();
      }

      // The killed node comes back as a replica of the new leader, with no step of ours but starting it.
      const restartedAt = Date.now();
      assert.equal(run("lxc-start", ["-n", `crm-${victim}`]).status, 0);
      await waitFor(`${victim} back as the synchronous standby`, 180, () => patroniStatus(victim, "/sync") === "200");
      figures.push(
        `run ${attempt}: ${victim} synchronous standby again ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after its start`,
      );
      assert.deepEqual(leaders(), [other(victim)], "the new leader stays the leader");
      await waitFor(`${victim} has every acknowledged write`, 30, () => {
        const rows = new Set(sql(victim, `select n from e2e_writes where run = ${attempt}`).split("\n").filter(Boolean).map(Number));
        return (result?.acknowledged ?? []).every((w) => rows.has(w.n));
      });
      // By pg_rewind, keeping its data directory: a failed rewind would make Patroni delete it and copy
      // the leader afresh (remove_data_directory_on_rewind_failure), and the node would come back all the same.
      const rejoin = rejoinLog(victim, restartedAt / 1000);
      figures.push(
        `run ${attempt}: ${victim} ${rejoin.rewound ? "rewound by pg_rewind" : "not rewound"}, ${rejoin.recloned.length} re-clone lines`,
      );
      if (failure) throw failure;
      assert.deepEqual(rejoin.recloned, [], `${victim} rejoined without removing its data directory or copying the leader's`);
      assert.ok(rejoin.rewound, `Patroni on ${victim} ran pg_rewind successfully ("pg_rewind exit code=0")`);
    });
  }

  it("a leader partitioned from the other members stops taking writes, the standby is promoted, never two writable at once", async () => {
    await waitForSyncStandby("a synchronous standby before the partition", 180);
    const isolated = leader();
    const promoted = other(isolated);
    const probes = probeEachNode(120);
    await sleep(6000);
    const cutAt = Date.now() / 1000;
    // Inside the leader's container: nothing to or from the other database node and nas1 (etcd's
    // majority); the app servers and this machine still reach it.
    const cut = inContainer(
      isolated,
      `nft -f - <<'NFT'
table inet crm_e2e_partition {
  chain in { type filter hook input priority -10; policy accept; ip saddr { ${NODES[promoted]}, ${WITNESS} } drop; }
  chain out { type filter hook output priority -10; policy accept; ip daddr { ${NODES[promoted]}, ${WITNESS} } drop; }
}
NFT`,
    );
    assert.equal(cut.status, 0, cut.stderr);
    try {
      await waitFor(`${promoted} promoted`, 40, () => patroniStatus(promoted, "/primary") === "200");
      await sleep(8000);
    } finally {
      inContainer(isolated, "nft delete table inet crm_e2e_partition");
    }
    const healedAt = Date.now() / 1000;
    const acks = await probes.stop();
    // The probes work: the leader took writes before the cut (3-5 a second), its standby none. Without
    // this, a probe that reached nothing would pass every assertion below.
    const beforeCut = (node: Node) => acks.filter((a) => a.node === node && a.at < cutAt).length;
    assert.ok(beforeCut(isolated) >= 10, `${isolated} acknowledged probes before the cut (${beforeCut(isolated)})`);
    assert.equal(beforeCut(promoted), 0, `${promoted}, a standby until the cut, acknowledged no probe before it`);
    const lastOld = Math.max(...acks.filter((a) => a.node === isolated && a.at < healedAt).map((a) => a.at));
    const afterCut = acks.filter((a) => a.at >= cutAt && a.at < healedAt);
    const firstNew = Math.min(...afterCut.filter((a) => a.node === promoted).map((a) => a.at));
    // A timeline, one line per second from the cut: writes acknowledged by each node.
    const timeline: string[] = [];
    for (let t = Math.floor(cutAt) - 2; t < healedAt; t++) {
      const count = (node: Node) => acks.filter((a) => a.node === node && a.at >= t && a.at < t + 1).length;
      timeline.push(`${(t - cutAt).toFixed(0).padStart(4)} s  ${isolated} ${count(isolated)}  ${promoted} ${count(promoted)}`);
    }
    figures.push(
      `partition: ${isolated}'s last acknowledged write ${(lastOld - cutAt).toFixed(2)} s after the cut, ` +
        `${promoted}'s first ${(firstNew - cutAt).toFixed(2)} s after it; timeline (acknowledged writes per second, probe every 100 ms):\n          ${timeline.join("\n          ")}`,
    );
    assert.ok(Number.isFinite(firstNew), `${promoted} took writes after the cut`);
    assert.ok(lastOld < firstNew, `${isolated} acknowledged a write at ${lastOld} after ${promoted} took one at ${firstNew}`);
    assert.ok(lastOld - cutAt <= PATRONI_TIMING.ttl, `${isolated} stopped taking writes within Patroni's ttl (${PATRONI_TIMING.ttl} s)`);
    // Healed, the old leader follows the new one on its own, keeping its data directory.
    await waitFor(`${isolated} back as the synchronous standby`, 180, () => patroniStatus(isolated, "/sync") === "200");
    assert.deepEqual(leaders(), [promoted]);
    const rejoin = rejoinLog(isolated, cutAt);
    figures.push(
      `partition: ${isolated} ${rejoin.rewound ? "rewound by pg_rewind" : "not rewound"}, ${rejoin.recloned.length} re-clone lines`,
    );
    assert.deepEqual(rejoin.recloned, [], `${isolated} rejoined without removing its data directory or copying the leader's`);
  });

  it("with the node that did not lead at deploy leading: every app server keeps DATABASE_URL on its proxy, reaches the database, and the CRM serves a signed-in page", async () => {
    assert.ok(deployLeader, "the deploy-time leader was recorded");
    await waitForSyncStandby("a healthy pair", 120);
    // Three kills and a partition alternate the leader four times: the deploy-time leader leads again.
    // Hand over to the other node, so that this test and pulumi up run while a fail-back would show.
    if (leader() === deployLeader) {
      const to = other(deployLeader);
      const switched = inContainer(
        deployLeader,
        `patronictl -c ${PATRONI_CONFIG} switchover --leader ${deployLeader} --candidate ${to} --force`,
      );
      assert.equal(switched.status, 0, switched.stdout + switched.stderr);
      await waitFor(`${to} leading`, 60, () => leaders().join() === to);
      await waitForSyncStandby(`${deployLeader} the synchronous standby of ${to}`, 120);
      figures.push(`switchover: ${to} leading before pulumi up`);
    }
    const current = leader();
    assert.notEqual(current, deployLeader, "the node that led at deploy is a replica now");
    const urls = checkAppDatabaseUrls();
    for (const { name } of APP_SERVERS) assert.ok(urls[name] === deployUrls[name], `${name}: DATABASE_URL is the one of the deploy`);
    // Each app server's own app, straight (its /healthz asks the database through the server's proxy).
    for (const server of APP_SERVERS) {
      const healthz = `curl -s -o /dev/null -m 3 -w '%{http_code}' http://${addressOn(server, "lan3")}:${APP_PORT}/healthz`;
      await waitFor(`${server.name}'s app reaching the database`, 30, () => inContainer(server.name, healthz).stdout === "200");
    }
    // Signing in writes a session, and the row was written on the new leader just before.
    const tag = `failover-${Date.now()}`;
    execSql(current, `insert into companies (name) values ('${tag}')`);
    const page = signedInPage(`/companies?q=${tag}`);
    assert.equal(page.status, 0, page.stderr);
    assert.ok(page.stdout.includes(tag), `the companies page lists ${tag}, written on ${current}`);
  });

  it("pulumi up after the failovers, with the other node than at deploy leading, changes nothing and does not fail back", async () => {
    await waitForSyncStandby("a healthy pair", 120);
    const before = leader();
    assert.ok(deployLeader && before !== deployLeader, `up runs while ${before}, not the deploy-time leader ${deployLeader}, leads`);
    const preview = deployment.stack.pulumi("preview", "--refresh", "--expect-no-changes", "--diff");
    assert.equal(preview.status, 0, preview.stdout.slice(-4000) + preview.stderr.slice(-2000));
    const up = await deployment.stack.pulumiAsync("up", "--yes", "--skip-preview", "--expect-no-changes");
    assert.equal(up.status, 0, up.stdout.slice(-4000) + up.stderr.slice(-2000));
    await sleep(5000);
    assert.deepEqual(leaders(), [before], "the leader is the same after up");
    const urls = checkAppDatabaseUrls();
    for (const { name } of APP_SERVERS) assert.ok(urls[name] === deployUrls[name], `${name}: DATABASE_URL unchanged by up`);
  });

  it("refuses a restore time outside the backup window, says why, and changes nothing", () => {
    const node = leader();
    const r = inContainer(node, "crm-db-restore --to '2001-01-01 00:00:00+00'");
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /before the backup window .*nothing was changed/);
    const future = inContainer(node, "crm-db-restore --to 'tomorrow'");
    assert.equal(future.status, 2);
    assert.match(future.stderr, /not in the past.*nothing was changed/);
    assert.deepEqual(leaders(), [node]);
    assert.notEqual(sql(node, "select count(*) from e2e_writes"), "");
  });

  it("restores a dropped table to the time before the drop, and the CRM serves its rows", async () => {
    await waitForSyncStandby("a healthy pair", 120);
    const node = leader();
    const listed = inContainer(node, "crm-db-backup list");
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /full backup/);
    const tag = `drill-${Date.now()}`;
    const names = [1, 2, 3].map((i) => `${tag}-${i}`);
    execSql(node, `insert into companies (name) values ${names.map((n) => `('${n}')`).join(", ")}`);
    await sleep(2000);
    const beforeDrop = sql(node, "select to_char(now() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS.MS') || '+00'");
    await sleep(2000);
    execSql(node, "drop table companies cascade");
    assert.equal(sql(node, "select count(*) from pg_tables where tablename = 'companies'"), "0", "the table is gone");
    const started = Date.now();
    const restore = inContainer(node, `crm-db-restore --to '${beforeDrop}'`);
    assert.equal(restore.status, 0, restore.stdout.slice(-3000) + restore.stderr.slice(-3000));
    figures.push(
      `restore drill: crm-db-restore on ${node} took ${((Date.now() - started) / 1000).toFixed(1)} s (standby re-cloned, new full backup)`,
    );
    assert.equal(sql(node, `select count(*) from companies where name like '${tag}-%'`), "3", "the rows are back");
    await waitForSyncStandby("the standby re-cloned and synchronous", 180);
    // The CRM, through the firewall and the balancer, shows them to a signed-in user.
    const page = signedInPage(`/companies?q=${tag}`);
    assert.equal(page.status, 0, page.stderr);
    for (const name of names) assert.ok(page.stdout.includes(name), `the companies page lists ${name}`);
  });

  it("pulumi destroy leaves nothing behind", () => {
    const r = deployment.stack.pulumi("destroy", "--yes", "--skip-preview");
    assert.equal(r.status, 0, r.stdout.slice(-3000));
    assert.deepEqual(leftovers(), []);
    assert.deepEqual(stateDifference(deployment.machineBefore, machineState()), []);
  });
});
