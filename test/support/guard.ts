/**
 * Network safety for the tests: scenario addresses (10.1.0.0/16) must never leave this machine.
 * The vnx stack installs its own `unreachable` route (metric 4000) and removes it on destroy;
 * the tests add one of their own with another metric, so that between a destroy and the next
 * deploy — or if a stack is torn down while a test still sends traffic — a packet to the
 * scenario fails here instead of following the default route out of the uplink.
 */
import { run } from "./shell";

export const GUARD_ROUTE = ["unreachable", "10.1.0.0/16", "metric", "4001"];

export function installGuardRoute(): void {
  const r = run("ip", ["route", "replace", ...GUARD_ROUTE]);
  if (r.status !== 0) throw new Error(`cannot install the safety route (${GUARD_ROUTE.join(" ")}): ${r.stderr}`);
}

/** True when a packet to the scenario's service address would stay on this machine. */
export function scenarioTrafficStaysLocal(): boolean {
  const r = run("ip", ["route", "get", "10.1.2.2"]);
  return r.status !== 0 || /unreachable|dev crmlan/.test(r.stdout);
}
