import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  etcHostsStep,
  managementRoleScript,
  renderAuthorizedKeys,
  renderCrmHosts,
  renderSshdConfig,
  validatePublicKey,
  type ManagementArgs,
} from "../../roles/management";
import { roleScript } from "../../roles/script";
import { freePort, hasCommand, run, ssh as sshCommand, tempDir } from "../support/shell";

/** Fresh key pairs, made once for all tests (RSA 3072 takes a moment). */
function keyPair(dir: string, type: "rsa" | "ed25519", bits?: number): { file: string; pub: string } {
  const file = path.join(dir, `${type}${bits ?? ""}`);
  const r = run("ssh-keygen", ["-q", "-t", type, ...(bits ? ["-b", String(bits)] : []), "-N", "", "-C", `test ${type}`, "-f", file]);
  assert.equal(r.status, 0, r.stderr);
  return { file, pub: fs.readFileSync(`${file}.pub`, "utf8").trim() };
}

const hosts = [
  { name: "s1", address: "10.1.3.11" },
  { name: "bbdd", address: "10.1.4.31" },
];

describe("management host", function () {
  this.timeout(60_000);
  let dir: string;
  let rsa: { file: string; pub: string };
  let rsa2048: { file: string; pub: string };
  let ed25519: { file: string; pub: string };

  before(function () {
    if (!hasCommand("ssh-keygen")) this.skip();
    dir = tempDir("ssh");
    rsa = keyPair(dir, "rsa", 3072);
    rsa2048 = keyPair(dir, "rsa", 2048);
    ed25519 = keyPair(dir, "ed25519");
  });

  describe("validatePublicKey", () => {
    it("accepts RSA ≥ 3072 bits and Ed25519 keys, with or without a comment", () => {
      assert.equal(validatePublicKey(rsa.pub), undefined);
      assert.equal(validatePublicKey(ed25519.pub), undefined);
      assert.equal(validatePublicKey(rsa.pub.split(" ").slice(0, 2).join(" ")), undefined);
    });

    it("refuses short RSA keys, other types, options, extra lines and forged blobs", () => {
      assert.match(validatePublicKey(rsa2048.pub)!, /2048 bits/);
      assert.match(validatePublicKey(`from="10.0.0.0/8" ${rsa.pub}`)!, /no options/);
      assert.match(validatePublicKey(`command="/bin/sh" ${rsa.pub}`)!, /no options/);
      assert.match(validatePublicKey(`${rsa.pub}\n${ed25519.pub}`)!, /single line/);
      assert.match(validatePublicKey(`ecdsa-sha2-nistp256 ${ed25519.pub.split(" ")[1]}`)!, /expected/);
      // An Ed25519 blob labelled as RSA, and a truncated blob.
      assert.match(validatePublicKey(`ssh-rsa ${ed25519.pub.split(" ")[1]}`)!, /not an ssh-rsa key/);
      const truncated = Buffer.from(rsa.pub.split(" ")[1], "base64").subarray(0, 100).toString("base64");
      assert.match(validatePublicKey(`ssh-rsa ${truncated}`)!, /malformed/);
      assert.match(validatePublicKey("ssh-rsa AAAA!!!")!, /expected/);
    });

    it("keeps bad keys out of authorized_keys, and refuses an empty list", () => {
      assert.equal(renderAuthorizedKeys([rsa.pub, ed25519.pub]), `${rsa.pub}\n${ed25519.pub}\n`);
      assert.throws(() => renderAuthorizedKeys([ed25519.pub, rsa2048.pub]), /authorized key 2: RSA key of 2048 bits/);
      assert.throws(() => renderAuthorizedKeys([]), /at least one/);
    });
  });

  describe("sshd drop-in", () => {
    const conf = renderSshdConfig("10.1.3.20");

    it("allows key login only, on the management address only", () => {
      for (const line of [
        "ListenAddress 10.1.3.20",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "AuthenticationMethods publickey",
        "PermitRootLogin prohibit-password",
        "AllowUsers root",
        "MaxAuthTries 3",
        "X11Forwarding no",
        "RequiredRSASize 3072",
      ]) {
        assert.ok(conf.split("\n").includes(line), line);
      }
      assert.match(conf, /^PubkeyAcceptedAlgorithms .*\brsa-sha2-512,rsa-sha2-256\b/m);
    });

    it("lets a fresh RSA 3072 key (and an Ed25519 key) in through a real sshd, and refuses passwords and short keys", async function () {
      if (!hasCommand("sshd") || !hasCommand("ssh") || process.getuid?.() !== 0) this.skip();
      fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
      const port = await freePort();
      const dropIn = path.join(dir, "00-crm.conf");
      fs.writeFileSync(dropIn, renderSshdConfig("127.0.0.1"));
      fs.writeFileSync(path.join(dir, "authorized_keys"), renderAuthorizedKeys([rsa.pub, ed25519.pub]), { mode: 0o600 });
      // Include comes first, as in Debian's sshd_config; the rest stands in for what the host provides.
      const hostKey = path.join(dir, "host_ed25519");
      assert.equal(run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]).status, 0);
      const config = path.join(dir, "sshd_config");
      fs.writeFileSync(
        config,
        [
          `Include ${dropIn}`,
          `Port ${port}`,
          `HostKey ${hostKey}`,
          `PidFile ${dir}/sshd.pid`,
          `AuthorizedKeysFile ${dir}/authorized_keys`,
          "StrictModes no", // the temp directory sits under the world-writable /tmp
          "UsePAM yes",
          "",
        ].join("\n"),
      );
      const check = run("/usr/sbin/sshd", ["-t", "-f", config]);
      assert.equal(check.status, 0, check.stderr);
      const effective = run("/usr/sbin/sshd", ["-T", "-f", config]).stdout;
      for (const want of ["passwordauthentication no", "authenticationmethods publickey", "listenaddress 127.0.0.1:" + port]) {
        assert.ok(effective.split("\n").includes(want), want);
      }

      const sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
      let log = "";
      sshd.stderr.on("data", (d: Buffer) => (log += d.toString()));
      try {
        const deadline = Date.now() + 10_000;
        while (!log.includes("Server listening") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        assert.match(log, /Server listening on 127\.0\.0\.1 port/);
        const ssh = (...opts: string[]) => sshCommand("-p", String(port), ...opts, "root@127.0.0.1", "echo", "logged-in");
        const withRsa = ssh("-o", "IdentitiesOnly=yes", "-i", rsa.file);
        assert.equal(withRsa.status, 0, withRsa.stderr + log);
        assert.equal(withRsa.stdout.trim(), "logged-in");
        assert.equal(ssh("-o", "IdentitiesOnly=yes", "-i", ed25519.file).status, 0);

        const password = ssh("-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no");
        assert.notEqual(password.status, 0);
        assert.match(password.stderr, /Permission denied \(publickey\)/);

        // Even if it were in authorized_keys, a 2048-bit RSA key would be refused (RequiredRSASize).
        fs.appendFileSync(path.join(dir, "authorized_keys"), `${rsa2048.pub}\n`);
        const short = ssh("-o", "IdentitiesOnly=yes", "-i", rsa2048.file);
        assert.notEqual(short.status, 0);
        assert.match(short.stderr, /Permission denied \(publickey\)/);
      } finally {
        sshd.kill("SIGTERM");
        await new Promise((r) => sshd.once("exit", r));
      }
    });
  });

  describe("role script", () => {
    const args: ManagementArgs = { authorizedKeys: [], listen: "10.1.3.20", managedHosts: hosts };

    it("is valid bash that checks sshd's configuration before reloading it, and enables ssh.service", () => {
      const script = managementRoleScript({ ...args, authorizedKeys: [ed25519.pub] });
      assert.equal(run("bash", ["-n"], { input: script }).status, 0);
      assert.ok(script.indexOf("sshd -t") < script.indexOf("systemctl reload ssh.service"));
      assert.match(script, /ssh-keygen -A/);
      assert.match(script, /crm_write '\/root\/\.ssh\/authorized_keys' 0600/);
      assert.match(script, /crm_write '\/etc\/ssh\/sshd_config\.d\/00-crm\.conf' 0644/);
      assert.match(script, /systemctl enable --quiet ssh\.service/);
      assert.match(script, /grep -qxE "\$want"/);
    });

    it("refuses to render with a short RSA key", () => {
      assert.throws(() => managementRoleScript({ ...args, authorizedKeys: [rsa2048.pub] }), /2048 bits/);
    });

    it("maintains its own block of /etc/hosts, keeping other lines, and rewrites nothing on a second run", () => {
      const file = path.join(tempDir("hosts"), "hosts");
      fs.writeFileSync(
        file,
        "127.0.0.1\tlocalhost\n# BEGIN crm-infra managed hosts\n10.9.9.9\told\n# END crm-infra managed hosts\n::1\tip6-localhost\n",
      );
      const step = (h: typeof hosts) => roleScript("test", `if ${etcHostsStep(file, h).replace(/ \|\| true$/, "")}\nthen echo CHANGED; fi`);
      assert.match(run("bash", ["-s"], { input: step(hosts) }).stdout, /CHANGED/);
      assert.equal(
        fs.readFileSync(file, "utf8"),
        "127.0.0.1\tlocalhost\n::1\tip6-localhost\n# BEGIN crm-infra managed hosts\n10.1.3.11\ts1\n10.1.4.31\tbbdd\n# END crm-infra managed hosts\n",
      );
      assert.doesNotMatch(run("bash", ["-s"], { input: step(hosts) }).stdout, /CHANGED/);
    });

    it("installs crm-hosts, which lists the managed hosts", () => {
      const file = path.join(tempDir("crm-hosts"), "crm-hosts");
      fs.writeFileSync(file, renderCrmHosts(hosts), { mode: 0o755 });
      const r = run(file, []);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n"), ["s1       10.1.3.11", "bbdd     10.1.4.31"]);
    });

    it("crm-hosts --check reports whether each host answers a ping", function () {
      if (!hasCommand("ping")) this.skip();
      const file = path.join(tempDir("crm-hosts"), "crm-hosts");
      // Loopback only: the scenario's addresses are not reachable from the test machine.
      fs.writeFileSync(file, renderCrmHosts([{ name: "self", address: "127.0.0.1" }]), { mode: 0o755 });
      assert.match(run(file, ["--check"]).stdout, /^self\s+127\.0\.0\.1\s+up$/m);
    });
  });
});
