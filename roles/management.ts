/**
 * The management host "ges" (optional part 6 of the seed): operators reach it over SSH from the
 * clients, with public keys only (RSA as the seed asks, or Ed25519), and manage the scenario from it.
 *
 * Operators log in as root (PermitRootLogin prohibit-password, AllowUsers root): the host exists only
 * to administer the scenario, every operator key would need full sudo anyway, and the base image need
 * not carry sudo. The authorized keys are the access list; sshd logs which key (fingerprint) logged in.
 */
import { enableNow, roleScript, shellQuote, writeFile } from "./script";

export interface ManagedHost {
  readonly name: string;
  readonly address: string;
}

export interface ManagementArgs {
  /** OpenSSH public keys of the operators, one per entry: `ssh-rsa` (≥ 3072 bits) or `ssh-ed25519`. */
  readonly authorizedKeys: readonly string[];
  /** The management host's front-LAN address; sshd listens there only. */
  readonly listen: string;
  /** Hosts an operator on ges can address by name (/etc/hosts) and list with `crm-hosts`. */
  readonly managedHosts: readonly ManagedHost[];
}

/**
 * sshd keeps the first value it reads for most options and Debian's sshd_config includes
 * sshd_config.d/*.conf (sorted) before its own lines, so "00-" makes ours win over any later drop-in
 * (cloud images ship e.g. 50-cloud-init.conf, which may turn password login on).
 */
export const SSHD_DROP_IN = "/etc/ssh/sshd_config.d/00-crm.conf";
export const MIN_RSA_BITS = 3072;
export const HOSTS_BEGIN = "# BEGIN crm-infra managed hosts";
export const HOSTS_END = "# END crm-infra managed hosts";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOST_NAME = /^[a-z][a-z0-9-]*$/;

/** The drop-in: key-only login, on the management address only. */
export function renderSshdConfig(listen: string): string {
  if (!IPV4.test(listen)) throw new Error(`management: invalid listen address ${JSON.stringify(listen)}`);
  return `# crm-infra management host (generated): SSH with public keys only
ListenAddress ${listen}
PubkeyAuthentication yes
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitRootLogin prohibit-password
AllowUsers root
# RSA keys sign with SHA-2 (the SHA-1 "ssh-rsa" signature is off); short RSA keys are refused.
PubkeyAcceptedAlgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256
RequiredRSASize ${MIN_RSA_BITS}
MaxAuthTries 3
LoginGraceTime 30
X11Forwarding no
`;
}

/** Reads the SSH wire format's length-prefixed strings. */
class WireReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer | undefined {
    if (this.offset + 4 > this.buf.length) return undefined;
    const len = this.buf.readUInt32BE(this.offset);
    if (this.offset + 4 + len > this.buf.length) return undefined;
    const value = this.buf.subarray(this.offset + 4, this.offset + 4 + len);
    this.offset += 4 + len;
    return value;
  }
  get done(): boolean {
    return this.offset === this.buf.length;
  }
}

/** Bits in an unsigned big-endian integer (an mpint; a leading zero byte only keeps it positive). */
function bitLength(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  return i === n.length ? 0 : (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]));
}

/**
 * Checks one authorized_keys entry: `ssh-rsa|ssh-ed25519 BASE64 [comment]`, one line, no options
 * (`command=`, `from=`…), a blob that really holds a key of the declared type, RSA ≥ 3072 bits.
 * Returns what is wrong, or undefined when the key is acceptable.
 */
export function validatePublicKey(key: string): string | undefined {
  if (/[\r\n\0]/.test(key)) return "a key must be a single line";
  const m = /^(ssh-rsa|ssh-ed25519) ([A-Za-z0-9+/]+={0,2})(?: ([^\x00-\x1f\x7f]*))?$/.exec(key.trim());
  if (!m) return "expected 'ssh-rsa' or 'ssh-ed25519', one space, the base64 key and an optional comment (no options)";
  const [, type, b64] = m;
  const blob = Buffer.from(b64, "base64");
  if (blob.toString("base64") !== b64) return "the key is not valid base64";
  const reader = new WireReader(blob);
  if (reader.string()?.toString("latin1") !== type) return `the key blob is not an ${type} key`;
  if (type === "ssh-ed25519") {
    if (reader.string()?.length !== 32 || !reader.done) return "malformed ssh-ed25519 key";
    return undefined;
  }
  const exponent = reader.string();
  const modulus = reader.string();
  if (!exponent || !modulus || !reader.done) return "malformed ssh-rsa key";
  const bits = bitLength(modulus);
  if (bits < MIN_RSA_BITS) return `RSA key of ${bits} bits: at least ${MIN_RSA_BITS} are required`;
  return undefined;
}

/** root's authorized_keys; throws on the first unacceptable key (and when there is none: nobody could log in). */
export function renderAuthorizedKeys(keys: readonly string[]): string {
  if (keys.length === 0) throw new Error("management: at least one authorized key is required");
  keys.forEach((k, i) => {
    const problem = validatePublicKey(k);
    if (problem) throw new Error(`management: authorized key ${i + 1}: ${problem}`);
  });
  return `${keys.map((k) => k.trim()).join("\n")}\n`;
}

function validateHosts(hosts: readonly ManagedHost[]): void {
  for (const h of hosts) {
    if (!HOST_NAME.test(h.name)) throw new Error(`management: invalid host name ${JSON.stringify(h.name)}`);
    if (!IPV4.test(h.address)) throw new Error(`management: host ${h.name} has an invalid address ${JSON.stringify(h.address)}`);
  }
}

/**
 * Script step: replaces the crm-infra block of a hosts file (or appends one), keeping every other line.
 * Rewrites the file only when the block changed.
 */
export function etcHostsStep(file: string, hosts: readonly ManagedHost[]): string {
  validateHosts(hosts);
  const block = [HOSTS_BEGIN, ...hosts.map((h) => `${h.address}\t${h.name}`), HOSTS_END].join("\n");
  const f = shellQuote(file);
  return `{ sed ${shellQuote(`/^${HOSTS_BEGIN}$/,/^${HOSTS_END}$/d`)} ${f}; cat <<'CRM_HOSTS'
${block}
CRM_HOSTS
} | crm_write ${f} 0644 || true`;
}

/** /usr/local/sbin/crm-hosts: lists the managed hosts; `--check` pings each once. */
export function renderCrmHosts(hosts: readonly ManagedHost[]): string {
  validateHosts(hosts);
  return `#!/bin/sh
# crm-infra (generated): the scenario's hosts, as this management host knows them (also in /etc/hosts).
# usage: crm-hosts [--check]    --check pings each host once
set -u
while read -r name address; do
  if [ "\${1:-}" = --check ]; then
    if ping -c 1 -W 1 "$address" >/dev/null 2>&1; then state=up; else state=DOWN; fi
    printf '%-8s %-15s %s\\n' "$name" "$address" "$state"
  else
    printf '%-8s %s\\n' "$name" "$address"
  fi
done <<'CRM_HOSTS'
${hosts.map((h) => `${h.name} ${h.address}`).join("\n")}
CRM_HOSTS
`;
}

/** What sshd must really do once every drop-in is read (`sshd -T` prints the effective values; extended regexes). */
const EFFECTIVE = [
  "passwordauthentication no",
  "kbdinteractiveauthentication no",
  "authenticationmethods publickey",
  "permitrootlogin (without|prohibit)-password",
];

export function managementRoleScript(args: ManagementArgs): string {
  return roleScript(
    "management",
    `CRM_SSH_RELOAD=0
# Host keys: generates only the missing ones.
ssh-keygen -A
install -d -m 0700 /root/.ssh`,
    writeFile("/root/.ssh/authorized_keys", renderAuthorizedKeys(args.authorizedKeys), { mode: "0600" }),
    writeFile(SSHD_DROP_IN, renderSshdConfig(args.listen), { onChange: "CRM_SSH_RELOAD=1" }),
    `# sshd -t needs its privilege separation directory, which ssh.service creates only when it starts.
install -d -m 0755 /run/sshd
sshd -t
CRM_SSHD_EFFECTIVE=$(sshd -T)
for want in ${EFFECTIVE.map(shellQuote).join(" ")}; do
  grep -qxE "$want" <<<"$CRM_SSHD_EFFECTIVE" || { echo "crm: sshd would not apply '$want' (another drop-in overrides it?)" >&2; exit 1; }
done
systemctl enable --quiet ssh.service
# A reload (SIGHUP) makes sshd re-execute itself, so a new ListenAddress applies too; open sessions stay.
if [ "$CRM_SSH_RELOAD" = 1 ] && systemctl is-active --quiet ssh.service; then systemctl reload ssh.service; fi`,
    enableNow("ssh.service"),
    etcHostsStep("/etc/hosts", args.managedHosts),
    writeFile("/usr/local/sbin/crm-hosts", renderCrmHosts(args.managedHosts), { mode: "0755" }),
  );
}
