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

/** What uploadPhoto saw: the stored file's name and, fetched through each other server, the sha256 of its bytes. */
export interface UploadedPhoto {
  readonly name: string;
  readonly served: readonly string[];
}

/**
 * Signs in as admin at `app` (an app server's host:port; the password in $ADMIN_PASSWORD), creates a
 * user with a new photo (uniquePng, on stdin of `onHost`), then fetches the photo through each of
 * `others` (host:port of the other servers) with the same session. The app re-encodes photos and names
 * them by the hash of what it stores: the name comes from the users page.
 *
 * The app servers speak plain HTTP on their LAN; behind HTTPS (issue 12) their cookies are Secure,
 * which curl neither stores from nor sends to a plain-HTTP origin. So the script does what the
 * balancer does, saying the client came over HTTPS (X-Forwarded-Proto, which the app trusts from
 * its LAN), and carries the cookies itself.
 */
export function uploadPhoto(onHost: (script: string, input: Buffer) => Result, app: string, others: readonly string[]): UploadedPhoto {
  const script = `set -euo pipefail
photo=$(mktemp); list=$(mktemp); cookies=$(mktemp); cat >"$photo"
# app_curl ARGS...: curl as a browser behind the balancer: it sends the cookies it was given so far
# (a file, so that a call in $(...) keeps what it got), and keeps each new one.
app_curl() {
  local heads sent opt=() c
  heads=$(mktemp); sent=$(paste -sd';' "$cookies")
  [ -z "$sent" ] || opt=(-b "$sent")
  curl -fsS -H 'X-Forwarded-Proto: https' -D "$heads" "\${opt[@]}" "$@"
  tr -d '\\r' <"$heads" | sed -n 's/^[Ss]et-[Cc]ookie: *\\([^;]*\\).*/\\1/p' | while IFS= read -r c; do
    awk -F= -v n="\${c%%=*}" '$1 != n' "$cookies" >"$cookies.new"; echo "$c" >>"$cookies.new"; mv "$cookies.new" "$cookies"
  done
}
# A form's CSRF token, from its hidden field.
token() { app_curl "http://${app}$1" | sed -n 's/.*name="_csrf" value="\\([^"]*\\)".*/\\1/p' | head -1; }
# A multipart form's token is in its URL: it is checked before the body is read.
form_token() { app_curl "http://${app}$1" | grep -o 'action="[^"]*?_csrf=[^"]*' | sed -n "s|^action=.$2?_csrf=||p" | head -1; }
t=$(token /login); app_curl -o /dev/null --data-urlencode "_csrf=$t" --data-urlencode username=admin --data-urlencode "password=$ADMIN_PASSWORD" http://${app}/login
t=$(form_token /users/new /users); app_curl -L -o "$list" -F username=e2e$$ -F display_name=E2E -F password=e2e-password-1 -F role=salesperson -F "photo=@$photo;type=image/png" "http://${app}/users?_csrf=$t"
name=$(grep -o '/uploads/[0-9a-f]\\{64\\}\\.[a-z]*' "$list" | head -1)
[ -n "$name" ] || { echo "the users page shows no photo" >&2; exit 1; }
echo "\${name#/uploads/}"
# The same session, connected to each other server in turn.
for other in ${others.join(" ")}; do
  out=$(mktemp)
  code=$(app_curl --connect-to "${app}:$other" -o "$out" -w '%{http_code}' "http://${app}$name")
  [ "$code" = 200 ] || { echo "$other answered $code" >&2; exit 1; }
  sha256sum "$out" | cut -c1-64
done`;
  const r = onHost(script, uniquePng());
  assert.equal(r.status, 0, r.stderr);
  const [name, ...served] = r.stdout.trim().split("\n");
  assert.equal(served.length, others.length, r.stdout);
  for (const hash of served) assert.equal(hash, name.split(".")[0], "every server serves the stored bytes, named by their hash");
  return { name, served };
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
