/**
 * The end-to-end checks both the vnx and the docker scenario run, given how to run a command on
 * one of their hosts: the same assertions, whatever the substrate.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as zlib from "node:zlib";
import type { Result } from "./shell";

/** Runs bash on a host of the scenario (lxc-attach on vnx, docker exec on docker). */
export type OnHost = (host: string, script: string) => Result;

/**
 * A valid 4×4 PNG of one colour chosen at random, so that the photo stored (the app decodes and
 * re-encodes it) is new on every run and its content address too.
 */
export function uniquePng(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const size = 4;
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const colour = randomBytes(3);
  const row = Buffer.concat([Buffer.from([0]), ...Array.from({ length: size }, () => colour)]); // filter byte, then pixels
  const pixels = zlib.deflateSync(Buffer.concat(Array.from({ length: size }, () => row)));
  const signature = Buffer.from("89504e470d0a1a0a", "hex");
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", pixels), chunk("IEND", Buffer.alloc(0))]);
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
