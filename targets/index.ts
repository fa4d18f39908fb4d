/** The one place that chooses how the scenario is realized: by the stack's `crm:target`. */
import type { Settings } from "../topology/settings";
import { AwsPlatform } from "./aws";
import { DockerPlatform } from "./docker";
import { OpenStackPlatform } from "./openstack";
import type { Platform } from "./platform";
import { VnxPlatform } from "./vnx";

export function selectPlatform(settings: Settings): Platform {
  switch (settings.target) {
    case "vnx":
      return VnxPlatform.onThisMachine();
    case "aws":
      return new AwsPlatform(settings);
    case "openstack":
      return new OpenStackPlatform(settings);
    case "docker":
      return DockerPlatform.onThisEngine();
  }
}
