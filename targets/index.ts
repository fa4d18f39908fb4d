/** The one place that chooses how the scenario is realized: by the stack's `crm:target`. */
import type { HostPlan } from "../topology/plan";
import type { Settings } from "../topology/settings";
import { AwsPlatform } from "./aws";
import { DockerPlatform } from "./docker";
import { OpenStackPlatform } from "./openstack";
import type { Platform } from "./platform";
import { VnxPlatform } from "./vnx";

export function selectPlatform(settings: Settings, hosts: readonly HostPlan[]): Platform {
  switch (settings.target) {
    case "vnx":
      return VnxPlatform.onThisMachine();
    case "aws":
      return new AwsPlatform(settings, hosts);
    case "openstack":
      return new OpenStackPlatform(settings, hosts);
    case "docker":
      return DockerPlatform.onThisEngine();
  }
}
