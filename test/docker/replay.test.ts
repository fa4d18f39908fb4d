/**
 * The docker stack on a real Docker engine, by replay (test/support/dockerReplay.ts): the resource
 * graph the program registers under mocks is carried out with the Docker CLI, then the vnx
 * end-to-end checks run against it — round-robin spread from the machine (through the port the
 * fw container publishes) and from client c1, a photo on all three bricks, nmap from c1 finding
 * only the CRM's port — and everything is torn down. The hosts' image is built from the project's
 * own Debian base, imported into Docker from the vnx base image's rootfs (no registry here).
 * Needs root and a running engine: scripts/test.sh runs it under scripts/with-docker.sh.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { imageName } from "../../targets/vnx/recipe";
import { failsBeforeAnythingExists } from "../support/badInput";
import { assertUdpClosedAndPingOnlyService, backendSpreadFrom, uniquePng } from "../support/checks";
import { leftOnEngine, Replay, removeLabelled } from "../support/dockerReplay";
import { registeredBy } from "../support/mockGraph";
import { testStack, VALID_SECRETS } from "../support/pulumi";
import { parseOpenPorts, spread, type Reply } from "../support/scenario";
import { run, tempDir } from "../support/shell";

const ROOT = path.resolve(__dirname, "../..");
const OWNER = "crm/docker";
const PUBLISHED = "http://127.0.0.1:8080";
const SERVICE = "10.2.2.2";
const SERVERS = ["s1", "s2", "s3"];
/** c2's address: crm:adminCidr, the only source allowed to the monitoring page and to ges. */
const ADMIN = "10.2.1.12";
/**
 * Every address of the docker scenario a client could try, one host of each kind: s2, s3 and nas2,
 * nas3 are configured as s1 and nas1 are, and a full scan of each address takes about 10 s here.
 */
const ADDRESSES = ["10.2.1.1", "10.2.2.1", SERVICE, "10.2.3.1", "10.2.3.11", "10.2.4.11", "10.2.4.21", "10.2.4.31"].concat(
  ["10.2.3.15", "10.2.4.15", "10.2.3.20", "10.2.4.20"], // nagios, ges
);
/** The tests' own safety route for the docker scenario's range (the stack's inside LANs have no address on the machine). */
const GUARD = ["unreachable", "10.2.0.0/16", "metric", "4001"];

const docker = (...args: string[]) => run("docker", args);
const inHost = (host: string, script: string, input?: string | Buffer) =>
  run("docker", ["exec", "-i", `crmd-${host}`, "bash", "-c", script], { input });

/** The vnx base image (an LXC container's rootfs), imported into Docker once as crm-debian:<its hash>. */
function importedBase(): string | undefined {
  const lxc = imageName();
  const rootfs = `/var/lib/lxc/${lxc}/rootfs`;
  if (!fs.existsSync(path.join(rootfs, "etc/crm-image-complete"))) return undefined;
  const tag = `crm-debian:${lxc.replace(/^crm-base-/, "")}`;
  if (docker("image", "inspect", tag).status !== 0) {
    const t0 = Date.now();
    const r = run("bash", ["-c", `set -o pipefail; tar -C ${rootfs} -c . | docker import - ${tag}`]);
    assert.equal(r.status, 0, r.stderr);
    console.log(`      (imported ${lxc} into Docker as ${tag} in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  return tag;
}

/** The vnx stack's footprint on the machine: its running containers and its bridges' addresses. */
function vnxScenario(): string {
  return run("bash", [
    "-c",
    "lxc-ls --running -1 2>/dev/null | grep '^crm-' | grep -v '^crm-base-'; ip -o -4 addr show | awk '$2 ~ /^crmlan/ { print $2, $4 }'",
  ]).stdout.trim();
}

/** A cookie-keeping client of the CRM at the published port. */
class Browser {
  private cookies = new Map<string, string>();
  async request(pathname: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await fetch(PUBLISHED + pathname, { ...init, headers, redirect: "manual", signal: AbortSignal.timeout(10_000) });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const at = pair.indexOf("=");
      this.cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
    return res;
  }
  async csrf(pathname: string): Promise<string> {
    const html = await (await this.request(pathname)).text();
    const token = /name="_csrf" value="([^"]*)"/.exec(html)?.[1];
    assert.ok(token, `no CSRF token on ${pathname}`);
    return token;
  }
  /** The URL a multipart form posts to: its CSRF token is in it, checked before the body is read. */
  async formAction(pathname: string, action: string): Promise<string> {
    const html = await (await this.request(pathname)).text();
    const found = new RegExp(`action="(${action.replace(/[/?]/g, "\\$&")}\\?_csrf=[^"]*)"`).exec(html)?.[1];
    assert.ok(found, `no form posting to ${action} on ${pathname}`);
    return found.replace(/&amp;/g, "&");
  }
}

describe("docker stack, replayed on a real Docker engine", function () {
  this.timeout(20 * 60_000);
  let replay: Replay | undefined;
  let sshKey = "";
  /** The vnx scenario on this machine before the replay, if one is up (another stack: looked at, never touched). */
  let vnxBefore = "";

  before(async function () {
    if (process.getuid?.() !== 0 || docker("info").status !== 0) {
      console.log("      (skipped: needs root and a running Docker engine; scripts/test.sh starts one)");
      this.skip();
    }
    const base = importedBase();
    if (!base) {
      console.log(`      (skipped: the vnx base image ${imageName()} is not built; scripts/vnx up builds it)`);
      this.skip();
    }
    run("ip", ["route", "replace", ...GUARD]);
    vnxBefore = vnxScenario();
    await removeLabelled(OWNER);
    // The optional parts too, administered from c2 only: c1 must still find nothing open but the CRM.
    const keys = tempDir("docker-ges");
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(keys, "id")]);
    sshKey = fs.readFileSync(path.join(keys, "id"), "utf8");
    const graph = registeredBy({
      "crm:target": "docker",
      "crm:dockerBaseImage": base!,
      "crm:monitoring": "true",
      "crm:management": "true",
      "crm:adminCidr": `${ADMIN}/32`,
      "crm:managementKeys": JSON.stringify([fs.readFileSync(path.join(keys, "id.pub"), "utf8").trim()]),
      ...VALID_SECRETS,
    });
    replay = new Replay(graph, ROOT);
    const t0 = Date.now();
    try {
      await replay.up();
    } finally {
      const steps = replay.steps;
      const longest = (suffix: string) => steps.filter((x) => x.name.endsWith(suffix)).sort((a, b) => b.seconds - a.seconds)[0];
      const show = (x: { name: string; seconds: number } | undefined) => (x ? `${x.name} ${x.seconds.toFixed(1)} s` : "-");
      console.log(
        `      (replay up: ${((Date.now() - t0) / 1000).toFixed(1)} s; image ${show(longest("-image"))}, bundle ${show(longest("-bundle"))}, ` +
          `longest boot ${show(longest("-boot"))}, longest role ${show(longest("-role"))}, Gluster volume ${show(longest("nas-volume"))})`,
      );
    }
  });

  after(async () => {
    if (replay) {
      const t0 = Date.now();
      await replay.destroy(OWNER);
      console.log(`      (replay destroy: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
    run("ip", ["route", "del", ...GUARD]);
  });

  it("serves the CRM at the fw container's published port, 30 requests spread evenly over s1..s3", async () => {
    const replies: Reply[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${PUBLISHED}/login`, { signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      replies.push({ status: res.status, server: res.headers.get("x-backend-server") ?? undefined });
    }
    assert.deepEqual(
      replies.map((r) => r.status),
      Array(30).fill(200),
    );
    assert.deepEqual(spread(replies), { s1: 10, s2: 10, s3: 10 });
  });

  it("serves it to client c1 on the outside network through the firewall, also round-robin", () => {
    assert.deepEqual(
      backendSpreadFrom(inHost, "c1", `http://${SERVICE}/login`),
      SERVERS.map((s) => `10 ${s}`),
    );
  });

  it("a photo uploaded through the firewall is served by every server and lies on all three bricks", async () => {
    const png = uniquePng();
    const browser = new Browser();
    const login = new URLSearchParams({
      _csrf: await browser.csrf("/login"),
      username: "admin",
      password: VALID_SECRETS["crm:adminPassword"],
    });
    assert.ok([302, 303].includes((await browser.request("/login", { method: "POST", body: login })).status), "signed in");
    const form = new FormData();
    form.set("username", `docker${process.pid}`);
    form.set("display_name", "Docker");
    form.set("password", "docker-password-1");
    form.set("role", "salesperson");
    form.set("photo", new Blob([new Uint8Array(png)], { type: "image/png" }), "photo.png");
    const created = await browser.request(await browser.formAction("/users/new", "/users"), { method: "POST", body: form });
    assert.ok([200, 302, 303].includes(created.status), `upload answered ${created.status}`);
    // The app re-encodes photos and names them by the hash of what it stores: the name comes from the page.
    const list = await (await browser.request("/users")).text();
    const name = /\/uploads\/([0-9a-f]{64})\.png/.exec(list)?.[1];
    assert.ok(name, "the users page shows the photo");
    const digest = name;
    // Round-robin: three fetches in a row go to three different servers.
    const servedBy = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const res = await browser.request(`/uploads/${digest}.png`);
      assert.equal(res.status, 200);
      assert.equal(
        createHash("sha256")
          .update(Buffer.from(await res.arrayBuffer()))
          .digest("hex"),
        digest,
      );
      servedBy.add(res.headers.get("x-backend-server") ?? "none");
    }
    assert.deepEqual([...servedBy].sort(), SERVERS);
    for (const nas of ["nas1", "nas2", "nas3"]) {
      assert.equal(inHost(nas, `sha256sum /nas/uploads/${digest}.png | cut -c1-64`).stdout.trim(), digest, `${nas} brick`);
    }
  });

  it("the firewall lets through only ping and TCP/80 to the load balancer (nmap from c1)", () => {
    const scan = inHost(
      "c1",
      `nmap -sS -Pn -p- -n -T5 --min-rate 50000 --max-rtt-timeout 100ms --max-retries 1 -oG - ${ADDRESSES.join(" ")}`,
    );
    assert.equal(scan.status, 0, scan.stderr);
    assert.deepEqual(parseOpenPorts(scan.stdout), [`${SERVICE}:80`]);
    assertUdpClosedAndPingOnlyService(inHost, "c1", ADDRESSES, SERVICE, "10.2.3.11");
  });

  it("optional parts: from c2 (crm:adminCidr) the Nagios page asks for the password, and ges takes the key and refuses passwords", () => {
    assert.equal(inHost("c2", "curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://10.2.3.15/nagios4/").stdout, "401");
    assert.equal(
      inHost("c1", "curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://10.2.3.15/nagios4/").stdout,
      "000",
      "not from c1",
    );
    const ssh = "ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=5";
    const key = inHost("c2", `umask 077; cat >/root/ges-key; ${ssh} -i /root/ges-key root@10.2.3.20 hostname`, sshKey);
    assert.equal(key.stdout.trim(), "ges", key.stderr);
    const password = inHost("c2", `${ssh} -o PreferredAuthentications=password,keyboard-interactive root@10.2.3.20 true`);
    assert.notEqual(password.status, 0, "a password login is refused");
    assert.match(password.stderr, /Permission denied/);
  });

  it("runs beside a vnx scenario on the same machine, when one is up, without touching it", function () {
    if (!/crmlan1 10\.1\.1\./.test(vnxBefore)) {
      console.log("      (no vnx scenario is up on this machine: the mocks test shows the two plans disjoint)");
      this.skip();
    }
    assert.equal(vnxScenario(), vnxBefore, "the vnx stack's containers still run and its bridges keep their addresses");
    assert.match(run("ip", ["-o", "-4", "addr", "show", "crmd-lan1"]).stdout, /10\.2\.1\.254/);
  });

  it("the machine has an address on the outside network only: the inside LANs are behind the firewall", () => {
    const addresses = run("ip", ["-o", "-4", "addr", "show"]).stdout;
    assert.match(addresses, / 10\.2\.1\.254\//);
    assert.doesNotMatch(addresses, / 10\.2\.[234]\./);
  });

  it("a base image that does not exist fails preview and up with a message naming crm:dockerBaseImage; nothing is created", () => {
    const stack = testStack("docker-noimage");
    // On a registry at a closed loopback port: the pull that the preflight tries fails here, without traffic leaving the machine.
    stack.configure({ "crm:target": "docker", "crm:dockerBaseImage": "127.0.0.1:9/crm-no-such-image:1" }, VALID_SECRETS);
    const containers = docker("ps", "--all", "--quiet").stdout;
    failsBeforeAnythingExists(
      stack,
      /crm:dockerBaseImage: image 127\.0\.0\.1:9\/crm-no-such-image:1 is not on the engine at unix:\/\/\/var\/run\/docker\.sock and cannot be pulled/,
    );
    assert.equal(docker("ps", "--all", "--quiet").stdout, containers, "no container was created");
  });

  it("teardown leaves no container, volume or network of the stack", async () => {
    await replay!.destroy(OWNER);
    replay = undefined;
    assert.deepEqual(await leftOnEngine(OWNER), []);
    assert.doesNotMatch(run("ip", ["-o", "link", "show"]).stdout, /crmd-lan/);
  });
});
