/**
 * The rehearsal's side effects: images, the app bundle, and a layout (layout.ts) brought up as
 * LXC containers on rh-* bridges by substrate.sh. Every container gets its files before it boots
 * (the NoCloud seed, the stand-ins' configurations) and its filters before its init starts.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BUNDLE_SCRIPT, bundleArchivePath, sourcesDigest } from "../../targets/cloud/bundle";
import { imageName, NODE_BINARY, PROJECT_ROOT } from "../../targets/vnx/recipe";
import { hashPaths } from "../../targets/vnx/recipe";
import { run, runAsync, type Result } from "../support/shell";
import { IMDS_ADDRESS, INTERNET, tierMembers, type Layout, type RehearsalHost } from "./layout";
import { naclRuleset, securityGroupRuleset } from "./nft";
import { balancerConfig, fetchesBundle, redirectBundle, type Member } from "./standIns";

const SUBSTRATE = path.join(__dirname, "substrate.sh");
const IMAGE_SCRIPT = path.join(__dirname, "image.sh");
const STORE_SCRIPT = path.join(__dirname, "store.mjs");
const VNX_IMAGE_SCRIPT = path.join(PROJECT_ROOT, "targets/vnx/scripts/image.sh");
/** Where the store's stand-in keeps its request log, inside its container. */
export const STORE_LOG = "/var/log/rh-store.log";

function must(r: Result, what: string): Result {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return r;
}

export function substrate(...args: string[]): Result {
  return must(run(SUBSTRATE, args), `substrate.sh ${args[0]}`);
}

/** The vnx base image (built if missing, as the vnx stack would), then the rehearsal's image on it. */
export function rehearsalImage(): string {
  const base = imageName();
  must(run(VNX_IMAGE_SCRIPT, [base, path.join(PROJECT_ROOT, NODE_BINARY)]), "the vnx base image");
  const name = `rh-image-${hashPaths([IMAGE_SCRIPT])}${createHash("sha256").update(base).digest("hex").slice(0, 4)}`;
  must(run(IMAGE_SCRIPT, [name, base]), "the rehearsal image");
  return name;
}

/** The app bundle both clouds upload (bundle-archive.sh, as the stack's AppBundle builds it), and its digest. */
export function appBundle(): { archive: string; sha256: string } {
  const archive = bundleArchivePath(sourcesDigest());
  if (!fs.existsSync(archive)) must(run("bash", [BUNDLE_SCRIPT, archive]), "the app bundle");
  return { archive, sha256: createHash("sha256").update(fs.readFileSync(archive)).digest("hex") };
}

function write(file: string, content: string | Buffer, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode });
}

/** A unit enabled in the container's tree (the symlink systemctl enable makes). */
function enable(files: string, unitPath: string): void {
  const link = path.join(files, "etc/systemd/system/multi-user.target.wants", path.basename(unitPath));
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(unitPath, link);
}

export interface StageContext {
  readonly layout: Layout;
  readonly image: string;
  readonly bundle: { archive: string; sha256: string };
  /** Load-balancer members (app servers) at start. */
  readonly members: readonly Member[];
}

/** The spec directory substrate.sh reads for one container. */
function spec(ctx: StageContext, host: RehearsalHost, dir: string): void {
  const { layout } = ctx;
  const files = path.join(dir, "files");
  write(path.join(dir, "nics"), host.nics.map((n) => `${n.bridge} ${n.address}/${n.prefix} ${n.gateway ?? ""}`.trim()).join("\n") + "\n");
  const netns: string[] = [];
  if (host.tier) write(path.join(dir, "nft"), securityGroupRuleset(host.tier, layout.rules, tierMembers(layout.hosts)));
  if (host.userData !== undefined) {
    const userData = fetchesBundle(host.userData) ? redirectBundle(host.userData).userData : host.userData;
    write(path.join(files, "var/lib/cloud/seed/nocloud/user-data"), userData, 0o600);
    write(path.join(files, "var/lib/cloud/seed/nocloud/meta-data"), `instance-id: ${host.container}\nlocal-hostname: ${host.host}\n`);
  }
  // The stand-ins have no seed: cloud-init stays out of their way.
  else write(path.join(files, "etc/cloud/cloud-init.disabled"), "");
  if (host.disk) write(path.join(dir, "disk"), host.disk);
  if (host.role === "app") write(path.join(dir, "fuse"), "");
  switch (host.kind) {
    case "router":
      write(path.join(dir, "forward"), "");
      if (layout.nacls.length > 0) write(path.join(dir, "nft"), naclRuleset(layout.nacls));
      netns.push(`route add ${IMDS_ADDRESS}/32 via ${INTERNET.store}`);
      break;
    case "store": {
      netns.push(`addr add ${IMDS_ADDRESS}/32 dev lo`);
      const bundlePaths = layout.hosts.filter((h) => h.userData && fetchesBundle(h.userData)).map((h) => redirectBundle(h.userData!).path);
      for (const p of new Set(bundlePaths)) {
        fs.mkdirSync(path.dirname(path.join(files, "srv/store", p)), { recursive: true });
        fs.copyFileSync(ctx.bundle.archive, path.join(files, "srv/store", p));
      }
      write(path.join(files, "opt/rh/store.mjs"), fs.readFileSync(STORE_SCRIPT));
      write(
        path.join(files, "etc/systemd/system/rh-store.service"),
        `[Unit]\nDescription=rehearsal object store and metadata service\n[Service]\nExecStart=/usr/local/bin/node /opt/rh/store.mjs /srv/store ${STORE_LOG}\n[Install]\nWantedBy=multi-user.target\n`,
      );
      enable(files, "/etc/systemd/system/rh-store.service");
      break;
    }
    case "balancer":
      write(path.join(files, "etc/haproxy/haproxy.cfg"), balancerConfig(layout.health, host.nics[0].address, ctx.members));
      enable(files, "/lib/systemd/system/haproxy.service");
      break;
    default:
      break;
  }
  if (netns.length > 0) write(path.join(dir, "netns"), netns.join("\n") + "\n");
}

/** Starts one container of the layout. */
export function startHost(ctx: StageContext, host: RehearsalHost): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-rh-"));
  try {
    spec(ctx, host, dir);
    substrate("start", host.container, ctx.image, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** bash on a container, root, a clean environment (plus `env`). */
export function onHost(container: string, script: string, opts: { input?: string | Buffer; env?: Record<string, string> } = {}): Result {
  const vars = Object.entries(opts.env ?? {}).flatMap(([k, v]) => ["--set-var", `${k}=${v}`]);
  return run("lxc-attach", ["-n", container, "--clear-env", ...vars, "--", "bash", "-c", script], { input: opts.input });
}

export function onHostAsync(container: string, script: string): Promise<Result> {
  return runAsync("lxc-attach", ["-n", container, "--clear-env", "--", "bash", "-c", script]);
}

/** nft commands in a container's network namespace (its security group's sets). */
export function nftIn(container: string, commands: string): void {
  must(run(SUBSTRATE, ["nft", container], { input: commands }), `nft in ${container}`);
}

/**
 * Waits for cloud-init on a host: until its status is final (bounded), then `cloud-init status
 * --wait` itself, whose answer is the verdict. On anything but done, the bootstrap's log.
 */
export async function cloudInitResult(container: string, seconds: number): Promise<{ status: number; report: string }> {
  const r = await onHostAsync(
    container,
    // A deadline, not a count: each `cloud-init status` itself takes up to 2 s on a loaded machine.
    `deadline=$((SECONDS + ${seconds}))
while ((SECONDS < deadline)); do
  case "$(cloud-init status 2>/dev/null | sed -n 's/^status: //p')" in done|error|degraded*) break ;; esac
  sleep 1
done
timeout 10 cloud-init status --wait --long; rc=$?
[ "$rc" = 0 ] || tail -n 40 /var/log/crm-bootstrap.log /var/log/cloud-init-output.log 2>/dev/null
exit "$rc"`,
  );
  return { status: r.status, report: r.stdout + r.stderr };
}

/** Which of `targets` ("address:port") a container opens a TCP connection to within 3 s, all probed at once; sorted. */
export function openFrom(container: string, targets: readonly string[]): string[] {
  const r = onHost(
    container,
    `for t in ${targets.join(" ")}; do (timeout 3 bash -c "</dev/tcp/\${t%:*}/\${t##*:}" 2>/dev/null && echo "$t") & done; wait`,
  );
  return r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .sort();
}

/** A listener on a container's port (systemd-run, so that it outlives lxc-attach): what a probe connects to. */
export function listen(container: string, port: number): void {
  must(
    onHost(
      container,
      `systemctl is-active --quiet rh-listen-${port} || systemd-run --quiet --unit rh-listen-${port} /usr/local/bin/node -e 'require("net").createServer((s) => s.end()).listen(${port})' &&
for _ in $(seq 50); do ss -Hltn "sport = :${port}" | grep -q . && exit 0; sleep 0.1; done; exit 1`,
    ),
    `a listener on ${container}:${port}`,
  );
}
