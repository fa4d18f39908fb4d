/**
 * The Patroni pair's renderers, checked by the real tools where this machine has them
 * (`patroni --validate-config`, `haproxy -c`, bash), and the secrets' paths through the role scripts.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import {
  PATRONI_CONFIG,
  PATRONI_MIN_TTL,
  PATRONI_TIMING,
  etcdWitnessRoleScript,
  patroniConfig,
  patroniNodeRoleScript,
  renderDbProxyConfig,
  renderEtcdEnv,
  renderPatroniConfig,
  renderPatroniHba,
  validateEtcdMembers,
  type EtcdMember,
  type PatroniNodeArgs,
} from "../../roles/patroni";
import { parseEnvFile } from "../support/patronicluster";
import { pgBinDir } from "../support/postgres";
import { hasCommand, run, tempDir } from "../support/shell";

const MEMBERS: EtcdMember[] = [
  { name: "bbdd", address: "10.1.4.31" },
  { name: "bbdd2", address: "10.1.4.32" },
  { name: "nas1", address: "10.1.4.21" },
];
const SECRETS = { superuser: `su'pw "x" $HOME`, replication: `r3pl:'pw' \\ $(id)`, restApi: "rest`pw`", app: `app'pw "y"` };
const BBDD: PatroniNodeArgs = {
  name: "bbdd",
  address: "10.1.4.31",
  peers: ["10.1.4.32"],
  etcd: MEMBERS,
  appClients: ["10.1.4.11", "10.1.4.12"],
  database: "crm",
  user: "crm",
  secrets: SECRETS,
  backup: { retentionFull: 2, repoServers: ["10.1.4.21", "10.1.4.22", "10.1.4.23"] },
};

/** A value as shellQuote writes it, without the outer quotes. */
const shellQuoted = (value: string): string => value.replace(/'/g, `'\\''`);

describe("etcd for the database cluster", () => {
  it("forms one three-member cluster, each member listening on its own LAN4 address only", () => {
    const env = parseEnvFile(renderEtcdEnv({ self: "nas1", members: MEMBERS }));
    assert.deepEqual(env, {
      ETCD_NAME: "nas1",
      ETCD_DATA_DIR: "/var/lib/etcd/crm",
      ETCD_LISTEN_PEER_URLS: "http://10.1.4.21:2380",
      ETCD_LISTEN_CLIENT_URLS: "http://10.1.4.21:2379",
      ETCD_INITIAL_ADVERTISE_PEER_URLS: "http://10.1.4.21:2380",
      ETCD_ADVERTISE_CLIENT_URLS: "http://10.1.4.21:2379",
      ETCD_INITIAL_CLUSTER: "bbdd=http://10.1.4.31:2380,bbdd2=http://10.1.4.32:2380,nas1=http://10.1.4.21:2380",
      ETCD_INITIAL_CLUSTER_STATE: "new",
      ETCD_INITIAL_CLUSTER_TOKEN: "crm-db-etcd",
      ETCD_HEARTBEAT_INTERVAL: "100",
      ETCD_ELECTION_TIMEOUT: "500",
    });
  });

  it("refuses anything but three distinct members, and a host that is not one of them", () => {
    assert.throws(() => validateEtcdMembers(MEMBERS.slice(0, 2)), /exactly 3 members/);
    assert.throws(() => validateEtcdMembers([...MEMBERS, { name: "nas2", address: "10.1.4.22" }]), /exactly 3 members/);
    assert.throws(() => validateEtcdMembers([MEMBERS[0], MEMBERS[1], { ...MEMBERS[0] }]), /bbdd listed twice/);
    assert.throws(
      () => validateEtcdMembers([MEMBERS[0], MEMBERS[1], { name: "nas1", address: "10.1.4.31" }]),
      /10\.1\.4\.31:2379 used twice/,
    );
    assert.throws(() => renderEtcdEnv({ self: "s1", members: MEMBERS }), /s1 is not one of the members/);
  });

  it("is a witness role that only runs etcd, started without waiting for the other members", () => {
    const script = etcdWitnessRoleScript({ self: "nas1", members: MEMBERS });
    assert.equal(run("bash", ["-n", "-c", script]).status, 0);
    assert.match(script, /systemctl start --no-block etcd\.service/);
    assert.match(script, /install -d -o etcd -g etcd -m 0700 '\/var\/lib\/etcd\/crm'/);
    assert.doesNotMatch(script, /patroni|postgres/i);
  });
});

describe("Patroni configuration", () => {
  it("runs synchronous replication, not strict, with a clock Patroni 4.0 keeps as written", () => {
    const config = patroniConfig(BBDD) as { bootstrap: { dcs: Record<string, unknown> } };
    const dcs = config.bootstrap.dcs;
    assert.equal(dcs.synchronous_mode, true);
    assert.equal(dcs.synchronous_mode_strict, false);
    const { ttl, loop_wait, retry_timeout } = PATRONI_TIMING;
    assert.equal(dcs.ttl, ttl);
    // Patroni 4.0 silently raises ttl to 20, loop_wait to 1 and retry_timeout to 3: a smaller value
    // here would be a clock that is not the one running (an 8 s ttl was, and measured 22 s on LXC).
    assert.ok(ttl >= PATRONI_MIN_TTL && loop_wait >= 1 && retry_timeout >= 3, "values Patroni 4.0 does not adjust");
    assert.ok(loop_wait + 2 * retry_timeout <= ttl, "Patroni's own rule for its timers");
  });

  it("lets replication and rewind in from the pair only, and the app from its servers only", () => {
    assert.deepEqual(renderPatroniHba(BBDD), [
      "local all postgres peer",
      "host replication replicator 10.1.4.31/32 scram-sha-256",
      "host replication replicator 10.1.4.32/32 scram-sha-256",
      "host all postgres 10.1.4.32/32 scram-sha-256",
      "host crm crm 10.1.4.11/32 scram-sha-256",
      "host crm crm 10.1.4.12/32 scram-sha-256",
    ]);
  });

  it("reads back every password exactly (JSON is YAML), and archives through pgBackRest", () => {
    const text = renderPatroniConfig(BBDD);
    const parsed = JSON.parse(text.slice(text.indexOf("\n") + 1)) as {
      postgresql: { authentication: Record<string, { password: string }>; parameters: Record<string, unknown>; listen: string };
      restapi: { authentication: { password: string }; listen: string };
      etcd3: { hosts: string[] };
    };
    assert.equal(parsed.postgresql.authentication.superuser.password, SECRETS.superuser);
    assert.equal(parsed.postgresql.authentication.replication.password, SECRETS.replication);
    assert.equal(parsed.restapi.authentication.password, SECRETS.restApi);
    assert.ok(!text.includes("app'pw"), "the app's password is not Patroni's business");
    assert.equal(parsed.postgresql.listen, "10.1.4.31:5432");
    assert.equal(parsed.restapi.listen, "10.1.4.31:8008");
    assert.deepEqual(parsed.etcd3.hosts, ["10.1.4.31:2379", "10.1.4.32:2379", "10.1.4.21:2379"]);
    assert.equal(
      parsed.postgresql.parameters.archive_command,
      "pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=crm archive-push %p",
    );
  });

  it("refuses a node without a peer, a bad address or a multi-line password", () => {
    assert.throws(() => patroniConfig({ ...BBDD, peers: [] }), /at least one peer/);
    assert.throws(() => patroniConfig({ ...BBDD, address: "10.1.4" }), /invalid address "10\.1\.4"/);
    assert.throws(
      () => patroniConfig({ ...BBDD, secrets: { ...SECRETS, replication: "a\nb" } }),
      /the replication password must be one non-empty line/,
    );
  });

  it("is a configuration Patroni validates (and a broken one is not)", async function () {
    const pgBin = pgBinDir();
    if (!hasCommand("patroni") || !pgBin) this.skip();
    this.timeout(30_000);
    // Patroni checks that etcd answers and that addresses are not loopback's 127.0.0.1: listen on 127.0.0.2 as etcd would.
    const listeners = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<net.Server>((resolve) => {
            const s = net.createServer();
            s.listen(0, "127.0.0.2", () => resolve(s));
          }),
      ),
    );
    try {
      const etcd = listeners.map((s, i) => ({
        name: MEMBERS[i].name,
        address: "127.0.0.2",
        clientPort: (s.address() as net.AddressInfo).port,
        peerPort: 1 + i,
      }));
      const dir = tempDir("patroni-validate");
      const args: PatroniNodeArgs = {
        ...BBDD,
        address: "127.0.0.2",
        etcd,
        pgMajor: Number(path.basename(path.dirname(pgBin))),
        paths: { dataDir: path.join(dir, "data") },
      };
      const good = path.join(dir, "good.yml");
      fs.writeFileSync(good, renderPatroniConfig(args));
      const ok = await validate(good);
      assert.equal(ok.status, 0, ok.output);
      const bad = path.join(dir, "bad.yml");
      fs.writeFileSync(bad, renderPatroniConfig(args).replace(`"ttl": ${PATRONI_TIMING.ttl}`, `"ttl": "ten"`));
      const ko = await validate(bad);
      assert.notEqual(ko.status, 0, "a ttl that is not a number must be refused");
      assert.match(ko.output, /ttl/);
    } finally {
      for (const s of listeners) s.close();
    }
  });
});

/** Runs `patroni --validate-config` without blocking this process (its probes reach our listeners). */
function validate(file: string): Promise<{ status: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("patroni", ["--validate-config", file], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status: status ?? -1, output }));
  });
}

describe("the app servers' database endpoint (HAProxy following Patroni)", () => {
  const proxy = renderDbProxyConfig({
    nodes: [
      { name: "bbdd", address: "10.1.4.31" },
      { name: "bbdd2", address: "10.1.4.32" },
    ],
  });

  it("listens on the server's loopback and sends connections to whichever node answers 200 on /primary", () => {
    assert.match(proxy, /bind 127\.0\.0\.1:5432/);
    assert.match(proxy, /http-check send meth OPTIONS uri \/primary\n\s*http-check expect status 200/);
    assert.match(proxy, /default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions/);
    assert.match(proxy, /server bbdd 10\.1\.4\.31:5432 check port 8008/);
    assert.match(proxy, /server bbdd2 10\.1\.4\.32:5432 check port 8008/);
  });

  it("is a configuration HAProxy accepts (and a broken one is not)", function () {
    if (!hasCommand("haproxy")) this.skip();
    const dir = tempDir("dbproxy");
    const good = path.join(dir, "good.cfg");
    fs.writeFileSync(good, proxy);
    const r = run("haproxy", ["-c", "-f", good]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const bad = path.join(dir, "bad.cfg");
    fs.writeFileSync(bad, proxy.replace("inter 1s", "inter soon"));
    assert.notEqual(run("haproxy", ["-c", "-f", bad]).status, 0);
  });
});

describe("the database node's role script", () => {
  const script = patroniNodeRoleScript(BBDD, { self: "bbdd", members: MEMBERS });

  it("is bash, and keeps Patroni's configuration (every password) readable by postgres only", () => {
    const file = path.join(tempDir("patroni-role"), "role.sh");
    fs.writeFileSync(file, script);
    const r = run("bash", ["-n", file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(script, new RegExp(`crm_write '${PATRONI_CONFIG}' 0600 <<'CRM_EOF'`));
    assert.match(script, /chown postgres:postgres \/etc\/patroni\/config.yml/);
    assert.match(script, /echo disabled >\/etc\/postgresql\/17\/main\/start.conf/);
  });

  it("puts no password on a command line: only in Patroni's file and in psql's environment", () => {
    const lines = script.split("\n");
    const secretTexts = [JSON.stringify(SECRETS.superuser).slice(1, -1), JSON.stringify(SECRETS.replication).slice(1, -1), SECRETS.restApi];
    const configStart = lines.findIndex((l) => l.includes(`crm_write '${PATRONI_CONFIG}' 0600`));
    assert.ok(configStart > 0);
    const configEnd = lines.indexOf("CRM_EOF", configStart);
    lines.forEach((line, i) => {
      const inConfig = i > configStart && i < configEnd;
      const inPsqlEnvironment =
        /^CRM_SUPERUSER_PASSWORD=.* CRM_REPLICATION_PASSWORD=.* runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 <<'CRM_SQL'$/.test(
          line,
        );
      for (const secret of secretTexts)
        if (line.includes(secret) || line.includes(shellQuoted(secret)))
          assert.ok(inConfig || (inPsqlEnvironment && secret !== SECRETS.restApi), `line ${i + 1} carries a Patroni password: ${line}`);
      if (line.includes("app'")) assert.match(line, /^CRM_DB_PASSWORD='app'\\''pw "y"' runuser -u postgres -- psql /);
    });
    assert.equal(lines.filter((l) => l.includes("app'")).length, 1);
    assert.equal(lines.filter((l) => l.startsWith("CRM_SUPERUSER_PASSWORD=")).length, 1, "the leader sets the cluster's passwords once");
  });

  it("does the leader's work (the app's database, the first backup) only where PostgreSQL is not in recovery, once Patroni has made its roles", () => {
    assert.match(
      script,
      /if \[ "\$\(crm_pg_recovery\)" = f \]; then\n#[^\n]*\ncrm_patroni_roles\(\) \{[^\n]*rolname = 'replicator'[^\n]*\ncrm_retry 60 "Patroni to finish bootstrapping \(the replicator role\)" crm_patroni_roles\ncrm_retry 60 "PostgreSQL to accept connections"[\s\S]*\/usr\/local\/sbin\/crm-db-backup init\nfi\n/,
    );
  });
});
