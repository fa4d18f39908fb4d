import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  DIGEST_REALM,
  htdigestStep,
  monitorRoleScript,
  renderApacheSite,
  renderNagiosObjects,
  type MonitorArgs,
} from "../../roles/monitor";
import { roleScript } from "../../roles/script";
import { objects, servicesOf } from "../support/nagios";
import { freePort, hasCommand, run, tempDir } from "../support/shell";

const PASSWORD = `s3cr'et "pw" $HOME \`id\` \\ end`;

const args: MonitorArgs = {
  hosts: [
    { name: "fw", address: "10.1.2.1", role: "firewall" },
    { name: "lb", address: "10.1.3.1", role: "balancer" },
    { name: "nas1", address: "10.1.4.21", role: "nas" },
    { name: "nas2", address: "10.1.4.22", role: "nas" },
    { name: "nas3", address: "10.1.4.23", role: "nas" },
    { name: "bbdd", address: "10.1.4.31", role: "db" },
    { name: "s1", address: "10.1.3.11", role: "app" },
    { name: "s2", address: "10.1.3.12", role: "app" },
    { name: "s3", address: "10.1.3.13", role: "app" },
  ],
  appPort: 3000,
  healthPath: "/healthz",
  haproxyStatsPort: 8404,
  adminPassword: PASSWORD,
  listen: "10.1.3.15",
};

describe("nagios objects", () => {
  const cfg = renderNagiosObjects(args);

  it("defines every host once, checked alive by ping, in a host group named after its role", () => {
    const hosts = objects(cfg, "host").filter((h) => h.register !== "0");
    assert.deepEqual(
      hosts.map((h) => [h.host_name, h.address, h.hostgroups]),
      args.hosts.map((h) => [h.name, h.address, `crm-${h.role}`]),
    );
    const template = objects(cfg, "host").find((h) => h.name === "crm-host")!;
    assert.equal(template.check_command, "crm-host-alive");
    assert.match(objects(cfg, "command").find((c) => c.command_name === "crm-host-alive")!.command_line, /check_ping -H \$HOSTADDRESS\$/);
  });

  it("pings every host and checks each role's service", () => {
    for (const h of args.hosts) assert.equal(servicesOf(cfg, h.name).get("PING"), "crm-check-ping", h.name);
    for (const s of ["s1", "s2", "s3"]) assert.equal(servicesOf(cfg, s).get("CRM health"), "crm-check-http!3000!/healthz");
    assert.equal(servicesOf(cfg, "lb").get("HAProxy stats"), "crm-check-http!8404!/");
    assert.equal(servicesOf(cfg, "bbdd").get("PostgreSQL"), "crm-check-tcp!5432");
    for (const n of ["nas1", "nas2", "nas3"]) assert.equal(servicesOf(cfg, n).get("glusterd"), "crm-check-tcp!24007");
    assert.deepEqual([...servicesOf(cfg, "fw").keys()], ["PING"]);
    const http = objects(cfg, "command").find((c) => c.command_name === "crm-check-http")!.command_line;
    assert.match(http, /check_http -H \$HOSTADDRESS\$ -p \$ARG1\$ -u \$ARG2\$ -e 200/);
  });

  it("checks HAProxy on each member of a balancer pair, and the shared address by ping only", () => {
    const pair = renderNagiosObjects({
      ...args,
      hosts: [
        ...args.hosts.filter((h) => h.name !== "lb"),
        { name: "lb", address: "10.1.3.2", role: "balancer" },
        { name: "lb2", address: "10.1.3.3", role: "balancer" },
        { name: "lb-vip", address: "10.1.2.2", role: "balancer", shared: true },
      ],
    });
    for (const member of ["lb", "lb2"]) assert.equal(servicesOf(pair, member).get("HAProxy stats"), "crm-check-http!8404!/", member);
    assert.deepEqual([...servicesOf(pair, "lb-vip").keys()], ["PING"]);
  });

  it("leaves the balancer's HTTP check out when HAProxy has no stats page", () => {
    const noStats = renderNagiosObjects({ ...args, haproxyStatsPort: undefined });
    assert.deepEqual([...servicesOf(noStats, "lb").keys()], ["PING"]);
  });

  it("rejects names and addresses Nagios or the script could misread", () => {
    const withHost = (name: string, address: string): MonitorArgs => ({ ...args, hosts: [{ name, address, role: "app" }] });
    assert.throws(() => renderNagiosObjects(withHost("s 1", "10.1.3.11")), /invalid host name/);
    assert.throws(() => renderNagiosObjects(withHost("localhost", "10.1.3.11")), /invalid host name/);
    assert.throws(() => renderNagiosObjects(withHost("s1", "10.1.3.256")), /invalid address/);
    assert.throws(() => renderNagiosObjects({ ...args, hosts: [...args.hosts, args.hosts[0]] }), /listed twice/);
    assert.throws(() => renderNagiosObjects({ ...args, haproxyStatsPort: 0 }), /invalid HAProxy stats port/);
  });

  it("is a configuration nagios4 -v accepts next to Debian's stock objects, without warnings", function () {
    if (!hasCommand("nagios4") || !fs.existsSync("/etc/nagios4/nagios.cfg")) this.skip();
    const dir = tempDir("nagios");
    fs.chmodSync(dir, 0o755); // nagios4 reads its configuration again as the nagios user
    const objectsFile = path.join(dir, "crm.cfg");
    fs.writeFileSync(objectsFile, cfg);
    // Debian's own main file, with our objects where the role script puts them (conf.d).
    const main = fs
      .readFileSync("/etc/nagios4/nagios.cfg", "utf8")
      .replace(/^cfg_dir=\/etc\/nagios4\/conf\.d$/m, `cfg_file=${objectsFile}`);
    assert.ok(main.includes(objectsFile), "the stock nagios.cfg reads /etc/nagios4/conf.d");
    fs.writeFileSync(path.join(dir, "nagios.cfg"), main);
    const r = run("nagios4", ["-v", path.join(dir, "nagios.cfg")]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Things look okay/);
    assert.match(r.stdout, /Total Warnings: 0/);
    // Our 9 hosts plus Debian's localhost sample; every service was read.
    assert.match(r.stdout, new RegExp(`Checked ${args.hosts.length + 1} hosts`));
  });
});

describe("monitor role script", () => {
  const script = monitorRoleScript(args);

  it("is valid bash", () => {
    const r = run("bash", ["-n"], { input: script });
    assert.equal(r.status, 0, r.stderr);
  });

  it("holds the admin password only in one variable assignment, never on a command line", () => {
    const quoted = `'${PASSWORD.replace(/'/g, `'\\''`)}'`;
    const lines = script.split("\n").filter((l) => l.includes("s3cr"));
    assert.deepEqual(lines, [`CRM_NAGIOS_PASSWORD=${quoted}`]);
    assert.match(script, /unset CRM_NAGIOS_PASSWORD/);
  });

  it("validates the Nagios and Apache configuration before (re)starting, and restarts only on change", () => {
    assert.ok(script.indexOf("nagios4 -v /etc/nagios4/nagios.cfg") < script.indexOf("systemctl restart nagios4.service"));
    assert.ok(script.indexOf("apache2ctl configtest") < script.indexOf("systemctl restart apache2.service"));
    assert.match(script, /if \[ "\$CRM_NAGIOS_RESTART" = 1 \]; then/);
    assert.match(script, /systemctl is-active --quiet apache2\.service \|\| systemctl start apache2\.service/);
  });

  it("replaces Debian's unauthenticated nagios4-cgi site, listens only on the monitoring address and turns CGI authentication on", () => {
    assert.match(script, /a2disconf -q nagios4-cgi/);
    assert.match(script, /^Listen 10\.1\.3\.15:80$/m);
    assert.match(script, /<VirtualHost 10\.1\.3\.15:80>/);
    assert.match(script, /Require valid-user/);
    assert.match(script, /use_authentication=1/);
    assert.doesNotMatch(script, /authorized_for_/, "Debian's authorized_for_*=nagiosadmin stay as shipped");
  });

  it("writes the Digest password file Apache expects, and rewrites nothing on a second run", () => {
    const dir = tempDir("htdigest");
    const file = path.join(dir, "htdigest.users");
    const step = roleScript("test", htdigestStep(file, PASSWORD), 'echo "restart=${CRM_APACHE_RESTART:-0}"');
    const first = run("bash", ["-s"], { input: step });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /restart=1/);
    const md5 = createHash("md5").update(`nagiosadmin:${DIGEST_REALM}:${PASSWORD}`).digest("hex");
    assert.equal(fs.readFileSync(file, "utf8"), `nagiosadmin:${DIGEST_REALM}:${md5}\n`);
    assert.equal(fs.statSync(file).mode & 0o777, 0o640);
    assert.match(run("bash", ["-s"], { input: step }).stdout, /restart=0/);
  });

  it("serves the UI through a real Apache: / redirects, no page without the password, every page with it", async function () {
    const modules = "/usr/lib/apache2/modules";
    if (!hasCommand("apache2") || !hasCommand("curl") || !fs.existsSync("/usr/share/nagios4/htdocs")) this.skip();
    const php = fs.readdirSync(modules).find((f) => /^libphp.*\.so$/.test(f));
    if (!php || process.getuid?.() !== 0) this.skip();
    const dir = tempDir("apache");
    fs.chmodSync(dir, 0o755); // Apache's workers (www-data) read the password file from here
    const users = path.join(dir, "htdigest.users");
    assert.equal(run("bash", ["-s"], { input: roleScript("test", htdigestStep(users, PASSWORD)) }).status, 0);
    const port = await freePort();
    fs.writeFileSync(path.join(dir, "site.conf"), renderApacheSite("127.0.0.1", port).replace("/etc/nagios4/htdigest.users", users));
    const load = ["mpm_prefork", "authz_core", "authn_core", "authn_file", "authz_user", "auth_digest", "alias", "dir", "mime", "cgi"];
    fs.writeFileSync(
      path.join(dir, "httpd.conf"),
      [
        `ServerRoot ${dir}`,
        `PidFile ${dir}/httpd.pid`,
        `Mutex file:${dir}`,
        `ErrorLog ${dir}/error.log`,
        "ServerName localhost",
        "User www-data",
        "Group www-data",
        ...load.map((m) => `LoadModule ${m}_module ${modules}/mod_${m}.so`),
        `LoadModule php_module ${modules}/${php}`,
        "TypesConfig /etc/mime.types",
        '<FilesMatch "\\.php$">\n  SetHandler application/x-httpd-php\n</FilesMatch>',
        `Listen 127.0.0.1:${port}`,
        `Include ${dir}/site.conf`,
      ].join("\n"),
    );
    const conf = path.join(dir, "httpd.conf");
    const syntax = run("apache2", ["-t", "-f", conf]);
    assert.equal(syntax.status, 0, syntax.stderr);

    // Its own process group: on shutdown Apache signals its whole group, which would otherwise include mocha.
    const apache = spawn("apache2", ["-f", conf, "-DFOREGROUND"], { stdio: "ignore", detached: true });
    try {
      const status = (url: string, ...curlArgs: string[]): string =>
        run("curl", [
          "-s",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code} %{redirect_url}",
          "--max-time",
          "5",
          ...curlArgs,
          `http://127.0.0.1:${port}${url}`,
        ]).stdout.trim();
      const deadline = Date.now() + 10_000;
      while (status("/") === "000" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(status("/"), `302 http://127.0.0.1:${port}/nagios4/`);
      assert.equal(status("/nagios4/"), "401");
      assert.equal(status("/cgi-bin/nagios4/tac.cgi"), "401");
      assert.equal(status("/nagios4/", "--digest", "-u", "nagiosadmin:wrong"), "401");
      // The password reaches curl on stdin (a config line), as the deployed host never needs to.
      const withPassword = (url: string): string =>
        run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--digest", "-K", "-", `http://127.0.0.1:${port}${url}`], {
          input: `user = "nagiosadmin:${PASSWORD.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"\n`,
        }).stdout;
      assert.equal(withPassword("/nagios4/"), "200");
      assert.equal(withPassword("/nagios4/main.php"), "200");
    } finally {
      apache.kill("SIGTERM");
      await new Promise((r) => apache.once("exit", r));
    }
  });
});
