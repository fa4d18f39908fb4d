/** Turns a rendered Nagios service check into the shell command Nagios would run, to run it for real. */

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
