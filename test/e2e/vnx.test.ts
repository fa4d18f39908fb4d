/**
 * The vnx stack for real: `pulumi up` builds the seed's scenario in LXC containers on this
 * machine, then each check exercises what a user of the architecture relies on, and
 * `pulumi destroy` must leave nothing behind. Needs root; takes a few minutes.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TLS13_SUITES, TLS_CIPHERS } from "../../roles/balancer";
import { BACKUP_PROGRAM, BACKUP_SCHEDULE, backupServiceUnit, backupTimerUnit, REPO_BRICK, REPO_MOUNT, STANZA } from "../../roles/backup";
import { visitInBrowser, type Visit } from "../support/browser";
import { made } from "../support/certificates";
import { assertUdpClosedAndPingOnlyService, backendSpreadFrom, uploadPhoto } from "../support/checks";
import { deployScenario, type Deployment } from "../support/deploy";
import { VALID_SECRETS, type TestStack } from "../support/pulumi";
import {
  get,
  inContainer,
  inNetworkOf,
  leftovers,
  machineState,
  loadStream,
  openTcpPorts,
  ROOT,
  scenarioContainers,
  SERVICE,
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

/** A PEM written to a file of its own, for a tool that reads one; `remove` when done. */
function pemFile(pem: string): { file: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-e2e-pem-"));
  const file = path.join(dir, "ca.pem");
  fs.writeFileSync(file, pem);
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

describe("vnx stack, end to end", function () {
  this.timeout(30 * 60_000);
  let deployment: Deployment;
  let stack: TestStack;
  const up = () => deployment.up();
  /** The stack's CA (its output caCertificate), as clients are to trust it. */
  const stackCa = () => stack.run("stack", "output", "caCertificate", "--stack", stack.name).stdout;

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

  it("serves the CRM at https://10.1.2.2/ from the machine (its certificate checked against the stack's CA), 30 requests spread evenly over s1..s3", async () => {
    const replies = [];
    for (let i = 0; i < 30; i++) replies.push(await get("/login"));
    assert.deepEqual(
      replies.map((r) => r.status),
      Array(30).fill(200),
    );
    assert.deepEqual(spread(replies), { s1: 10, s2: 10, s3: 10 });
  });

  it("serves it to client c1 through the firewall, also round-robin", () => {
    assert.deepEqual(backendSpreadFrom(inContainer, "c1", "https://10.1.2.2/login"), ["10 s1", "10 s2", "10 s3"]);
  });

  it("HTTP redirects to HTTPS; over HTTPS the CRM sends HSTS and only Secure cookies (curl from c1, which trusts the stack's CA)", () => {
    const http = inContainer("c1", "curl -sS -o /dev/null -D - http://10.1.2.2/customers?page=2");
    assert.match(http.stdout, /^HTTP\/1\.1 301/);
    assert.match(http.stdout, /location: https:\/\/10\.1\.2\.2\/customers\?page=2\r?\n/i);
    const https = inContainer("c1", "curl -sS -o /dev/null -D - https://10.1.2.2/login");
    assert.equal(https.status, 0, https.stderr);
    assert.match(https.stdout, /^HTTP\/2 200/);
    assert.match(https.stdout, /strict-transport-security: max-age=\d+/i);
    const cookies = https.stdout.split("\n").filter((l) => /^set-cookie:/i.test(l));
    assert.ok(cookies.length > 0, https.stdout);
    for (const c of cookies) assert.match(c, /;\s*secure/i, c);
  });

  it("Chromium on this machine, trusting only the stack's CA, is sent to https://10.1.2.2/, signs in and shows the customers (screenshot kept)", async () => {
    const pem = stackCa();
    const ca = pemFile(pem);
    const other = pemFile((await made({ commonName: "crm-infra e2e: not the stack's CA", isCa: true, validityDays: 1 })).certificatePem);
    try {
      const r = visitInBrowser(SERVICE, ca.file, "vnx-stack-customers.png", VALID_SECRETS["crm:adminPassword"]);
      assert.equal(r.status, 0, r.stderr);
      const seen = JSON.parse(r.stdout) as Visit;
      assert.equal(seen.landed, `https://${SERVICE}/login`);
      assert.equal(seen.status, 200);
      assert.match(seen.protocol ?? "", /^TLS 1\.[23]$/);
      // Issued by the stack's CA: the one the browser was given.
      assert.equal(seen.issuer, /CN=(.*)/.exec(new X509Certificate(pem).subject)?.[1]);
      assert.match(seen.hsts ?? "", /max-age=\d+/);
      assert.ok(seen.cookies.length > 0 && seen.cookies.every((c) => c.secure), JSON.stringify(seen.cookies));
      assert.equal(seen.signedIn, `https://${SERVICE}/customers`);
      assert.equal(seen.heading, "Customers");
      assert.ok(fs.statSync(seen.screenshot).size > 0, seen.screenshot);
      console.log(`      (screenshot: ${seen.screenshot})`);
      // The trust is that CA's and nothing else's: given another CA, the same browser refuses the service.
      const refused = visitInBrowser(SERVICE, other.file, "vnx-stack-refused.png", VALID_SECRETS["crm:adminPassword"]);
      assert.notEqual(refused.status, 0, refused.stdout);
      assert.match(refused.stderr, /net::ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      ca.remove();
      other.remove();
    }
  });

  it("TLS: sslscan from c1's network finds only TLS 1.2 and 1.3 and only strong suites; the chain is valid against the stack's CA", () => {
    const scan = inNetworkOf("c1", "sslscan", ["--no-colour", "--no-heartbleed", "10.1.2.2:443"]);
    assert.equal(scan.status, 0, scan.stderr);
    for (const old of ["SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"])
      assert.match(scan.stdout, new RegExp(`^${old.replace(".", "\\.")}\\s+disabled$`, "m"));
    const offered = [...scan.stdout.matchAll(/^(?:Preferred|Accepted)\s+(\S+)\s+(\d+) bits\s+(\S+)/gm)].map(
      ([, protocol, bits, cipher]) => ({
        protocol,
        bits: Number(bits),
        cipher,
      }),
    );
    assert.ok(offered.length > 0, scan.stdout);
    const strong = new Set<string>([...TLS_CIPHERS, ...TLS13_SUITES]);
    assert.deepEqual(
      offered.filter((o) => !["TLSv1.2", "TLSv1.3"].includes(o.protocol) || o.bits < 128 || !strong.has(o.cipher)),
      [],
    );
    // The chain, against the stack's CA and nothing else, for the service's address.
    const ca = pemFile(stackCa());
    const verify = inNetworkOf("c1", "openssl", [
      "s_client",
      "-connect",
      "10.1.2.2:443",
      "-CAfile",
      ca.file,
      "-verify_ip",
      "10.1.2.2",
      "-verify_return_error",
      "-brief",
    ]);
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stderr, /Verification: OK/);
    ca.remove();
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

  it("requests per second from c1 through the firewall and the balancer: HTTPS and HTTP (scripts/rps.mjs, printed)", () => {
    const ca = pemFile(stackCa());
    const runs: [string, string, string[]][] = [
      ["HTTPS, kept-alive", "https://10.1.2.2/login", []],
      ["HTTPS, a full handshake per request", "https://10.1.2.2/login", ["--new-connections"]],
      ["HTTP (the redirect), kept-alive", "http://10.1.2.2/login", []],
      ["HTTP (the redirect), a connection per request", "http://10.1.2.2/login", ["--new-connections"]],
    ];
    for (const [what, url, flags] of runs) {
      const r = inNetworkOf("c1", process.execPath, [path.join(ROOT, "scripts/rps.mjs"), url, "10", "8", "--ca", ca.file, ...flags]);
      assert.equal(r.status, 0, r.stderr);
      const result = JSON.parse(r.stdout) as { rps: number; errors: number; statuses: Record<string, number> };
      console.log(`      (${what}: ${result.rps} requests/s, statuses ${JSON.stringify(result.statuses)}, ${result.errors} errors)`);
      assert.equal(result.errors, 0);
      assert.deepEqual(Object.keys(result.statuses), [url.startsWith("https") ? "200" : "301"]);
    }
    ca.remove();
  });

  it("the firewall lets through only ping, TCP/80 and TCP/443 to 10.1.2.2 (nmap from c1)", () => {
    const open = openTcpPorts("c1", ADDRESSES);
    assert.deepEqual(open, ["10.1.2.2:443", "10.1.2.2:80"]);
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

  it("backs the single database up: a full backup at deploy on the storage hosts' volume, and WAL archived (pgBackRest's own check)", () => {
    assert.match(inContainer("bbdd", `findmnt -n -o FSTYPE ${REPO_MOUNT}`).stdout, /fuse\.glusterfs/);
    const listed = inContainer("bbdd", `${BACKUP_PROGRAM} list`);
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /full backup/);
    assert.match(listed.stdout, /restorable with crm-db-restore --to TIME: from /);
    // A WAL switch reaches the repository: what a point-in-time restore replays.
    const check = inContainer("bbdd", `runuser -u postgres -- pgbackrest --stanza=${STANZA} check`);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    for (const nas of NAS) assert.match(inContainer(nas, `ls ${REPO_BRICK}/backup/${STANZA}`).stdout, /F\n/, `${nas} brick`);
  });

  it("schedules the single database's backups: both timers enabled and active with a next run, and the unit they start backs up", () => {
    // At most a week (full, Sundays) or two days (diff, Monday to Saturday) ahead, plus the timers' random delay.
    const horizonDays = { full: 7, diff: 2 } as const;
    const now = Date.now() / 1000;
    for (const kind of Object.keys(BACKUP_SCHEDULE) as (keyof typeof BACKUP_SCHEDULE)[]) {
      const timer = backupTimerUnit(kind);
      assert.equal(inContainer("bbdd", `systemctl is-enabled ${timer}`).stdout.trim(), "enabled", timer);
      assert.equal(inContainer("bbdd", `systemctl is-active ${timer}`).stdout.trim(), "active", timer);
      assert.equal(inContainer("bbdd", `systemctl show -p Triggers --value ${timer}`).stdout.trim(), backupServiceUnit(kind));
      const next = inContainer("bbdd", `systemctl show -p NextElapseUSecRealtime --value ${timer}`).stdout.trim();
      assert.notEqual(next, "", `${timer} has a next run`);
      const at = Number(inContainer("bbdd", `date -d ${JSON.stringify(next)} +%s`).stdout.trim());
      assert.ok(
        at > now && at <= now + horizonDays[kind] * 86400 + 11 * 60,
        `${timer}'s next run (${next}) is within ${horizonDays[kind]} days`,
      );
      // systemctl list-timers, as an operator would look: the timer is listed with what it activates.
      assert.match(
        inContainer("bbdd", `systemctl list-timers --all --no-legend ${timer}`).stdout,
        new RegExp(`${timer}\\s+${backupServiceUnit(kind)}`),
      );
    }
    // What the diff timer runs, run now: a differential backup on top of the deploy's full one.
    const started = inContainer("bbdd", `systemctl start ${backupServiceUnit("diff")}`);
    if (started.status !== 0) assert.fail(inContainer("bbdd", `journalctl -u ${backupServiceUnit("diff")} --no-pager -n 30`).stdout);
    assert.match(inContainer("bbdd", `${BACKUP_PROGRAM} list`).stdout, /diff backup/);
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
    // bbdd was made without the FUSE device; its mount unit makes it at every boot.
    await waitFor("bbdd's backup repository mounted again", 60, () => inContainer("bbdd", `mountpoint -q ${REPO_MOUNT}`).status === 0);
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
