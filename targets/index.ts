/** The one place that chooses how the scenario is realized: by the stack's `crm:target`. */
import { coverageProblem } from "../tls/checks";
import { SERVICE_ADDRESS, type HostPlan } from "../topology/plan";
import { SettingsError, type OwnCertificate, type Settings } from "../topology/settings";
import { AwsPlatform } from "./aws";
import { DockerPlatform } from "./docker";
import { OpenStackPlatform } from "./openstack";
import type { Platform, TlsSubject } from "./platform";
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

/**
 * Where clients reach the service over HTTPS, when that is known before anything is deployed: on
 * vnx the plan's service address. Undefined where it is known only at deploy time (openstack's
 * floating IP) or the target does not serve HTTPS itself yet (docker); TlsSpec.issue checks those.
 */
export function knownServiceSubject(settings: Settings): TlsSubject | undefined {
  return settings.target === "vnx" ? { ipAddresses: [SERVICE_ADDRESS] } : undefined;
}

/**
 * Stops the program, before anything is created, when the user's own certificate does not cover
 * where clients reach the service (the same check TlsSpec.issue makes later for deploy-time addresses).
 */
export function checkOwnCertificateCovers(own: OwnCertificate | undefined, subject: TlsSubject | undefined): void {
  if (!own || !subject) return;
  const strings = (list: TlsSubject["ipAddresses"]) => (list ?? []).filter((a): a is string => typeof a === "string");
  const problem = coverageProblem(own.certificatePem, { ipAddresses: strings(subject.ipAddresses), dnsNames: strings(subject.dnsNames) });
  if (problem) throw new SettingsError(`invalid configuration:\n  ${problem}`);
}
