/**
 * Reaching into the running vnx scenario: commands inside its containers, HTTP through the
 * firewall and the load balancer, and the state it leaves on this machine. Traffic goes only to
 * the scenario's own addresses, which the safety route keeps on this machine.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { scenarioTrafficStaysLocal } from "./guard";
import { run, runAsync, type Result } from "./shell";

export const ROOT = path.resolve(__dirname, "../..");
export const SERVICE = "10.1.2.2";
const SCENARIO_CONTAINER = /^crm-(fw2?|lb2?|s\d+|nas[1-3]|bbdd2?|c[12]|nagios|ges)$/;

/** Runs a shell command inside a scenario container. */
export function inContainer(host: string, command: string, input?: string): Result {
  return run("lxc-attach", ["-n", `crm-${host}`, "--clear-env", "--", "bash", "-c", command], { input });
}

export function scenarioContainers(): string[] {
  return run("lxc-ls", ["-1"])
    .stdout.split("\n")
    .filter((n) => SCENARIO_CONTAINER.test(n));
}

/** Runs a program of this machine in a scenario host's network namespace (tools the image does not have, such as sslscan). */
export function inNetworkOf(host: string, command: string, args: readonly string[]): Result {
  const pid = run("lxc-info", ["-n", `crm-${host}`, "-p", "-H"]).stdout.trim();
  if (!/^\d+$/.test(pid)) throw new Error(`crm-${host} is not running`);
  return run("nsenter", ["-t", pid, "-n", "--", command, ...args]);
}

/**
 * `host:port` of every TCP port nmap finds open (SYN scan of all ports, no ping) from a scenario
 * host. Bounded: a scan still running after `seconds` is stopped and fails the caller (a partial
 * scan would under-report what is open).
 */
export function openTcpPorts(from: string, targets: readonly string[], seconds = 300): string[] {
  const scan = inContainer(from, `timeout ${seconds} nmap -sS -Pn -p- -n -T5 --min-rate 20000 --max-retries 1 -oG - ${targets.join(" ")}`);
  if (scan.status === 124) throw new Error(`nmap did not finish within ${seconds} s`);
  if (scan.status !== 0) throw new Error(`nmap failed: ${scan.stderr}`);
  return parseOpenPorts(scan.stdout);
}

/** `host:port` of every open TCP port in nmap's grepable output (-oG -). */
export function parseOpenPorts(grepable: string): string[] {
  return [...grepable.matchAll(/Host: (\S+).*?Ports: (.*)/g)]
    .flatMap(([, host, ports]) =>
      ports
        .split(", ")
        .filter((p) => p.split("/")[1] === "open")
        .map((p) => `${host}:${p.split("/")[0]}`),
    )
    .sort();
}

/** What the vnx target may leave on the machine: must be empty after `destroy`. */
export function leftovers(): string[] {
  const found: string[] = scenarioContainers().map((c) => `container ${c}`);
  const sh = (cmd: string) => run("bash", ["-c", cmd]).stdout.trim();
  const bridges = sh("ip -o link show type bridge | awk -F': ' '{print $2}' | grep '^crmlan' || true");
  // The tests' own guard route (metric 4001, see guard.ts) is not the stack's.
  const routes = sh("ip route show | grep '^\\(unreachable \\)\\?10\\.1\\.' | grep -v 'metric 4001' || true");
  const addresses = sh("ip -o addr show | grep ' 10\\.1\\.' || true");
  const mounts = sh("grep -E 'glusterfs|/var/lib/lxc/crm-(fw|lb|s[0-9]|nas|bbdd|c[12])' /proc/mounts || true");
  const rules = sh("(iptables -S 2>/dev/null; ip6tables -S 2>/dev/null) | grep crm-vnx || true");
  for (const [what, text] of Object.entries({ bridge: bridges, route: routes, address: addresses, mount: mounts, rule: rules })) {
    if (text) found.push(...text.split("\n").map((l) => `${what} ${l}`));
  }
  return found;
}

/**
 * What a deployment could change on the machine itself: firewall rules (iptables and nftables,
 * counters left out), routes, links, mounts and the sysctls that Docker and we care about. Taken
 * before `up` and after `destroy`, the two must be equal (see README, "What stays").
 */
export function machineState(): Record<string, string[]> {
  const lines = (cmd: string) =>
    run("bash", ["-c", cmd])
      .stdout.split("\n")
      .map((l) => l.replace(/\[\d+:\d+\]|counter packets \d+ bytes \d+/g, "").trimEnd())
      .filter((l) => l !== "" && !l.startsWith("#"))
      .sort();
  return {
    iptables: lines("iptables-save; ip6tables-save"),
    nftables: lines("nft list ruleset 2>/dev/null || true"),
    routes: lines("ip route show table all | grep -v ' proto kernel '; ip -6 route show table all | grep -v ' proto kernel '"),
    links: lines("ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//'"),
    mounts: lines("awk '{ print $2, $3 }' /proc/mounts"),
    sysctls: lines("sysctl net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables 2>/dev/null || true"),
  };
}

/** The lines that differ between two machine states, as `+ what line` / `- what line`. */
export function stateDifference(before: Record<string, string[]>, after: Record<string, string[]>): string[] {
  return Object.keys(before).flatMap((what) => [
    ...after[what].filter((l) => !before[what].includes(l)).map((l) => `+ ${what} ${l}`),
    ...before[what].filter((l) => !after[what].includes(l)).map((l) => `- ${what} ${l}`),
  ]);
}

/**
 * The owner recorded on each scenario container and bridge (crm/<stack>; "" when none), so the
 * tests can tell their own leftovers from a stack of the user's.
 */
function scenarioOwners(): Map<string, string> {
  const lxcPath = run("lxc-config", ["lxc.lxcpath"]).stdout.trim() || "/var/lib/lxc";
  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : "");
  const owners = new Map(scenarioContainers().map((c) => [`container ${c}`, read(path.join(lxcPath, c, "crm-owner"))]));
  for (const bridge of ["crmlan1", "crmlan2", "crmlan3", "crmlan4"]) {
    if (fs.existsSync(`/sys/class/net/${bridge}`))
      owners.set(`bridge ${bridge}`, read(`/sys/class/net/${bridge}/ifalias`).replace(/^crm-infra /, ""));
  }
  return owners;
}

/**
 * Removes scenario containers and networks that no stack owns any more (a crashed earlier run of
 * the tests, whose stacks keep their state in /var/tmp/crm-infra-<stack>, or of `testStack`). A scenario of another
 * stack, such as the user's own `vnx`, is never removed: the tests stop and say so.
 */
export function removeStaleScenario(testStack: string): void {
  const ours = (owner: string) => owner === `crm/${testStack}` || fs.existsSync(`/var/tmp/crm-infra-${owner.replace(/^crm\//, "")}`);
  const foreign = [...scenarioOwners()].filter(([, owner]) => owner && !ours(owner));
  if (foreign.length > 0) {
    const list = foreign.map(([what, owner]) => `${what} (${owner})`).join(", ");
    throw new Error(
      `the scenario's names are taken by another stack: ${list}. Destroy it first (e.g. scripts/vnx down), then run the tests again.`,
    );
  }
  for (const c of scenarioContainers()) run(path.join(ROOT, "targets/vnx/scripts/host.sh"), ["destroy", c]);
  run(path.join(ROOT, "targets/vnx/scripts/network.sh"), ["down"]);
}

export interface Reply {
  readonly status: number;
  readonly server?: string;
  /** Why there was no answer (status 0). */
  readonly error?: string;
}

let agent: https.Agent | undefined;
let trusted: string | undefined;

/**
 * From now on, `get` trusts this CA and no other (the stack output caCertificate, which
 * deployScenario passes after every `up`): a certificate that does not chain to it, or does not
 * name the service address, fails the request like a browser would.
 */
export function trustServiceCa(pem: string): void {
  // The same CA after another `up`: keep the agent, whose connections a running stream is using.
  if (pem === trusted) return;
  agent?.destroy();
  agent = new https.Agent({ keepAlive: true, maxSockets: 8, ca: pem });
  trusted = pem;
}

/**
 * One GET through the load balancer, over HTTPS; a network or certificate error counts as status 0.
 * A request that fails on a kept-alive connection the server had already closed is sent once more
 * on a new one, as browsers do (and as Node's documentation advises: `reusedSocket`).
 */
export async function get(pathname: string, host = SERVICE, timeoutMs = 10_000): Promise<Reply> {
  if (!scenarioTrafficStaysLocal()) throw new Error(`refusing to send traffic to ${host}: no local route keeps it on this machine`);
  const trusting = agent;
  if (!trusting) throw new Error("no CA to check the service's certificate against: call trustServiceCa first");
  const once = () =>
    new Promise<{ reply: Reply; stale: boolean }>((resolve) => {
      const req = https.get({ host, port: 443, path: pathname, agent: trusting, timeout: timeoutMs }, (res) => {
        res.resume();
        const server = res.headers["x-backend-server"] as string | undefined;
        res.on("end", () => resolve({ reply: { status: res.statusCode ?? 0, server }, stale: false }));
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", (e: NodeJS.ErrnoException) =>
        resolve({ reply: { status: 0, error: e.message }, stale: req.reusedSocket && e.code === "ECONNRESET" }),
      );
    });
  const first = await once();
  return first.stale ? (await once()).reply : first.reply;
}

/** How many of `replies` each server answered. */
export function spread(replies: readonly Reply[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of replies) counts[r.server ?? "none"] = (counts[r.server ?? "none"] ?? 0) + 1;
  return counts;
}

/**
 * A steady stream of GETs with a few in flight at once, until `stop()` — bounded by `maxRequests`
 * so it always ends. Collects every reply.
 */
export function loadStream(pathname: string, opts: { concurrency: number; maxRequests: number }) {
  const replies: Reply[] = [];
  let stopped = false;
  const worker = async () => {
    while (!stopped && replies.length < opts.maxRequests) {
      replies.push(await get(pathname));
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const done = Promise.all(Array.from({ length: opts.concurrency }, worker));
  return {
    replies,
    async stop(): Promise<Reply[]> {
      stopped = true;
      await done;
      return replies;
    },
  };
}

/** Polls `check` every second until it is true or `seconds` pass; returns the seconds it took. */
export async function waitFor(
  what: string,
  seconds: number,
  check: () => boolean | Promise<boolean>,
  lastSeen?: () => string,
): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < seconds * 1000) {
    if (await check()) return (Date.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
  }
  // What was seen last says which part was not there, rather than only that the whole was not.
  throw new Error(`${what}: not within ${seconds} s${lastSeen ? `; last seen: ${lastSeen()}` : ""}`);
}

/** Which servers HAProxy currently sees as UP, from its statistics page (CSV) on lb's front side. */
export function serversUp(): string[] {
  const r = inContainer("lb", "curl -fsS 'http://10.1.3.1:8404/;csv'");
  return r.stdout
    .split("\n")
    .map((l) => l.split(","))
    .filter((f) => f[0] === "crm_app" && f[1] !== "BACKEND" && f[1] !== "FRONTEND" && f[17]?.startsWith("UP"))
    .map((f) => f[1]);
}

/** What a client stream saw: every answer's status, and the longest time without a good one. */
export interface StreamResult {
  readonly total: number;
  /** The statuses that were not 200 (000: no answer). */
  readonly failed: string[];
  /** The longest time, in seconds, between two consecutive 200s (or from the start to the first). */
  readonly longestGap: number;
}

/** Reads the stream's lines, `STATUS EPOCH_SECONDS` each (when the answer came), after its start time. */
export function streamResult(output: string): StreamResult {
  const lines = output.split("\n").filter(Boolean);
  const [start, ...answers] = lines;
  const parsed = answers.map((l) => {
    const [code, at] = l.split(" ");
    return { code, at: Number(at) };
  });
  let last = Number(start);
  let longestGap = 0;
  for (const a of parsed.filter((p) => p.code === "200")) {
    longestGap = Math.max(longestGap, a.at - last);
    last = a.at;
  }
  return { total: parsed.length, failed: parsed.filter((p) => p.code !== "200").map((p) => p.code), longestGap };
}

/**
 * A stream of GETs from a client container (c1, outside the firewall) to the service, as a user
 * would send them (over HTTPS; the clients trust the stack's CA): at most `maxRequests`, for at most `seconds`, until `stop()`. Returns each
 * answer's HTTP status (000 for a failed connection) and the longest gap between good answers.
 */
export function clientStream(client: string, opts: { seconds: number; maxRequests: number }) {
  const loop = `end=$((SECONDS + ${opts.seconds})); n=0; echo "$EPOCHREALTIME"
while ((SECONDS < end && n < ${opts.maxRequests})) && [ ! -e /tmp/crm-stream.stop ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 https://${SERVICE}/login || true)
  echo "\${code:-000} $EPOCHREALTIME"; n=$((n + 1)); sleep 0.02
done`;
  inContainer(client, "rm -f /tmp/crm-stream.stop");
  const done = runAsync("lxc-attach", ["-n", `crm-${client}`, "--clear-env", "--", "bash", "-c", loop]);
  return {
    async stop(): Promise<StreamResult> {
      inContainer(client, "touch /tmp/crm-stream.stop");
      return streamResult((await done).stdout);
    },
  };
}
