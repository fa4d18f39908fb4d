/** The one place that chooses how the scenario is realized: by the stack's `crm:target`. */
import type { Settings } from "../topology/settings";
import type { Platform } from "./platform";
import { VnxPlatform } from "./vnx";

export function selectPlatform(settings: Settings): Platform {
  switch (settings.target) {
    case "vnx":
      return new VnxPlatform();
    case "aws":
    case "openstack":
      throw new Error(`crm:target: ${settings.target} is not implemented yet`);
  }
}
