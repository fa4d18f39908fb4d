/**
 * An HTTPS front on loopback for an app running here, made by the project's own code: a CA and a
 * certificate for 127.0.0.1 from the certificate resource's provider (openssl), and haproxy.cfg
 * from roles/balancer.ts with HTTPS. The app's browser test (app/test/browser.test.ts) runs
 * Chromium through it, with the CA trusted, so the browser sees what users of the stack see.
 *
 *   node --import tsx test/support/httpsFront.ts BACKEND_HOST:PORT DIR
 *
 * Writes DIR/ca.pem, DIR/crm.pem and DIR/haproxy.cfg and prints {"ca","config","http","https"}
 * as JSON; the caller runs `haproxy -db -f CONFIG` and stops it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CERTIFICATE_PATH, certificateFile, renderHaproxyConfig } from "../../roles/balancer";
import { made } from "./certificates";
import { freePort } from "./shell";

async function main(): Promise<void> {
  const [backend, dir] = process.argv.slice(2);
  const [host, port] = (backend ?? "").split(":");
  if (!host || !Number(port) || !dir) throw new Error("usage: httpsFront.ts BACKEND_HOST:PORT DIR");
  const ca = await made({ commonName: "crm-infra browser-test CA", isCa: true, validityDays: 60 });
  const leaf = await made({ commonName: "crm-infra browser-test front", isCa: false, ipAddresses: ["127.0.0.1"], validityDays: 40 }, ca);
  const files = { ca: path.join(dir, "ca.pem"), crt: path.join(dir, "crm.pem"), config: path.join(dir, "haproxy.cfg") };
  fs.writeFileSync(files.ca, ca.certificatePem);
  fs.writeFileSync(files.crt, certificateFile(leaf), { mode: 0o600 });
  const ports = { http: await freePort(), https: await freePort() };
  const config = renderHaproxyConfig({
    bind: `127.0.0.1:${ports.http}`,
    backends: [{ name: "app", address: host, port: Number(port) }],
    algorithm: "roundrobin",
    healthPath: "/healthz",
    tls: { bind: `127.0.0.1:${ports.https}`, publicPort: ports.https },
  })
    // Not root's files on this machine: no admin socket, no syslog, the certificate in DIR.
    .replace(/ {2}stats socket .*\n/, "")
    .replace(/ {2}log \/dev\/log.*\n/, "")
    .replace(CERTIFICATE_PATH, files.crt);
  fs.writeFileSync(files.config, config);
  console.log(JSON.stringify({ ca: files.ca, config: files.config, ...ports }));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
