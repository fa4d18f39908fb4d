/**
 * The rehearsal's stand-ins for what a cloud provides and this machine has not: the load
 * balancer (HAProxy configured from the target group's or the Octavia monitor's health check),
 * and the object store (store.mjs, which also answers as EC2's metadata service), to which only
 * the host of the bundle's URL is redirected. Pure renderers.
 */
import { parseCloudInit, CLOUD_CONFIG_HEADER, type CloudConfig } from "../../targets/cloud/cloudinit";
import { INTERNET, type HealthCheck } from "./layout";

/** Where the stand-in's HAProxy reports its servers' state (inside its container only). */
export const STATS_URL = "http://127.0.0.1:8404/stats;csv";

export interface Member {
  readonly name: string;
  readonly address: string;
}

/** haproxy.cfg of the load balancer's stand-in: the cloud's health check, interval, thresholds and pool. */
export function balancerConfig(health: HealthCheck, bind: string, members: readonly Member[]): string {
  if (!Number.isInteger(health.status)) throw new Error("the stand-in expects one HTTP status");
  return `global
  log stdout format raw local0
defaults
  mode http
  timeout connect ${health.timeoutSeconds}s
  timeout client ${health.clientTimeoutSeconds}s
  timeout server ${health.clientTimeoutSeconds}s
frontend service
  bind ${bind}:80
  default_backend members
backend members
  balance ${health.algorithm}
  option httpchk GET ${health.path}
  http-check expect status ${health.status}
  timeout check ${health.timeoutSeconds}s
  default-server inter ${health.intervalSeconds}s rise ${health.rise} fall ${health.fall}
${members.map((m) => `  server ${m.name} ${m.address}:${health.memberPort} check`).join("\n")}
listen stats
  bind 127.0.0.1:8404
  stats enable
  stats uri /stats
`;
}

/** The servers HAProxy reports UP, from its CSV statistics. */
export function serversUp(csv: string): string[] {
  return csv
    .split("\n")
    .map((l) => l.split(","))
    .filter((f) => f[0] === "members" && f[1] !== "BACKEND" && f[17] === "UP")
    .map((f) => f[1]);
}

/** The bundle's URL in an app server's user data (an S3 or Swift object named by its digest). */
const BUNDLE_URL = /https:\/\/([^/'"\s]+)(\/[^'"\s]*\/app-[0-9a-f]{64}\.tar\.gz)/;

/** The one substitution in the user data: the bundle's `https://HOST/PATH` becomes `http://STORE/HOST/PATH`. */
export function redirectBundle(userData: string): { userData: string; path: string } {
  let path = "";
  const config = parseCloudInit(userData);
  const files = config.write_files.map((f) => {
    const m = BUNDLE_URL.exec(f.content);
    if (!m) return f;
    path = `/${m[1]}${m[2]}`;
    return { ...f, content: f.content.replace(m[0], `http://${INTERNET.store}${path}`) };
  });
  if (path === "") throw new Error("no bundle URL in this user data");
  const redirected: CloudConfig = { ...config, write_files: files };
  return { userData: CLOUD_CONFIG_HEADER + JSON.stringify(redirected, null, 1) + "\n", path };
}

/** Whether a user data fetches the bundle (app servers). */
export function fetchesBundle(userData: string): boolean {
  return parseCloudInit(userData).write_files.some((f) => BUNDLE_URL.test(f.content));
}
