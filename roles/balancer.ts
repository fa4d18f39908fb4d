/** The load balancer host: HAProxy in front of the app tier. */
import { enableNow, ipForwarding, roleScript, sysctlAtBoot, writeFile } from "./script";
import { vrrpPairSteps, type VrrpPairArgs } from "./vrrp";

/** HAProxy's backend of the app servers (its servers are named after the hosts: s1, s2 …). */
export const APP_BACKEND = "crm_app";

/** Port of HAProxy's read-only statistics page on the balancer's front side (for monitoring). */
export const STATS_PORT = 8404;

export interface Backend {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

export interface HaproxyArgs {
  /** Address:port the service listens on (the scenario's entry point). */
  readonly bind: string;
  readonly backends: readonly Backend[];
  readonly algorithm: "roundrobin" | "leastconn";
  /** GET this path, expecting 200; without one, the check is a TCP connect. */
  readonly healthPath?: string;
  /** Where the read-only statistics page listens (for monitoring), e.g. 10.1.3.1:8404. */
  readonly statsBind?: string;
}

/**
 * haproxy.cfg. Timings follow the design's reliability targets: checks every 1 s and a dead
 * server out after 2 failures; connection failures and, for idempotent requests only, empty
 * responses, timeouts and 502/503/504 are retried on another server, so losing a server loses
 * no GET. The client idle timeout (60 s) stays below the app's keep-alive (65 s), so HAProxy,
 * not the app, closes idle connections.
 */
export function renderHaproxyConfig(args: HaproxyArgs): string {
  const servers = args.backends.map((b) => `  server ${b.name} ${b.address}:${b.port} check`).join("\n");
  const stats = args.statsBind
    ? `
frontend stats
  bind ${args.statsBind}
  stats enable
  stats uri /
  stats refresh 5s
  stats show-node
  no log
`
    : "";
  return `# crm-infra load balancer (generated)
global
  log /dev/log local0
  maxconn 4096
  stats socket /run/haproxy/admin.sock mode 660 level admin
  stats timeout 30s

defaults
  mode http
  log global
  option httplog
  option dontlognull
  option forwardfor
  # On reload, close an idle client connection only after answering its next request, so a
  # client reusing a kept-alive connection never meets a reset (the reload race).
  option idle-close-on-response
  timeout connect 2s
  timeout client 60s
  timeout http-keep-alive 60s
  timeout http-request 10s
  timeout server 30s
  timeout queue 10s
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response response-timeout 502 503 504

frontend crm
  bind ${args.bind}
  default_backend ${APP_BACKEND}

backend ${APP_BACKEND}
  balance ${args.algorithm}
${args.healthPath ? `  option httpchk GET ${args.healthPath}\n  http-check expect status 200\n` : ""}  default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 2 observe layer4 error-limit 1 on-error fastinter
  # Only requests that are safe to repeat are retried after the server may have seen them.
  acl idempotent method GET HEAD OPTIONS PUT DELETE
  http-request disable-l7-retry unless idempotent
  http-response set-header X-Backend-Server %s
${servers}
${stats}`;
}

/** keepalived's check on a balancer of a pair: the addresses stay only where HAProxy runs. */
export const HAPROXY_ALIVE = "/usr/bin/systemctl is-active --quiet haproxy.service";

/**
 * The lb host. As a member of a pair (crm:frontHa), HAProxy binds the shared addresses on both
 * members while only one holds them (ip_nonlocal_bind), so a takeover needs no HAProxy reload.
 */
export function balancerRoleScript(args: HaproxyArgs, pair?: VrrpPairArgs): string {
  return roleScript(
    pair ? `balancer (${pair.member})` : "balancer",
    ipForwarding(),
    ...(pair ? [sysctlAtBoot("nonlocal-bind", { "net.ipv4.ip_nonlocal_bind": "1" })] : []),
    writeFile("/etc/haproxy/haproxy.cfg", renderHaproxyConfig(args), {
      onChange: "haproxy -c -q -f /etc/haproxy/haproxy.cfg && { systemctl is-active --quiet haproxy && systemctl reload haproxy || true; }",
    }),
    enableNow("haproxy.service"),
    ...(pair ? [vrrpPairSteps({ ...pair, check: pair.check ?? HAPROXY_ALIVE }, "haproxy.service")] : []),
  );
}
