/**
 * The end-to-end checks both the vnx and the docker scenario run, given how to run a command on
 * one of their hosts: the same assertions, whatever the substrate.
 */
import assert from "node:assert/strict";
import type { Result } from "./shell";

/** Runs bash on a host of the scenario (lxc-attach on vnx, docker exec on docker). */
export type OnHost = (host: string, script: string) => Result;

/** A 1×1 PNG: small, valid, and unique per run (a text chunk with the time), so its content address is new. */
export function uniquePng(tag: string): Buffer {
  const base = Buffer.from(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000" +
      "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082",
    "hex",
  );
  const text = Buffer.from(`${tag} ${Date.now()} ${process.pid}`);
  const chunk = Buffer.concat([Buffer.from([0, 0, 0, text.length]), Buffer.from("tEXt"), text, Buffer.alloc(4)]);
  // Insert the chunk before IEND (the last 12 bytes). PNG readers skip ancillary chunks; the CRC is not checked by the app.
  return Buffer.concat([base.subarray(0, base.length - 12), chunk, base.subarray(base.length - 12)]);
}

/** From `client`, 30 GETs of `url`: how many each backend answered, as `uniq -c` lines ("10 s1"). */
export function backendSpreadFrom(onHost: OnHost, client: string, url: string): string[] {
  const r = onHost(
    client,
    `for i in $(seq 30); do curl -s -o /dev/null -D - ${url} | tr -d '\\r' | awk -F': ' 'tolower($1)=="x-backend-server"{print $2}'; done | sort | uniq -c`,
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .trim()
    .split("\n")
    .map((l) => l.trim());
}

/** From `client`: no UDP port open on `addresses` (nmap, top 100), the service answers ping, an inside host does not. */
export function assertUdpClosedAndPingOnlyService(
  onHost: OnHost,
  client: string,
  addresses: readonly string[],
  service: string,
  inside: string,
): void {
  const udp = onHost(client, `nmap -sU -Pn -n --top-ports 100 -T5 --max-retries 1 -oG - ${addresses.join(" ")}`);
  assert.equal(udp.status, 0, udp.stderr);
  assert.doesNotMatch(udp.stdout, /\/open\//, "no UDP port is open");
  assert.equal(onHost(client, `ping -c1 -W2 ${service}`).status, 0, "ping of the service works");
  assert.notEqual(onHost(client, `ping -c1 -W1 ${inside}`).status, 0, "ping of an app server is dropped");
}
