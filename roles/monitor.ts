/**
 * The monitoring host (optional part 2 of the seed): Nagios 4 watching every host of the scenario,
 * its web UI served by Apache on the host's front-LAN address, behind HTTP Digest authentication.
 *
 * Debian layout (nagios4 4.4 on Debian 12 and 13): objects in /etc/nagios4/conf.d/, the CGIs in
 * /usr/lib/cgi-bin/nagios4, the pages in /usr/share/nagios4/htdocs, plugins in /usr/lib/nagios/plugins
 * ($USER1$). The objects below define their own crm-* commands and templates, so they depend only on
 * the stock timeperiods (24x7), templates (generic-host, generic-service) and contact group (admins),
 * not on the command names monitoring-plugins happens to ship in /etc/nagios-plugins/config.
 */
import { PG_PORT, type Role } from "../topology/plan";
import { BACKUP_AGE_NRPE_COMMAND } from "./backup";
import { PATRONI_REST_PORT } from "./patroni";
import { enableNow, roleScript, shellQuote, sysctlAtBoot, writeFile } from "./script";

export interface MonitoredHost {
  readonly name: string;
  readonly address: string;
  readonly role: Role;
  /** An address a pair shares (crm:frontHa): watched by PING; the role's other checks run on each member. */
  readonly shared?: boolean;
}

export interface MonitorArgs {
  readonly hosts: readonly MonitoredHost[];
  /** The port the app servers listen on. */
  readonly appPort: number;
  /** The app's health path; a healthy server answers it with 200. */
  /** The app's health path; without one, its port is checked by a TCP connect. */
  readonly healthPath?: string;
  /**
   * The port of HAProxy's statistics page, which every balancer serves on its own address (the
   * one listed in hosts): checked on each balancer when set, so the backup of a pair is watched too.
   */
  readonly haproxyStatsPort?: number;
  /** Secret: the web UI password of `nagiosadmin`. Reaches the host only inside the script text. */
  readonly adminPassword: string;
  /** The monitoring host's front-LAN address; Apache listens there on port 80, nowhere else. */
  readonly listen: string;
  /**
   * What runs on the db hosts: `patroni` (the pair) adds Patroni's health, leader and replication
   * lag; both kinds add the age of the newest backup (NRPE on the db hosts, roles/backup.ts).
   * @default a TCP check of PostgreSQL only
   */
  readonly database?: "single" | "patroni";
}

export const NAGIOS_CONF = "/etc/nagios4/conf.d/crm.cfg";
export const NAGIOS_MAIN = "/etc/nagios4/nagios.cfg";
export const HTDIGEST_FILE = "/etc/nagios4/htdigest.users";
export const NAGIOS_ADMIN = "nagiosadmin";
/** The Digest realm: part of the stored hash, so it must equal the AuthName of the Apache site. */
export const DIGEST_REALM = "Nagios4";
const GLUSTERD_PORT = 24007;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** Nagios object names: no spaces, commas or macros; "localhost" is kept free (Debian's sample objects use it). */
const HOST_NAME = /^[a-z][a-z0-9-]*$/;

function validate(args: MonitorArgs): void {
  const seen = new Set<string>();
  for (const h of args.hosts) {
    if (!HOST_NAME.test(h.name) || h.name === "localhost") throw new Error(`monitor: invalid host name ${JSON.stringify(h.name)}`);
    if (!IPV4.test(h.address)) throw new Error(`monitor: host ${h.name} has an invalid address ${JSON.stringify(h.address)}`);
    if (seen.has(h.name)) throw new Error(`monitor: host ${h.name} listed twice`);
    seen.add(h.name);
  }
  if (args.hosts.length === 0) throw new Error("monitor: no hosts to monitor");
  if (args.healthPath !== undefined && !/^\/[A-Za-z0-9._~/-]*$/.test(args.healthPath))
    throw new Error(`monitor: invalid health path ${JSON.stringify(args.healthPath)}`);
  if (
    args.haproxyStatsPort !== undefined &&
    !(Number.isInteger(args.haproxyStatsPort) && args.haproxyStatsPort >= 1 && args.haproxyStatsPort <= 65535)
  )
    throw new Error(`monitor: invalid HAProxy stats port ${JSON.stringify(args.haproxyStatsPort)}`);
  if (!IPV4.test(args.listen)) throw new Error(`monitor: invalid listen address ${JSON.stringify(args.listen)}`);
  if (args.adminPassword.length === 0 || /[\n\r]/.test(args.adminPassword))
    throw new Error("monitor: the admin password must be one non-empty line");
}

/** One Nagios object definition, keys aligned. */
function define(type: string, fields: Readonly<Record<string, string | number>>): string {
  const lines = Object.entries(fields).map(([k, v]) => `  ${k.padEnd(22)}${v}`);
  return [`define ${type} {`, ...lines, "}"].join("\n");
}

const hostgroupOf = (role: Role): string => `crm-${role}`;

interface ServiceCheck {
  readonly role: Role;
  readonly description: string;
  readonly command: string;
}

/** The checks beyond PING, per role. The firewall (and the optional hosts) are checked by PING only. */
function roleChecks(args: MonitorArgs): ServiceCheck[] {
  const checks: ServiceCheck[] = [
    args.healthPath
      ? { role: "app", description: "CRM health", command: `crm-check-http!${args.appPort}!${args.healthPath}` }
      : { role: "app", description: "app port", command: `crm-check-tcp!${args.appPort}` },
    // check_pgsql is not in monitoring-plugins-basic; an accepted TCP connection shows the server is up.
    { role: "db", description: "PostgreSQL", command: `crm-check-tcp!${PG_PORT}` },
    { role: "nas", description: "glusterd", command: `crm-check-tcp!${GLUSTERD_PORT}` },
  ];
  if (args.database) {
    checks.push({ role: "db", description: "Backup age", command: `crm-check-nrpe!${BACKUP_AGE_NRPE_COMMAND}` });
  }
  if (args.database === "patroni") {
    checks.push(
      // 200 while Patroni runs PostgreSQL on this node, as leader or replica.
      { role: "db", description: "Patroni", command: `crm-check-http!${PATRONI_REST_PORT}!/health` },
      // The cluster as this node sees it has a leader (the other node's view is checked on that node).
      { role: "db", description: "Patroni leader", command: `crm-check-patroni-leader!${PATRONI_REST_PORT}` },
      // 200 on the leader; on a replica only while it replays within 16 MB of the leader.
      { role: "db", description: "Replication lag", command: `crm-check-http!${PATRONI_REST_PORT}!/read-only?lag=16MB` },
    );
  }
  if (args.haproxyStatsPort)
    checks.push({ role: "balancer", description: "HAProxy stats", command: `crm-check-http!${args.haproxyStatsPort}!/` });
  return checks;
}

/** /etc/nagios4/conf.d/crm.cfg: commands, templates, one host per scenario host, host groups by role, services by group. */
export function renderNagiosObjects(args: MonitorArgs): string {
  validate(args);
  const roles = [...new Set(args.hosts.map((h) => h.role))];
  const commands = [
    // A host is up while it answers at least one of 3 pings.
    define("command", {
      command_name: "crm-host-alive",
      command_line: "$USER1$/check_ping -H $HOSTADDRESS$ -w 1000.0,80% -c 2000.0,100% -p 3",
    }),
    define("command", {
      command_name: "crm-check-ping",
      command_line: "$USER1$/check_ping -H $HOSTADDRESS$ -w 100.0,20% -c 500.0,60% -p 5",
    }),
    // -e 200: anything but a 200 (a 503 from an unhealthy app, a redirect) is CRITICAL.
    define("command", { command_name: "crm-check-http", command_line: "$USER1$/check_http -H $HOSTADDRESS$ -p $ARG1$ -u $ARG2$ -e 200" }),
    define("command", { command_name: "crm-check-tcp", command_line: "$USER1$/check_tcp -H $HOSTADDRESS$ -p $ARG1$" }),
    define("command", {
      command_name: "crm-check-patroni-leader",
      command_line: `$USER1$/check_http -H $HOSTADDRESS$ -p $ARG1$ -u /cluster -e 200 -r '"role": *"leader"'`,
    }),
    // check_nrpe is in nagios-nrpe-plugin; NRPE's TLS needs no certificates between Debian's 4.x.
    define("command", { command_name: "crm-check-nrpe", command_line: "$USER1$/check_nrpe -H $HOSTADDRESS$ -c $ARG1$" }),
  ];
  // Checked every minute; no e-mail notifications (the hosts have no mail transport), the UI is the alert.
  const templates = [
    define("host", {
      name: "crm-host",
      use: "generic-host",
      check_command: "crm-host-alive",
      check_period: "24x7",
      check_interval: 1,
      retry_interval: 1,
      max_check_attempts: 3,
      contact_groups: "admins",
      notifications_enabled: 0,
      register: 0,
    }),
    define("service", {
      name: "crm-service",
      use: "generic-service",
      check_interval: 1,
      retry_interval: 1,
      max_check_attempts: 3,
      notifications_enabled: 0,
      register: 0,
    }),
  ];
  const hosts = args.hosts.map((h) =>
    define("host", {
      use: "crm-host",
      host_name: h.name,
      alias: `${h.name} (${h.role})`,
      address: h.address,
      hostgroups: hostgroupOf(h.role),
    }),
  );
  const groups = roles.map((r) => define("hostgroup", { hostgroup_name: hostgroupOf(r), alias: `CRM ${r}` }));
  const services = [
    define("service", {
      use: "crm-service",
      hostgroup_name: roles.map(hostgroupOf).join(","),
      service_description: "PING",
      check_command: "crm-check-ping",
    }),
    ...roleChecks(args).flatMap((c) => {
      const members = args.hosts.filter((h) => h.role === c.role && !h.shared).map((h) => h.name);
      return members.length === 0
        ? []
        : [
            define("service", {
              use: "crm-service",
              host_name: members.join(","),
              service_description: c.description,
              check_command: c.command,
            }),
          ];
    }),
  ];
  return ["# crm-infra monitoring (generated)", ...commands, ...templates, ...groups, ...hosts, ...services, ""].join("\n\n");
}

/**
 * The Apache site for the Nagios UI: only on `listen`:`port`, every page and CGI behind Digest
 * authentication (Digest, not Basic: the UI is plain HTTP and Basic would send the password in clear).
 * It replaces Debian's conf-available/nagios4-cgi.conf, which lets any private address in unauthenticated.
 */
export function renderApacheSite(listen: string, port = 80): string {
  return `# crm-infra monitoring (generated): the Nagios 4 web UI
<VirtualHost ${listen}:${port}>
  ServerName ${listen}
  RedirectMatch 302 ^/$ /nagios4/
  ScriptAlias /cgi-bin/nagios4 /usr/lib/cgi-bin/nagios4
  ScriptAlias /nagios4/cgi-bin /usr/lib/cgi-bin/nagios4
  Alias /nagios4/stylesheets /etc/nagios4/stylesheets
  Alias /nagios4 /usr/share/nagios4/htdocs
  <DirectoryMatch (/usr/share/nagios4/htdocs|/usr/lib/cgi-bin/nagios4|/etc/nagios4/stylesheets)>
    Options FollowSymLinks
    DirectoryIndex index.php index.html
    AllowOverride None
    AuthType Digest
    AuthName "${DIGEST_REALM}"
    AuthDigestDomain "/nagios4/" "/cgi-bin/nagios4/"
    AuthDigestProvider file
    AuthUserFile "${HTDIGEST_FILE}"
    Require valid-user
  </DirectoryMatch>
  <Directory /usr/share/nagios4/htdocs>
    Options +ExecCGI
  </Directory>
</VirtualHost>
`;
}

/**
 * Script step: writes the Digest password file (user:realm:md5(user:realm:password)).
 * The password is only assigned to a shell variable and fed to md5sum by the printf builtin, so it
 * never shows on a command line. Digest hashes are unsalted, so an unchanged password rewrites nothing.
 * Sets CRM_APACHE_RESTART=1 when the file changed.
 */
export function htdigestStep(file: string, password: string): string {
  const prefix = `${NAGIOS_ADMIN}:${DIGEST_REALM}`;
  return `CRM_NAGIOS_PASSWORD=${shellQuote(password)}
CRM_DIGEST=$(printf '%s:%s' ${shellQuote(prefix)} "$CRM_NAGIOS_PASSWORD" | md5sum | cut -d' ' -f1)
unset CRM_NAGIOS_PASSWORD
if printf '%s:%s\\n' ${shellQuote(prefix)} "$CRM_DIGEST" | crm_write ${shellQuote(file)} 0640; then CRM_APACHE_RESTART=1; fi
# Apache (www-data) reads it; Debian ships it as nagios:www-data.
chown nagios:www-data ${shellQuote(file)} 2>/dev/null || chgrp www-data ${shellQuote(file)}`;
}

/** The Apache part: modules, the site, Listen only on the monitoring address. Sets CRM_APACHE_RESTART=1 on any change. */
function apacheSteps(listen: string): string {
  return `# Debian's nagios4-cgi conf admits any private address without a password: our site replaces it.
if [ -e /etc/apache2/conf-enabled/nagios4-cgi.conf ]; then a2disconf -q nagios4-cgi; CRM_APACHE_RESTART=1; fi
if [ -e /etc/apache2/sites-enabled/000-default.conf ]; then a2dissite -q 000-default; CRM_APACHE_RESTART=1; fi
# The UI's pages are PHP: mod_php needs the prefork MPM (libapache2-mod-php's postinst normally arranged this).
if ! compgen -G '/etc/apache2/mods-enabled/php*.load' >/dev/null; then
  CRM_PHP=$(basename "$(compgen -G '/etc/apache2/mods-available/php*.load' | sort -V | tail -1)" .load)
  a2dismod -q mpm_event mpm_worker 2>/dev/null || true
  a2enmod -q mpm_prefork "$CRM_PHP"
  CRM_APACHE_RESTART=1
fi
for mod in auth_digest authn_file authz_user alias cgi; do
  # a2enmod cgi picks cgid under a threaded MPM; either one serves the CGIs.
  if [ "$mod" = cgi ] && compgen -G '/etc/apache2/mods-enabled/cgi*.load' >/dev/null; then continue; fi
  if [ ! -e "/etc/apache2/mods-enabled/$mod.load" ]; then a2enmod -q "$mod"; CRM_APACHE_RESTART=1; fi
done
${writeFile("/etc/apache2/ports.conf", `# crm-infra (generated): the Nagios UI, on the monitoring address only\nListen ${listen}:80\n`, { onChange: "CRM_APACHE_RESTART=1" })}
${writeFile("/etc/apache2/sites-available/crm-nagios.conf", renderApacheSite(listen), { onChange: "CRM_APACHE_RESTART=1" })}
if [ ! -e /etc/apache2/sites-enabled/crm-nagios.conf ]; then a2ensite -q crm-nagios; CRM_APACHE_RESTART=1; fi
# Listen names one address: start Apache only once the network (and so that address) is up.
${writeFile("/etc/systemd/system/apache2.service.d/crm.conf", "[Unit]\nWants=network-online.target\nAfter=network-online.target\n", { onChange: "systemctl daemon-reload" })}`;
}

/** Enables a unit and makes sure it runs; restarts it when the flag variable says its configuration changed. */
function startUnit(unit: string, flag: string): string {
  return `if [ "$${flag}" = 1 ]; then
systemctl enable --quiet ${unit}
systemctl restart ${unit}
else
${enableNow(unit)}
fi`;
}

/**
 * The monitoring host's role script. Validates the Nagios objects and the Apache configuration on
 * every run, before any (re)start, so a broken configuration fails the deployment instead of a daemon;
 * restarts a daemon only when its configuration changed.
 */
export function monitorRoleScript(args: MonitorArgs): string {
  const objects = renderNagiosObjects(args);
  return roleScript(
    "monitor",
    `CRM_NAGIOS_RESTART=0
CRM_APACHE_RESTART=0`,
    // check_ping runs as user nagios: let unprivileged users send ICMP echo (containers drop ping's file capability).
    sysctlAtBoot("unprivileged-ping", { "net.ipv4.ping_group_range": "0 2147483647" }),
    writeFile(NAGIOS_CONF, objects, { onChange: "CRM_NAGIOS_RESTART=1" }),
    // Debian's sample "localhost" checks (swap, HTTP on 127.0.0.1) do not fit a container and would stay red.
    `if grep -q '^cfg_file=/etc/nagios4/objects/localhost.cfg' ${NAGIOS_MAIN}; then
  sed -i 's|^cfg_file=/etc/nagios4/objects/localhost.cfg|#&|' ${NAGIOS_MAIN}
  CRM_NAGIOS_RESTART=1
fi`,
    // The CGIs then honour Apache's user (REMOTE_USER) and the stock authorized_for_*=nagiosadmin lists.
    `if ! grep -qx 'use_authentication=1' /etc/nagios4/cgi.cfg; then
  sed -i 's/^use_authentication=.*/use_authentication=1/' /etc/nagios4/cgi.cfg
  grep -qx 'use_authentication=1' /etc/nagios4/cgi.cfg || echo 'use_authentication=1' >>/etc/nagios4/cgi.cfg
fi
if ! CRM_OUT=$(nagios4 -v ${NAGIOS_MAIN} 2>&1); then echo "$CRM_OUT" >&2; echo "crm: the Nagios configuration is invalid" >&2; exit 1; fi`,
    startUnit("nagios4.service", "CRM_NAGIOS_RESTART"),
    htdigestStep(HTDIGEST_FILE, args.adminPassword),
    apacheSteps(args.listen),
    `apache2ctl configtest`,
    startUnit("apache2.service", "CRM_APACHE_RESTART"),
    // Up, and refusing anyone without the password.
    `crm_ui_locked() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://${args.listen}/nagios4/)" = 401 ]; }
crm_retry 30 "the Nagios UI to answer (and ask for a password)" crm_ui_locked`,
  );
}
