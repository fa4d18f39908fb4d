/**
 * Bad input on the docker stack, through the real Pulumi CLI: no engine at crm:dockerHost fails
 * `preview` and `up` with a message naming the key, before anything is registered. (A base image
 * that does not exist needs a running engine: test/docker/replay.test.ts checks it.)
 */
import { failsBeforeAnythingExists } from "../support/badInput";
import { testStack, VALID_SECRETS, type TestStack } from "../support/pulumi";

const NO_ENGINE = "unix:///run/crm-no-engine.sock";

describe("the real Pulumi CLI on the docker stack: bad input", function () {
  this.timeout(180_000);
  let stack: TestStack;

  before(() => {
    stack = testStack("docker-bad");
    stack.configure({ "crm:target": "docker", "crm:dockerHost": NO_ENGINE }, VALID_SECRETS);
  });

  it("no Docker engine at crm:dockerHost fails preview and up with a message naming the key; nothing is created", () => {
    failsBeforeAnythingExists(stack, /crm:dockerHost: no Docker engine answers at unix:\/\/\/run\/crm-no-engine\.sock/);
  });

  it("a bad crm:dockerCidr fails preview and up with a message naming the key", () => {
    stack.configure({ "crm:dockerCidr": "10.1.0.0/16" });
    try {
      failsBeforeAnythingExists(stack, /crm:dockerCidr: must not be 10\.1\.0\.0\/16, the vnx stack's range/);
    } finally {
      stack.pulumi("config", "rm", "crm:dockerCidr");
    }
  });
});
