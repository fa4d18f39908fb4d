/** The docker target's pure parts: its settings, the moved address plan, the preflight's answers. */
import assert from "node:assert/strict";
import { lanSubnet, moveAddress, moveHost } from "../../targets/docker/addresses";
import { engineProblem, type CliAnswer } from "../../targets/docker/engine";
import { parseDockerSettings } from "../../targets/docker/settings";
import { selfSigned } from "../support/certificates";
import { containerCreateArgs } from "../support/dockerReplay";
import { registeredBy } from "../support/mockGraph";
import { VALID_SECRETS } from "../support/pulumi";
import { planScenario, SERVICE_ADDRESS } from "../../topology/plan";

describe("docker target: settings, addresses, preflight", () => {
  it("defaults to the local engine, debian:trixie, 10.2.0.0/16 and 127.0.0.1:8080", () => {
    assert.deepEqual(parseDockerSettings({}), {
      host: "unix:///var/run/docker.sock",
      baseImage: "debian:trixie",
      cidr: "10.2.0.0/16",
      publishAddress: "127.0.0.1",
      publishPort: 8080,
    });
  });

  for (const [key, value, message] of [
    ["dockerHost", "/var/run/docker.sock", /crm:dockerHost: must be an engine address/],
    ["dockerBaseImage", "Debian Trixie", /crm:dockerBaseImage: must be an image reference/],
    ["dockerCidr", "10.2.0.0/24", /crm:dockerCidr: must be a \/16/],
    ["dockerCidr", "10.300.0.0/16", /crm:dockerCidr: must be a \/16/],
    ["dockerCidr", "10.1.0.0/16", /crm:dockerCidr: must not be 10\.1\.0\.0\/16/],
    ["dockerPublish", "8080", /crm:dockerPublish: must be ADDRESS:PORT/],
    ["dockerPublish", "127.0.0.1:70000", /crm:dockerPublish: has a bad address or port/],
  ] as const) {
    it(`refuses crm:${key} = ${value} with a message naming the key`, () => {
      assert.throws(() => parseDockerSettings({ [key]: value }), message);
    });
  }

  describe("what it does not realize, refused naming the setting (the program under mocks)", function () {
    this.timeout(60_000);
    const docker = { "crm:target": "docker", ...VALID_SECRETS };

    it("crm:frontHa: no front pairs behind the one published port", () => {
      assert.throws(
        () => registeredBy({ ...docker, "crm:frontHa": "true" }),
        /crm:frontHa: the docker target cannot realize the front pairs/,
      );
    });

    it("crm:tlsCertificate and crm:tlsKey: HTTP only, so a certificate of the user's own is refused, its key in no message", () => {
      const own = selfSigned([SERVICE_ADDRESS], 30);
      let message = "";
      assert.throws(
        () => registeredBy({ ...docker, "crm:tlsCertificate": own.certificatePem, "crm:tlsKey": own.privateKeyPem }),
        (e: Error) => ((message = e.message), true),
      );
      assert.match(message, /crm:tlsCertificate, crm:tlsKey: the docker target serves the CRM over HTTP only/);
      assert.ok(!message.includes(own.privateKeyPem.split("\n")[1]), "the key is in no message");
    });
  });

  it("moves the seed's addresses, and only those, to the stack's /16", () => {
    assert.equal(moveAddress("10.1.2.2", "10.2.0.0/16"), "10.2.2.2");
    assert.equal(moveAddress("10.1.0.0/16", "172.20.0.0/16"), "172.20.0.0/16");
    assert.equal(moveAddress("10.10.1.1", "10.2.0.0/16"), "10.10.1.1");
    assert.equal(moveAddress("203.0.113.0/24", "10.2.0.0/16"), "203.0.113.0/24");
    const fw = moveHost(planScenario({ servers: 3, monitoring: false, management: false, dbStandby: false })[0], "10.2.0.0/16");
    assert.deepEqual(fw.routes, [
      { to: "10.2.3.0/24", via: "10.2.2.2" },
      { to: "10.2.4.0/24", via: "10.2.2.2" },
    ]);
    assert.deepEqual(lanSubnet("lan3", "10.2.0.0/16"), { subnet: "10.2.3.0/24", gateway: "10.2.3.254" });
  });

  describe("preflight", () => {
    const settings = { host: "unix:///run/no.sock", baseImage: "crm-debian:x" };
    /** A fake CLI that answers by subcommand. */
    const cli = (answers: Record<string, CliAnswer>) => (args: readonly string[]) => answers[args[2]] ?? { status: 0, stderr: "" };

    it("names crm:dockerHost when no engine answers", () => {
      const problem = engineProblem(
        settings,
        cli({ version: { status: 1, stderr: "Cannot connect to the Docker daemon at unix:///run/no.sock" } }),
      );
      assert.match(problem ?? "", /^crm:dockerHost: no Docker engine answers at unix:\/\/\/run\/no.sock: Cannot connect/);
    });

    it("says that the Docker CLI is needed when it is missing", () => {
      assert.match(engineProblem(settings, cli({ version: { status: undefined, stderr: "spawnSync docker ENOENT" } })) ?? "", /Docker CLI/);
    });

    it("names crm:dockerBaseImage when the image is neither there nor pullable", () => {
      const problem = engineProblem(settings, cli({ image: { status: 1, stderr: "" }, pull: { status: 1, stderr: "pull access denied" } }));
      assert.match(
        problem ?? "",
        /^crm:dockerBaseImage: image crm-debian:x is not on the engine at unix:\/\/\/run\/no.sock and cannot be pulled: pull access denied/,
      );
    });

    it("passes when the engine answers and has the image", () => {
      assert.equal(engineProblem(settings, cli({})), undefined);
    });
  });

  it("the replay creates a container as the provider would: on the default bridge, the networks joined after", () => {
    const args = containerCreateArgs({
      name: "crmd-fw",
      image: "crmd-host:1",
      networksAdvanced: [
        { name: "crmd-lan1", ipv4Address: "10.2.1.1" },
        { name: "crmd-lan2", ipv4Address: "10.2.2.1" },
      ],
      ports: [{ internal: 80, external: 8080, ip: "127.0.0.1", protocol: "tcp" }],
      command: ["/sbin/init"],
    });
    assert.deepEqual(args, ["create", "--name", "crmd-fw", "--publish", "127.0.0.1:8080:80/tcp", "crmd-host:1", "/sbin/init"]);
  });
});
