/** Nagios in tests: a rendered service check as the command Nagios would run, and a deployed Nagios's status. */
import { run } from "./shell";

/** The Nagios host of the vnx plan (crm:monitoring), on the app LAN. */
export const NAGIOS = "10.1.3.15";

/** Nagios's status (statusjson.cgi), asked from c1 with the password: `query=hostlist`, `query=servicelist&hostname=…`. */
export function nagiosStatus<T>(password: string, query: string): T | undefined {
  const r = run("lxc-attach", [
    "-n",
    "crm-c1",
    "--clear-env",
    "--set-var",
    `NAGIOS_PASSWORD=${password}`,
    "--",
    "bash",
    "-c",
    `curl -fsS --digest -u "nagiosadmin:$NAGIOS_PASSWORD" 'http://${NAGIOS}/cgi-bin/nagios4/statusjson.cgi?${query}'`,
  ]);
  return r.status === 0 ? (JSON.parse(r.stdout) as { data: T }).data : undefined;
}

/** statusjson's codes: a host UP and a service OK are both 2. */
export const UP_OR_OK = 2;

/** The states of one host's services, by description (empty while Nagios does not answer). */
export function nagiosServices(password: string, host: string): Record<string, number> {
  return (
    nagiosStatus<{ servicelist: Record<string, Record<string, number>> }>(password, `query=servicelist&hostname=${host}`)?.servicelist[
      host
    ] ?? {}
  );
}

const STATE_NAMES: Record<number, string> = { 1: "PENDING", 2: "OK", 4: "WARNING", 8: "UNKNOWN", 16: "CRITICAL" };

/** One host's services as "description STATE: plugin output" lines, for a failure message. */
export function nagiosServiceReport(password: string, host: string): string {
  type Detail = { status: number; plugin_output: string };
  const details =
    nagiosStatus<{ servicelist: Record<string, Record<string, Detail>> }>(password, `query=servicelist&hostname=${host}&details=true`)
      ?.servicelist[host] ?? {};
  const lines = Object.entries(details).map(([name, d]) => `${name} ${STATE_NAMES[d.status] ?? d.status}: ${d.plugin_output}`);
  return lines.length ? `${host}: ${lines.join("; ")}` : `${host}: Nagios did not answer`;
}

/** The command line of `check` (e.g. `crm-check-http!8008!/health`) against `address`, as Nagios expands it. */
export function nagiosCommandLine(objects: string, check: string, address: string, port?: number): string {
  const [name, ...args] = check.split("!");
  const definition = [...objects.matchAll(/define command \{\n([^}]*)\}/g)]
    .map((m) => m[1])
    .find((body) => new RegExp(`^\\s*command_name\\s+${name}$`, "m").test(body));
  if (!definition) throw new Error(`no command ${name}`);
  const line = /^\s*command_line\s+(.*)$/m.exec(definition)![1];
  // Tests reach the checked programs on their own ports: the first argument is the port where one is given.
  const values = port === undefined ? args : [String(port), ...args.slice(1)];
  return line
    .replaceAll("$USER1$", "/usr/lib/nagios/plugins")
    .replaceAll("$HOSTADDRESS$", address)
    .replace(/\$ARG(\d)\$/g, (_, n: string) => values[Number(n) - 1] ?? "");
}

/** The object definitions of one type, as key → value maps. */
export function objects(cfg: string, type: string): Record<string, string>[] {
  return [...cfg.matchAll(new RegExp(`define ${type} \\{\\n([^}]*)\\}`, "g"))].map((m) =>
    Object.fromEntries(
      m[1]
        .trim()
        .split("\n")
        .map((l) => {
          const [k, ...v] = l.trim().split(/\s+/);
          return [k, v.join(" ")];
        }),
    ),
  );
}

/** Services that apply to a host (through its host group or by its name), by description → check command. */
export function servicesOf(cfg: string, host: string): Map<string, string> {
  const group = objects(cfg, "host").find((h) => h.host_name === host)!.hostgroups;
  return new Map(
    objects(cfg, "service")
      .filter(
        (s) => s.register !== "0" && ((s.hostgroup_name ?? "").split(",").includes(group) || (s.host_name ?? "").split(",").includes(host)),
      )
      .map((s) => [s.service_description, s.check_command]),
  );
}
