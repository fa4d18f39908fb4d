/** The load balancer host: HAProxy in front of the app tier. */
import { enableNow, ipForwarding, roleScript, sysctlAtBoot, writeFile } from "./script";
import { vrrpPairSteps, type VrrpPairArgs } from "./vrrp";
import { HTTPS_PORT } from "../topology/plan";

/** HAProxy's backend of the app servers (its servers are named after the hosts: s1, s2 …). */
export const APP_BACKEND = "crm_app";

/** Where the balancer keeps its service certificate: the chain, then the key (HAProxy's crt format). Root-only. */
export const CERTIFICATE_PATH = "/etc/haproxy/certs/crm.pem";

/**
 * TLS as HAProxy offers it to clients: TLS 1.2 and 1.3 only, and for 1.2 only forward-secret
 * AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305), Mozilla's "intermediate" list without its
 * DHE entries (slow, and no client that has TLS 1.2 lacks ECDHE). No session tickets: their key
 * would outlive the forward secrecy the suites give.
 */
export const TLS_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
] as const;
export const TLS13_SUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"] as const;
/** One year of HSTS: browsers then go to HTTPS without asking HTTP first (they ignore it for a bare IP address). */
const HSTS_MAX_AGE = 31_536_000;

export interface HaproxyTls {
  /** Address:port of the HTTPS listener, e.g. 10.1.2.2:443; HTTP (`bind`) then only redirects here. */
  readonly bind: string;
  /** The HTTPS port clients reach, when it is not 443 (the loopback tests'): redirects name it. @default 443 */
  readonly publicPort?: number;
}

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
  /** HTTPS, terminated here with the certificate at {@link CERTIFICATE_PATH}. @default none: HTTP only */
  readonly tls?: HaproxyTls;
}

/**
 * The service's frontend rules for HTTPS: plain HTTP is answered by a permanent redirect (the
 * path and query kept); over TLS the app is told the client's scheme (X-Forwarded-Proto, which
 * the app trusts from the balancer's network), HSTS is sent, and a cookie set without `Secure`
 * gets it (defense in depth: a user's app may not know it sits behind HTTPS).
 */
function tlsFrontend(tls: HaproxyTls): string {
  const port = tls.publicPort ?? HTTPS_PORT;
  const redirect =
    port === HTTPS_PORT
      ? "http-request redirect scheme https code 301 unless { ssl_fc }"
      : `http-request redirect location https://%[req.hdr(host),field(1,:)]:${port}%[capture.req.uri] code 301 unless { ssl_fc }`;
  return `  bind ${tls.bind} ssl crt ${CERTIFICATE_PATH} alpn h2,http/1.1
  ${redirect}
  http-request set-header X-Forwarded-Proto https
  http-response set-header Strict-Transport-Security "max-age=${HSTS_MAX_AGE}"
  http-response replace-header Set-Cookie '^((?:(?!;[ ]*[Ss][Ee][Cc][Uu][Rr][Ee](?:;|$)).)*)$' '\\1; Secure'
`;
}

const TLS_GLOBAL = (ciphers: string) => `  ssl-default-bind-ciphers ${ciphers}
  ssl-default-bind-ciphersuites ${TLS13_SUITES.join(":")}
  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
`;

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
${args.tls ? TLS_GLOBAL(TLS_CIPHERS.join(":")) : ""}
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
${args.tls ? tlsFrontend(args.tls) : ""}  default_backend ${APP_BACKEND}

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

/** A service certificate as PEM: the chain (leaf first) and its private key (a secret). */
export interface ServiceCertificate {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** HAProxy's crt file: the chain, then the key, each ending in a newline. */
export function certificateFile(c: ServiceCertificate): string {
  const line = (pem: string) => (pem.endsWith("\n") ? pem : `${pem}\n`);
  return line(c.certificatePem) + line(c.privateKeyPem);
}

/** keepalived's check on a balancer of a pair: the addresses stay only where HAProxy runs. */
export const HAPROXY_ALIVE = "/usr/bin/systemctl is-active --quiet haproxy.service";

/**
 * The lb host. As a member of a pair (crm:frontHa), HAProxy binds the shared addresses on both
 * members while only one holds them (ip_nonlocal_bind), so a takeover needs no HAProxy reload.
 */
export function balancerRoleScript(args: HaproxyArgs, pair?: VrrpPairArgs, certificate?: ServiceCertificate): string {
  if (args.tls && !certificate) throw new Error("balancerRoleScript: HTTPS needs the service certificate");
  const reload =
    "haproxy -c -q -f /etc/haproxy/haproxy.cfg && { systemctl is-active --quiet haproxy && systemctl reload haproxy || true; }";
  return roleScript(
    pair ? `balancer (${pair.member})` : "balancer",
    ipForwarding(),
    ...(pair ? [sysctlAtBoot("nonlocal-bind", { "net.ipv4.ip_nonlocal_bind": "1" })] : []),
    // Before the configuration that names it; a renewed certificate is taken by a reload.
    ...(args.tls && certificate ? [writeFile(CERTIFICATE_PATH, certificateFile(certificate), { mode: "0600", onChange: reload })] : []),
    writeFile("/etc/haproxy/haproxy.cfg", renderHaproxyConfig(args), { onChange: reload }),
    enableNow("haproxy.service"),
    ...(pair ? [vrrpPairSteps({ ...pair, check: pair.check ?? HAPROXY_ALIVE }, "haproxy.service")] : []),
  );
}
