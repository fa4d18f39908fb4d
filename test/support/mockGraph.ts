/** Runs the program under mocks in a process of its own (test/support/vnxMockRun.ts) and returns what it registered. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { runInOwnProcess } from "./isolated";
import type { Registered } from "./vnxMockRun";

export function registeredBy(config: Record<string, string>): Registered[] {
  return runUnderMocks(config).resources;
}

/** What the program registered, and its stack outputs (index.ts's exports, resolved). */
export function runUnderMocks(config: Record<string, string>): { resources: Registered[]; outputs: Record<string, unknown> } {
  const result = runInOwnProcess<{ resources: Registered[]; outputs: Record<string, unknown>; errors: string[] }>(
    path.join(__dirname, "vnxMockRun.ts"),
    JSON.stringify(config),
  );
  assert.deepEqual(result.errors, []);
  return result;
}

/** The script a role command runs: its stdin (a secret under mocks: `{ value }`). */
export function scriptOf(r: Registered): string {
  const stdin = r.inputs.stdin as string | { value: string } | undefined;
  const script = typeof stdin === "string" ? stdin : stdin?.value;
  assert.ok(script, `${r.name} has no script on stdin`);
  return script;
}

/** What a role script writes to `file` (the heredoc of roles/script.ts writeFile); throws when it writes nothing there. */
export function writtenBy(script: string, file: string): string {
  const start = script.indexOf(`crm_write '${file}' `);
  assert.ok(start >= 0, `the script writes no ${file}`);
  const [command, ...rest] = script.slice(start).split("\n");
  const delimiter = /<<'([^']+)'$/.exec(command)?.[1];
  assert.ok(delimiter, command);
  return `${rest.slice(0, rest.indexOf(delimiter)).join("\n")}\n`;
}
