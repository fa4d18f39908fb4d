import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { balancerRoleScript, CERTIFICATE_PATH, certificateFile, renderHaproxyConfig, type HaproxyArgs } from "../../roles/balancer";
import type { CertificateOutputs } from "../../tls/certificate";
import { made } from "../support/certificates";
import { freePort, hasCommand, run, runAsync, tempDir } from "../support/shell";

const args: HaproxyArgs = {
  bind: "10.1.2.2:80",
  backends: [1, 2, 3].map((i) => ({ name: `s${i}`, address: `10.1.3.1${i}`, port: 3000 })),
  algorithm: "roundrobin",
  healthPath: "/healthz",
  statsBind: "10.1.3.1:8404",
};

describe("haproxy.cfg", () => {
  const cfg = renderHaproxyConfig(args);

  it("balances round-robin over every app server with an HTTP health check", () => {
    assert.match(cfg, /balance roundrobin/);
    assert.match(cfg, /option httpchk GET \/healthz/);
    for (const i of [1, 2, 3]) assert.match(cfg, new RegExp(`server s${i} 10\\.1\\.3\\.1${i}:3000 check`));
  });

  it("takes a dead server out within 2 s and retries only idempotent requests on another server", () => {
    assert.match(cfg, /inter 1s .*fall 2/);
    assert.match(cfg, /retries 3/);
    assert.match(cfg, /option redispatch 1/);
    assert.match(cfg, /retry-on conn-failure empty-response response-timeout 502 503 504/);
    assert.match(cfg, /http-request disable-l7-retry unless idempotent/);
  });

  it("keeps its idle timeout below the app's keep-alive (65 s)", () => {
    const idle = Number(/timeout http-keep-alive (\d+)s/.exec(cfg)![1]);
    assert.ok(idle < 65, `http-keep-alive ${idle}s`);
  });

  it("is a configuration HAProxy itself accepts", function () {
    if (!hasCommand("haproxy")) this.skip();
    const file = path.join(tempDir("haproxy"), "haproxy.cfg");
    fs.writeFileSync(file, cfg.replace(/stats socket .*\n/, ""));
    const r = run("haproxy", ["-c", "-f", file]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});

describe("haproxy.cfg with HTTPS, run by HAProxy on loopback in front of a stand-in app", function () {
  this.timeout(60_000);
  let dir: string;
  let ca: CertificateOutputs;
  let ports: { http: number; https: number; app: number };
  let haproxy: ChildProcess | undefined;
  let app: http.Server | undefined;
  const seen: { proto?: string }[] = [];

  before(async function () {
    if (!hasCommand("haproxy")) this.skip();
    dir = tempDir("haproxy-tls");
    ports = { http: await freePort(), https: await freePort(), app: await freePort() };
    ca = await made({ commonName: "test CA", isCa: true, validityDays: 400 });
    const leaf = await made({ commonName: "lb", isCa: false, ipAddresses: ["127.0.0.1"], validityDays: 100 }, ca);
    fs.writeFileSync(path.join(dir, "ca.pem"), ca.certificatePem);
    fs.writeFileSync(path.join(dir, "crm.pem"), certificateFile(leaf), { mode: 0o600 });
    // The app sets one cookie without Secure (as a user's app may) and one with it (as the CRM does).
    app = http.createServer((req, res) => {
      seen.push({ proto: req.headers["x-forwarded-proto"] as string | undefined });
      res.setHeader("Set-Cookie", ["plain=1; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT; HttpOnly", "marked=2; Path=/; Secure"]);
      res.end("ok");
    });
    await new Promise<void>((resolve) => app!.listen(ports.app, "127.0.0.1", resolve));
    const cfg = renderHaproxyConfig({
      bind: `127.0.0.1:${ports.http}`,
      backends: [{ name: "s1", address: "127.0.0.1", port: ports.app }],
      algorithm: "roundrobin",
      tls: { bind: `127.0.0.1:${ports.https}`, publicPort: ports.https },
    })
      .replace(/stats socket .*\n/, "")
      .replace(/log \/dev\/log.*\n/, "")
      .replace(CERTIFICATE_PATH, path.join(dir, "crm.pem"));
    fs.writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
    haproxy = spawn("haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], { stdio: "ignore" });
    for (let i = 0; i < 50 && run("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${ports.https}`]).status !== 0; i++)
      await new Promise((r) => setTimeout(r, 100));
  });

  after(() => {
    haproxy?.kill();
    app?.close();
  });

  // Not spawnSync: the stand-in app answers from this process's event loop.
  const curl = async (...args: string[]) =>
    (await runAsync("curl", ["-sS", "-o", "/dev/null", "-D", "-", "--cacert", path.join(dir, "ca.pem"), ...args])).stdout;
  const handshake = (...args: string[]) =>
    run("openssl", ["s_client", "-connect", `127.0.0.1:${ports.https}`, "-CAfile", path.join(dir, "ca.pem"), ...args], { input: "" });

  it("answers plain HTTP with a permanent redirect to the same path over HTTPS", async () => {
    const head = await curl(`http://127.0.0.1:${ports.http}/customers?page=2`);
    assert.match(head, /^HTTP\/1\.1 301/);
    assert.match(head, new RegExp(`location: https://127\\.0\\.0\\.1:${ports.https}/customers\\?page=2\\r?\\n`, "i"));
    assert.equal(seen.length, 0, "the app never saw the plain request");
  });

  it("over HTTPS (the chain valid against the CA), sends HSTS, marks every cookie Secure once, and tells the app the scheme", async () => {
    const head = await curl(`https://127.0.0.1:${ports.https}/`);
    assert.match(head, /^HTTP\/2 200/);
    assert.match(head, /strict-transport-security: max-age=31536000/i);
    const cookies = head.split("\n").filter((l) => /^set-cookie:/i.test(l));
    assert.equal(cookies.length, 2, head);
    for (const c of cookies) assert.equal((c.match(/;\s*secure/gi) ?? []).length, 1, c);
    assert.deepEqual(seen.at(-1), { proto: "https" });
  });

  it("speaks TLS 1.2 and 1.3 only, and in 1.2 only forward-secret AEAD suites", () => {
    assert.equal(handshake("-tls1_3").status, 0);
    const tls12 = handshake("-tls1_2");
    assert.equal(tls12.status, 0);
    assert.match(tls12.stdout, /Verify return code: 0 \(ok\)/);
    assert.match(tls12.stdout, /Cipher is ECDHE-ECDSA-AES(128|256)-GCM-SHA(256|384)/);
    assert.notEqual(handshake("-tls1_1").status, 0, "TLS 1.1 refused");
    for (const weak of ["AES128-SHA", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA256", "AES128-GCM-SHA256"])
      assert.notEqual(handshake("-tls1_2", "-cipher", weak).status, 0, weak);
  });
});

describe("the balancer's role with HTTPS", () => {
  const pem = {
    certificatePem: "-----BEGIN CERTIFICATE-----\nc\n-----END CERTIFICATE-----",
    privateKeyPem: "-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n",
  };
  const tlsArgs: HaproxyArgs = { ...args, tls: { bind: "10.1.2.2:443" } };

  it("writes the certificate (root-only) before the configuration that names it, and reloads HAProxy when it changes", () => {
    const script = balancerRoleScript(tlsArgs, undefined, pem);
    const certAt = script.indexOf(`crm_write '${CERTIFICATE_PATH}' 0600`);
    assert.ok(certAt > 0 && certAt < script.indexOf("crm_write '/etc/haproxy/haproxy.cfg'"), "certificate first, mode 0600");
    assert.ok(script.includes(certificateFile(pem)));
    assert.match(
      script.slice(certAt),
      /then haproxy -c -q -f \/etc\/haproxy\/haproxy\.cfg && \{ systemctl is-active --quiet haproxy && systemctl reload haproxy/,
    );
  });

  it("redirects to 443 by scheme alone, and HTTPS is absent from an HTTP-only configuration (the docker target's balancer)", () => {
    assert.match(renderHaproxyConfig(tlsArgs), /http-request redirect scheme https code 301 unless \{ ssl_fc \}/);
    assert.doesNotMatch(renderHaproxyConfig(args), /ssl|Strict-Transport|redirect/);
    assert.throws(() => balancerRoleScript(tlsArgs), /HTTPS needs the service certificate/);
  });
});
