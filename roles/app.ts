/**
 * The application servers: the app under systemd, uploads on the GlusterFS volume. The app is the
 * project's own CRM, or another Node.js app of the user's (crm:app), started by its own command
 * with its own variables and once-only commands (roles/files/crm-once).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { AppEnvSource, AppSettings } from "../topology/settings";
import { renderGlusterMountUnit } from "./nas";
import { dbProxyStep, type DbProxyArgs } from "./patroni";
import { enableNow, roleScript, shellQuote, systemdUnit, writeFile } from "./script";

export const APP_USER_ID = 990;
export const UPLOADS_MOUNT = "/mnt/nas";
export const UPLOAD_DIR = `${UPLOADS_MOUNT}/uploads`;
export const APP_DIR = "/opt/crm";
export const HEALTH_PATH = "/healthz";

export interface AppRoleArgs {
  /** Address the app listens on (the server's front-LAN address). */
  readonly listen: string;
  readonly port: number;
  /** Secret: the complete postgres:// URL with the password. */
  readonly databaseUrl: string;
  readonly sessionSecret: string;
  readonly adminPassword: string;
  readonly volume: string;
  /** Gluster servers: the first is the volfile server, the others its backups. */
  readonly glusterServers: readonly string[];
  /**
   * Shell that puts the app bundle into /opt/crm (dist/, node_modules/ …). Empty when the target
   * has already copied it (vnx); a download on the clouds.
   */
  readonly installApp?: string;
  /** Another app instead of the project's CRM (crm:app). */
  readonly custom?: CustomApp;
  /** The balancer in front terminates TLS: the CRM's cookies are Secure, and it sends HSTS. @default false */
  readonly behindHttps?: boolean;
  /** A replicated database: DATABASE_URL points at a local HAProxy that follows Patroni's leader. @default none */
  readonly databaseProxy?: DbProxyArgs;
}

/** A user's app as its servers run it: the bundle (with its Node.js in .crm-runtime/bin) is in /opt/crm. */
export interface CustomApp {
  /** Run in /opt/crm by sh, with the bundled Node.js first on PATH. */
  readonly start: string;
  /** Answers 200 when healthy; without one, the checks are TCP connects. */
  readonly healthPath?: string;
  /** The app's variables, values resolved (secrets included: the file is mode 0600). */
  readonly env: Readonly<Record<string, string>>;
  readonly migrate: readonly string[];
  readonly seed: readonly string[];
  /** An absolute upload folder the app expects: linked to the volume. (A relative one is linked inside each release.) */
  readonly absoluteUploadDir?: string;
}

/** What the deployment gives an app: the values its variables can take (AppSettings.env's sources). */
export interface AppEnvValues {
  readonly databaseUrl: string;
  readonly sessionSecret: string;
}

/** The value of each source an app's variable can name, from the database URL and the secrets. */
export function appEnvSources(values: AppEnvValues): Record<AppEnvSource, string> {
  const url = new URL(values.databaseUrl);
  return {
    databaseUrl: values.databaseUrl,
    databaseHost: url.hostname,
    databasePort: url.port || "5432",
    databaseUser: decodeURIComponent(url.username),
    databasePassword: decodeURIComponent(url.password),
    databaseName: url.pathname.replace(/^\//, ""),
    sessionSecret: values.sessionSecret,
    uploadDir: UPLOAD_DIR,
  };
}

/** The app's variables: each mapped from a source of the deployment, or a fixed value. */
export function customAppEnv(mapping: AppSettings["env"], values: AppEnvValues): Record<string, string> {
  const sources = appEnvSources(values);
  return Object.fromEntries(Object.entries(mapping).map(([name, v]) => [name, "from" in v ? sources[v.from] : v.value]));
}

/** crm.service's environment (DATABASE_URL and the secrets): the role writes it, systemd and crm-once read it. */
export const APP_ENV_FILE = "/etc/crm/crm.env";
/** The database URL a custom app's once-only commands connect with (crm-once). */
const ONCE_ENV = "/etc/crm/once.env";
const ONCE_PATH = "/usr/local/sbin/crm-once";
/** The CRM's contract migrations, on every server of the project's CRM: the deployment runs it on one (roles/files/crm-contract). */
export const CONTRACT_PATH = "/usr/local/sbin/crm-contract";

/** The environment file of crm.service; holds secrets, so it is written mode 0600. */
export function renderAppEnv(args: AppRoleArgs): string {
  const env: Record<string, string> = args.custom?.env ?? {
    NODE_ENV: "production",
    HOST: args.listen,
    PORT: String(args.port),
    DATABASE_URL: args.databaseUrl,
    SESSION_SECRET: args.sessionSecret,
    ADMIN_PASSWORD: args.adminPassword,
    UPLOAD_DIR,
    // Every target puts exactly one balancer in front of the servers (HAProxy on vnx and docker, Octavia on
    // openstack, the ALB on aws), and each appends the client's address to X-Forwarded-For: the
    // app trusts that one entry, not the ones a client may have sent itself.
    TRUST_PROXY_HOPS: "1",
    // Only where HTTPS is in front: a Secure cookie over plain HTTP is never sent back, and nobody could sign in.
    ...(args.behindHttps ? { COOKIE_SECURE: "true" } : {}),
  };
  // systemd's EnvironmentFile takes double-quoted values with backslash escapes of \ " $ and `, exactly
  // as a shell does: crm-once sources the same file with bash.
  return Object.entries(env)
    .map(([k, v]) => `${k}="${v.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`)
    .join("\n");
}

/** A command for systemd's ExecStart: run by sh; systemd's own specifiers and variables escaped. */
function systemdShell(command: string): string {
  const escaped = command.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%").replace(/\$/g, "$$$$");
  return `/bin/sh -c "exec ${escaped}"`;
}

export function renderAppUnit(custom?: CustomApp): string {
  const once = custom && custom.migrate.length + custom.seed.length > 0;
  const run = custom
    ? {
        Environment: `PATH=${APP_DIR}/.crm-runtime/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
        // As root ("+"): it reads the database URL it needs, then runs the commands as the app's user.
        ...(once ? { ExecStartPre: `+${ONCE_PATH}`, TimeoutStartSec: "15min" } : {}),
        ExecStart: systemdShell(custom.start),
      }
    : { ExecStart: `/usr/local/bin/node ${APP_DIR}/dist/server.js` };
  return systemdUnit({
    Unit: {
      Description: "CRM application",
      After: ["network-online.target", "crm-uploads.service"],
      Wants: ["network-online.target", "crm-uploads.service"],
    },
    Service: {
      User: "crm",
      Group: "crm",
      EnvironmentFile: APP_ENV_FILE,
      WorkingDirectory: APP_DIR,
      ...run,
      // The app drains in-flight requests on SIGTERM; give it time before SIGKILL.
      KillSignal: "SIGTERM",
      TimeoutStopSec: "20",
      Restart: "always",
      RestartSec: "2",
      NoNewPrivileges: "yes",
      ProtectSystem: "full",
      ProtectHome: "yes",
      PrivateTmp: "yes",
    },
    Install: { WantedBy: "multi-user.target" },
  });
}

/**
 * Mounts the uploads volume and keeps trying until it succeeds, so a server that boots before the
 * storage hosts still gets its mount (a plain mount unit gives up at once). The app's health check
 * fails while UPLOAD_DIR is missing, which keeps the server out of the load balancer meanwhile.
 */
export function renderUploadsUnit(args: Pick<AppRoleArgs, "volume" | "glusterServers">): string {
  return renderGlusterMountUnit({
    description: "mount the uploads volume",
    mountpoint: UPLOADS_MOUNT,
    volume: args.volume,
    servers: args.glusterServers,
  });
}

export function appRoleScript(args: AppRoleArgs): string {
  return roleScript(
    "app",
    `getent group crm >/dev/null || groupadd --system --gid ${APP_USER_ID} crm
getent passwd crm >/dev/null || useradd --system --uid ${APP_USER_ID} --gid crm --home-dir ${APP_DIR} --shell /usr/sbin/nologin crm
mkdir -p ${UPLOADS_MOUNT}`,
    args.installApp ?? "",
    `test -f ${APP_DIR}/${args.custom ? "package.json" : "dist/server.js"} || { echo "crm: the app is missing from ${APP_DIR}" >&2; exit 1; }`,
    writeFile("/etc/systemd/system/crm-uploads.service", renderUploadsUnit(args), { onChange: "systemctl daemon-reload" }),
    enableNow("crm-uploads.service"),
    `crm_retry 120 "the uploads volume" mountpoint -q ${UPLOADS_MOUNT}
install -d -o crm -g crm -m 0750 ${UPLOAD_DIR}`,
    // The endpoint first: the app's migrations at start connect through it.
    args.databaseProxy ? dbProxyStep(args.databaseProxy) : "",
    writeFile(APP_ENV_FILE, renderAppEnv(args), { mode: "0600", onChange: "CRM_RESTART=1" }),
    ...(args.custom
      ? customAppFiles(args.custom, args.databaseUrl)
      : [writeFile(CONTRACT_PATH, fs.readFileSync(path.join(__dirname, "files/crm-contract"), "utf8"), { mode: "0755" })]),
    writeFile("/etc/systemd/system/crm.service", renderAppUnit(args.custom), { onChange: "systemctl daemon-reload; CRM_RESTART=1" }),
    `systemctl enable --quiet crm.service
if [ "\${CRM_RESTART:-0}" = 1 ]; then crm_start=restart; elif systemctl is-active --quiet crm.service; then crm_start=; else crm_start=start; fi
# systemctl only says "see journalctl": the user of pulumi up needs the app's own words.
if [ -n "$crm_start" ] && ! systemctl "$crm_start" crm.service; then
  echo "crm: crm.service did not start; the last lines of its log:" >&2
  journalctl -u crm.service -n 20 --no-pager -o cat >&2
  exit 1
fi`,
    healthWait(args),
  );
}

/** Waits until the app answers its health path with 200, or, without one, accepts connections. */
function healthWait(args: AppRoleArgs): string {
  const healthPath = args.custom ? args.custom.healthPath : HEALTH_PATH;
  return healthPath
    ? `crm_retry 60 "the app to report healthy" curl -fsS -o /dev/null http://${args.listen}:${args.port}${healthPath}`
    : `crm_retry 60 "the app to accept connections" bash -c 'exec 3<>/dev/tcp/${args.listen}/${args.port}'`;
}

/** A custom app's extra files: its once-only commands and their runner, and an absolute upload folder's link. */
function customAppFiles(custom: CustomApp, databaseUrl: string): string[] {
  const commands = (list: readonly string[]) => `# crm-infra (generated): run by crm-once in ${APP_DIR}\n${list.join("\n")}\n`;
  const files = [
    writeFile(ONCE_PATH, fs.readFileSync(path.join(__dirname, "files/crm-once"), "utf8"), { mode: "0755" }),
    writeFile(ONCE_ENV, `CRM_ONCE_DATABASE_URL=${shellQuote(databaseUrl)}\n`, { mode: "0600" }),
    writeFile("/etc/crm/migrate.sh", commands(custom.migrate)),
    writeFile("/etc/crm/seed.sh", commands(custom.seed)),
  ];
  if (custom.absoluteUploadDir) {
    const dir = shellQuote(custom.absoluteUploadDir);
    files.push(`mkdir -p "$(dirname ${dir})"; [ -L ${dir} ] || { rm -rf ${dir}; ln -s ${UPLOAD_DIR} ${dir}; }`);
  }
  return files;
}
