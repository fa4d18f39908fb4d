/**
 * A user's app (crm:app) in pure parts: its settings, the variables it is given, its unit, the
 * balancer's TCP check when it has no health path, and md5 passwords for its old driver.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { appRoleScript, customAppEnv, renderAppEnv, renderAppUnit, type CustomApp } from "../../roles/app";
import { renderHaproxyConfig } from "../../roles/balancer";
import { renderPgConf, renderPgHba } from "../../roles/db";
import { parseSettings } from "../../topology/settings";
import { hasCommand, run, tempDir } from "../support/shell";

const minimal = { source: "test/fixtures/legacy-app", node: "8.17.0", start: "node ./bin/www" };
const values = { databaseUrl: "postgres://crm:p%40ss%2Fw0rd@10.1.4.31:5432/crm", sessionSecret: "s".repeat(32) };

describe("a user's app (crm:app)", () => {
  it("fills defaults: port 3000, no once-only commands, SCRAM passwords, no health path (TCP checks)", () => {
    const app = parseSettings({ target: "vnx", app: minimal }).app!;
    assert.deepEqual(app, { ...minimal, migrate: [], seed: [], port: 3000, env: {}, md5Passwords: false });
  });

  it("is refused on the clouds, naming crm:app", () => {
    assert.throws(() => parseSettings({ target: "aws", app: minimal }), /crm:app: is supported on the vnx target only/);
  });

  it("names the exact key of a bad value", () => {
    assert.throws(() => parseSettings({ target: "vnx", app: { ...minimal, port: 70000 } }), /crm:app\.port: must be a TCP port/);
    assert.throws(
      () => parseSettings({ target: "vnx", app: { ...minimal, env: { "BAD-NAME": { value: "x" } } } }),
      /crm:app\.env\.BAD-NAME/,
    );
    assert.throws(
      () => parseSettings({ target: "vnx", app: { ...minimal, healthPath: "health" } }),
      /crm:app\.healthPath: must start with \//,
    );
  });

  it("gives each variable its source's value: the URL whole or in parts (decoded), the secret, the upload folder, or a fixed value", () => {
    const env = customAppEnv(
      {
        DATABASE_URL: { from: "databaseUrl" },
        DB_HOST: { from: "databaseHost" },
        DB_PORT: { from: "databasePort" },
        DB_USER: { from: "databaseUser" },
        DB_PASSWORD: { from: "databasePassword" },
        DB_NAME: { from: "databaseName" },
        SECRET: { from: "sessionSecret" },
        UPLOADS: { from: "uploadDir" },
        PORT: { value: "3000" },
      },
      values,
    );
    assert.deepEqual(env, {
      DATABASE_URL: values.databaseUrl,
      DB_HOST: "10.1.4.31",
      DB_PORT: "5432",
      DB_USER: "crm",
      DB_PASSWORD: "p@ss/w0rd",
      DB_NAME: "crm",
      SECRET: values.sessionSecret,
      UPLOADS: "/mnt/nas/uploads",
      PORT: "3000",
    });
  });

  const custom: CustomApp = { start: `node ./bin/www --title "50% $HOME"`, env: { A: "x" }, migrate: ["node bin/migrate.js"], seed: [] };

  it("starts the app with its own command and Node.js, runs crm-once first only when there are once-only commands", () => {
    const unit = renderAppUnit(custom);
    assert.match(unit, /^ExecStart=\/bin\/sh -c "exec node \.\/bin\/www --title \\"50%% \$\$HOME\\""$/m);
    assert.match(unit, /^Environment=PATH=\/opt\/crm\/\.crm-runtime\/bin:/m);
    assert.match(unit, /^ExecStartPre=\+\/usr\/local\/sbin\/crm-once$/m);
    assert.doesNotMatch(renderAppUnit({ ...custom, migrate: [] }), /ExecStartPre/);
    assert.match(renderAppUnit(), /^ExecStart=\/usr\/local\/bin\/node \/opt\/crm\/dist\/server\.js$/m);
  });

  /** An app server's role arguments, with the project's CRM. */
  const crmArgs = {
    listen: "10.1.3.11",
    port: 3000,
    ...values,
    adminPassword: "admin-pass-1",
    volume: "nas",
    glusterServers: ["10.1.4.21"],
  };

  it("gives the app only its own variables, and waits for a TCP connect when it has no health path", () => {
    const args = { ...crmArgs, custom };
    assert.equal(renderAppEnv(args), 'A="x"');
    const script = appRoleScript(args);
    assert.match(script, /the app to accept connections" bash -c 'exec 3<>\/dev\/tcp\/10\.1\.3\.11\/3000'/);
    assert.match(script, /crm_write '\/etc\/crm\/migrate\.sh'/);
  });

  it("tells the project's CRM to trust exactly the one balancer in front of it for the client's address", () => {
    assert.match(renderAppEnv(crmArgs), /^TRUST_PROXY_HOPS="1"$/m);
  });

  it("has the balancer check with a TCP connect without a health path, and HAProxy accepts that configuration", function () {
    const cfg = renderHaproxyConfig({
      bind: "10.1.2.2:80",
      backends: [{ name: "s1", address: "10.1.3.11", port: 3000 }],
      algorithm: "roundrobin",
    });
    assert.doesNotMatch(cfg, /httpchk/);
    assert.match(cfg, /server s1 10\.1\.3\.11:3000 check/);
    if (!hasCommand("haproxy")) this.skip();
    const file = path.join(tempDir("haproxy-tcp"), "haproxy.cfg");
    fs.writeFileSync(file, cfg.replace(/stats socket .*\n/, ""));
    const r = run("haproxy", ["-c", "-f", file]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it("stores the password as md5 and accepts md5 logins when the app's driver has no SCRAM", () => {
    assert.match(renderPgConf("10.1.4.31", "md5"), /^password_encryption = 'md5'$/m);
    assert.match(
      renderPgHba({ clients: ["10.1.4.11"], database: "crm", user: "crm", passwordEncryption: "md5" }),
      /10\.1\.4\.11\/32\s+md5$/m,
    );
    assert.match(renderPgHba({ clients: ["10.1.4.11"], database: "crm", user: "crm" }), /10\.1\.4\.11\/32\s+scram-sha-256$/m);
  });

  it("the fixture is whole in a clean clone: the files its start, migrate and seed commands run are tracked by git", function () {
    // CI runs on a clean clone: a file present here but ignored by git (bin/ once was) fails only there.
    if (run("git", ["rev-parse", "--git-dir"]).status !== 0) this.skip();
    const named = ["bin/www", "bin/migrate.js", "bin/seed.js", "app.js", "package-lock.json"].map((f) => path.join(minimal.source, f));
    const tracked = run("git", ["ls-files", "--", ...named])
      .stdout.trim()
      .split("\n");
    assert.deepEqual(tracked.sort(), named.sort());
  });
});
