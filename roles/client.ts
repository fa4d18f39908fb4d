/** The client hosts on the outside LAN (c1, c2): plain Debian, trusting the CA of the service's certificate. */
import { roleScript, writeFile } from "./script";

/** Debian's place for a local CA: update-ca-certificates adds it to the system's trust store (curl, wget, …). */
export const TRUSTED_CA_PATH = "/usr/local/share/ca-certificates/crm-infra.crt";

/** A client host; with `trustedCa`, its programs trust that CA (the stack's, so https://10.1.2.2/ verifies as for a user who installed it). */
export function clientRoleScript(trustedCa?: string): string {
  return roleScript(
    "client",
    ...(trustedCa ? [writeFile(TRUSTED_CA_PATH, trustedCa, { onChange: "update-ca-certificates --fresh >/dev/null" })] : []),
  );
}
