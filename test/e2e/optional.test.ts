/**
 * The assignment's optional parts on the vnx stack: Nagios watching every host (its page reachable
 * from the clients, behind a password), the management host reachable by SSH with keys only,
 * least-connections balancing. (The replicated database has its own file, database.test.ts.) Needs
 * root; takes a few minutes.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { deployScenario, type Deployment } from "../support/deploy";
import { VALID_SECRETS } from "../support/pulumi";
import { get, inContainer, leftovers, machineState, openTcpPorts, stateDifference, waitFor } from "../support/scenario";
import { NAGIOS, nagiosServiceReport, nagiosServices, nagiosStatus, UP_OR_OK } from "../support/nagios";
import { run, ssh, tempDir } from "../support/shell";

const GES = "10.1.3.20";
const WATCHED = ["bbdd", "fw", "ges", "lb", "nas1", "nas2", "nas3", "s1", "s2"];

/** Nagios' host states (2 = UP) as its JSON CGI reports them to a client on LAN1. */
describe("vnx stack with the optional parts", function () {
  this.timeout(30 * 60_000);
  let deployment: Deployment;
  let key: string;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    key = path.join(tempDir("ges-key"), "id_rsa");
    assert.equal(run("ssh-keygen", ["-q", "-t", "rsa", "-b", "3072", "-N", "", "-f", key]).status, 0);
    const publicKey = run("cat", [`${key}.pub`]).stdout.trim();
    deployment = await deployScenario(
      "e2e-optional",
      { "crm:servers": 2, "crm:monitoring": true, "crm:management": true, "crm:balance": "leastconn" },
      { "crm:managementKeys[0]": publicKey },
    );
  });

  after(() => deployment?.destroy());

  it("serves the CRM, balanced by least connections", async () => {
    assert.equal((await get("/login")).status, 200);
    assert.equal(inContainer("lb", "grep -c '^  balance leastconn$' /etc/haproxy/haproxy.cfg").stdout.trim(), "1");
  });

  it("shows the monitoring page to clients only with the password", () => {
    const anonymous = inContainer("c1", `curl -s -o /dev/null -w '%{http_code}' http://${NAGIOS}/nagios4/`);
    assert.equal(anonymous.stdout, "401");
  });

  it("Nagios sees every host of the scenario up", async () => {
    const password = VALID_SECRETS["crm:adminPassword"];
    let states: Record<string, number> = {};
    await waitFor(
      "every host UP in Nagios",
      180,
      () => {
        states = nagiosStatus<{ hostlist: Record<string, number> }>(password, "query=hostlist")?.hostlist ?? {};
        return WATCHED.every((h) => states[h] === UP_OR_OK);
      },
      // statusjson's host codes: 1 pending, 2 up, 4 down, 8 unreachable.
      () => JSON.stringify(states),
    );
  });

  it("Nagios sees the database's last backup young enough (NRPE on bbdd), and PostgreSQL up", async () => {
    const password = VALID_SECRETS["crm:adminPassword"];
    await waitFor(
      "bbdd's services OK in Nagios",
      180,
      () => {
        const services = nagiosServices(password, "bbdd");
        return services["Backup age"] === UP_OR_OK && services.PostgreSQL === UP_OR_OK;
      },
      () => nagiosServiceReport(password, "bbdd"),
    );
  });

  it("lets an operator in to ges by SSH key from the admin network, and refuses passwords", () => {
    const withKey = ssh("-i", key, `root@${GES}`, "hostname && getent hosts s1 bbdd");
    assert.equal(withKey.status, 0, withKey.stderr);
    assert.match(withKey.stdout, /^ges\n10\.1\.3\.11\s+s1\n10\.1\.4\.31\s+bbdd/);
    const withPassword = ssh(
      "-o",
      "PreferredAuthentications=password,keyboard-interactive",
      "-o",
      "PubkeyAuthentication=no",
      `root@${GES}`,
      "true",
    );
    assert.notEqual(withPassword.status, 0);
    assert.match(withPassword.stderr, /Permission denied \(publickey\)/);
  });

  it("the firewall opens only the web entry, the monitoring page and SSH to ges", () => {
    const targets = ["10.1.2.2", NAGIOS, "10.1.4.15", GES, "10.1.4.20"];
    const open = openTcpPorts("c1", targets);
    assert.deepEqual(open, ["10.1.2.2:443", "10.1.2.2:80", `${NAGIOS}:80`, `${GES}:22`]);
  });

  it("pulumi destroy leaves nothing behind", () => {
    const r = deployment.stack.pulumi("destroy", "--yes", "--skip-preview");
    assert.equal(r.status, 0, r.stdout.slice(-3000));
    assert.deepEqual(leftovers(), []);
    // The machine as it was before up: rules, routes, links, mounts, sysctls (see README, "What stays").
    assert.deepEqual(stateDifference(deployment.machineBefore, machineState()), []);
  });
});
