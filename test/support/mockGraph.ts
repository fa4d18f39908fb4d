/** Runs the program under mocks in a process of its own (test/support/vnxMockRun.ts) and returns what it registered. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { runInOwnProcess } from "./isolated";
import type { Registered } from "./vnxMockRun";

export function registeredBy(config: Record<string, string>): Registered[] {
  const result = runInOwnProcess<{ resources: Registered[]; errors: string[] }>(
    path.join(__dirname, "vnxMockRun.ts"),
    JSON.stringify(config),
  );
  assert.deepEqual(result.errors, []);
  return result.resources;
}
