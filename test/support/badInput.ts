/** Bad settings must stop the real CLI before anything exists. */
import assert from "node:assert/strict";
import type { TestStack } from "./pulumi";

/** preview and up both fail with `message`, and the stack's state holds nothing. */
export function failsBeforeAnythingExists(stack: TestStack, message: RegExp): void {
  for (const command of [["preview"], ["up", "--yes", "--skip-preview"]]) {
    const r = stack.pulumi(...command);
    assert.notEqual(r.status, 0, `${command[0]} succeeded`);
    assert.match(r.stdout + r.stderr, message, command[0]);
  }
  assert.equal(stack.resourceCount(), 0);
}
