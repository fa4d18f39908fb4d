/** The one place that chooses how the scenario is realized: by the stack's `crm:target`. */
import type { HostPlan } from "../topology/plan";
import type { Settings } from "../topology/settings";
import type { Platform } from "./platform";
import { VnxPlatform } from "./vnx";

export function selectPlatform(settings: Settings, hosts: readonly HostPlan[]): Platform {
  switch (settings.target) {
    case "vnx":
      return new VnxPlatform(settings, hosts);
    case "aws":
    case "openstack":
      throw new Error(`crm:target: ${settings.target} is not implemented yet`);
  }
}
