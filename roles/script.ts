/**
 * Building blocks for role scripts: idempotent bash that turns a plain Debian host into one
 * role of the scenario. The same text runs on every target (piped into `lxc-attach` on vnx,
 * as cloud-init user data on the clouds), so it may rely only on what the base image has.
 */

/**
 * Where a role records the hash of every file it manages, so that a hand edit can be seen from
 * outside (`sha256sum -c`): the vnx target's refresh reads it (see {@link managedFilesCheck}).
 */
export const MANAGED_RECORD = "/var/lib/crm-infra/managed.sha256";

/**
 * Bash functions every role script starts with. `crm_write` reports through its exit status whether
 * it changed the file, and notes the file as managed (in a list file, so a write from a pipeline's
 * subshell counts too).
 */
const PRELUDE = `set -euo pipefail
umask 022
CRM_MANAGED_LIST=$(mktemp)
trap 'rm -f "$CRM_MANAGED_LIST"' EXIT
# crm_write PATH MODE < content: replace PATH only when the content differs; status 0 = changed.
crm_write() {
  local tmp
  echo "$1" >>"$CRM_MANAGED_LIST"
  mkdir -p "$(dirname "$1")"
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  chmod "$2" "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  mv "$tmp" "$1"
}
# crm_retry SECONDS DESCRIPTION CMD...: run CMD until it succeeds, for at most SECONDS.
crm_retry() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    if ((SECONDS >= deadline)); then echo "crm: timed out waiting for $what" >&2; return 1; fi
    sleep 1
  done
}`;

/** The last step of every role: the hashes of the files it wrote, replaced as a whole. */
const RECORD_MANAGED = `mkdir -p ${MANAGED_RECORD.replace(/\/[^/]+$/, "")}
sort -u "$CRM_MANAGED_LIST" | tr '\\n' '\\0' | xargs -0 -r sha256sum >${MANAGED_RECORD}.new
mv ${MANAGED_RECORD}.new ${MANAGED_RECORD}`;

/**
 * Shell, run on the host, that prints `intact` when every file the last role run wrote is as it
 * left it, else `drifted:` and the edited files.
 */
export const managedFilesCheck = `if [ ! -f ${MANAGED_RECORD} ]; then echo unrecorded; elif bad=$(sha256sum -c --quiet ${MANAGED_RECORD} 2>/dev/null | cut -d: -f1 | tr '\\n' ' '); [ -z "$bad" ]; then echo intact; else echo "drifted: $bad"; fi`;

/** A complete role script: the prelude, then each step in order. */
export function roleScript(role: string, ...steps: string[]): string {
  return [
    `#!/bin/bash`,
    `# crm-infra role: ${role} (generated; safe to run again)`,
    PRELUDE,
    ...steps,
    RECORD_MANAGED,
    `echo "crm: role ${role} configured"`,
    "",
  ].join("\n");
}

/** A quoted heredoc delimiter that the content cannot end early. */
function delimiterFor(content: string): string {
  let delimiter = "CRM_EOF";
  while (content.split("\n").includes(delimiter)) delimiter += "_";
  return delimiter;
}

/**
 * Writes a file; when it changed, runs `onChange` (e.g. a reload).
 * The heredoc is quoted, so the content is written byte for byte, with no shell expansion.
 */
export function writeFile(path: string, content: string, opts: { mode?: string; onChange?: string } = {}): string {
  const body = content.endsWith("\n") ? content : `${content}\n`;
  const delimiter = delimiterFor(body);
  const command = `crm_write ${shellPath(path)} ${opts.mode ?? "0644"} <<'${delimiter}'`;
  const heredoc = `${body}${delimiter}`;
  // Whatever follows the command must stand on its first line: the heredoc body comes after it.
  return opts.onChange ? `if ${command}\n${heredoc}\nthen ${opts.onChange}; fi` : `${command} || true\n${heredoc}`;
}

/** A path for bash: double-quoted when it refers to a script variable (`$PG_ETC/…`), else single-quoted. */
function shellPath(path: string): string {
  return /^\$[A-Z_]+\//.test(path) ? `"${path}"` : shellQuote(path);
}

/** Single-quotes a value for bash. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Enables a unit and makes sure it runs now; `restart` when its configuration changed. */
export function enableNow(unit: string): string {
  return `systemctl enable --quiet ${unit}\nsystemctl is-active --quiet ${unit} || systemctl start ${unit}`;
}

/** A systemd unit file rendered from sections, so every unit the roles write has one shape. */
export function systemdUnit(sections: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>): string {
  return Object.entries(sections)
    .map(([section, keys]) => {
      const lines = Object.entries(keys).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((item) => `${k}=${item}`));
      return [`[${section}]`, ...lines].join("\n");
    })
    .join("\n\n")
    .concat("\n");
}

/**
 * Applies kernel settings now and at every boot, through a unit of its own: containers skip
 * systemd-sysctl (their /proc/sys is read-only but for the network namespace's own keys).
 */
export function sysctlAtBoot(name: string, settings: Readonly<Record<string, string>>): string {
  const assignments = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  const unit = systemdUnit({
    Unit: { Description: `crm: ${name} (sysctl)`, Before: "network.target" },
    Service: { Type: "oneshot", RemainAfterExit: "yes", ExecStart: assignments.map((a) => `/usr/sbin/sysctl -w ${shellQuote(a)}`) },
    Install: { WantedBy: "multi-user.target" },
  });
  const file = `/etc/systemd/system/crm-${name}.service`;
  return [
    writeFile(file, unit, { onChange: `systemctl daemon-reload; systemctl restart crm-${name}.service` }),
    enableNow(`crm-${name}.service`),
  ].join("\n");
}

/** Turns on IPv4 forwarding (the firewall and the balancer route between LANs). */
export function ipForwarding(): string {
  return sysctlAtBoot("forwarding", { "net.ipv4.ip_forward": "1" });
}
