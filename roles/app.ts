/** The CRM application servers: the app under systemd, uploads on the GlusterFS volume. */
import { renderGlusterMountUnit } from "./nas";
import { enableNow, roleScript, systemdUnit, writeFile } from "./script";

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
}

/** The environment file of crm.service; holds secrets, so it is written mode 0600. */
export function renderAppEnv(args: AppRoleArgs): string {
  const env: Record<string, string> = {
    NODE_ENV: "production",
    HOST: args.listen,
    PORT: String(args.port),
    DATABASE_URL: args.databaseUrl,
    SESSION_SECRET: args.sessionSecret,
    ADMIN_PASSWORD: args.adminPassword,
    UPLOAD_DIR,
  };
  // systemd's EnvironmentFile accepts double-quoted values with backslash escapes.
  return Object.entries(env)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`)
    .join("\n");
}

export function renderAppUnit(): string {
  return systemdUnit({
    Unit: {
      Description: "CRM application",
      After: ["network-online.target", "crm-uploads.service"],
      Wants: ["network-online.target", "crm-uploads.service"],
    },
    Service: {
      User: "crm",
      Group: "crm",
      EnvironmentFile: "/etc/crm/crm.env",
      WorkingDirectory: APP_DIR,
      ExecStart: `/usr/local/bin/node ${APP_DIR}/dist/server.js`,
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
    `test -f ${APP_DIR}/dist/server.js || { echo "crm: the app is missing from ${APP_DIR}" >&2; exit 1; }`,
    writeFile("/etc/systemd/system/crm-uploads.service", renderUploadsUnit(args), { onChange: "systemctl daemon-reload" }),
    enableNow("crm-uploads.service"),
    `crm_retry 120 "the uploads volume" mountpoint -q ${UPLOADS_MOUNT}
install -d -o crm -g crm -m 0750 ${UPLOAD_DIR}`,
    writeFile("/etc/crm/crm.env", renderAppEnv(args), { mode: "0600", onChange: "CRM_RESTART=1" }),
    writeFile("/etc/systemd/system/crm.service", renderAppUnit(), { onChange: "systemctl daemon-reload; CRM_RESTART=1" }),
    `systemctl enable --quiet crm.service
if [ "\${CRM_RESTART:-0}" = 1 ]; then systemctl restart crm.service; else systemctl is-active --quiet crm.service || systemctl start crm.service; fi
crm_retry 60 "the app to report healthy" curl -fsS -o /dev/null http://${args.listen}:${args.port}${HEALTH_PATH}`,
  );
}
