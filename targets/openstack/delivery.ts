/**
 * What openstack adds to a host's first boot, as pure renderers: policy routing for hosts with a
 * port on two LANs and a floating IP, and the app bundle's download from the stack's Swift
 * container.
 *
 * Why policy routing: each port's subnet hands out a default route by DHCP, so a host with two
 * ports has two; a reply to a connection that came in through the floating IP's port may leave
 * through the other one, whose port security drops a source address that is not its own.
 * Each port's address answers through its own port's gateway (one routing table per port).
 */
import { roleScript, shellQuote, systemdUnit, writeFile, enableNow } from "../../roles/script";

export interface PortRoute {
  /** The port's fixed address. */
  readonly address: string;
  /** Its subnet, and the subnet's gateway (the router). */
  readonly cidr: string;
  readonly gateway: string;
}

/** The first routing table the ports use (one per port, in order); below 253 (default, main, local). */
export const FIRST_TABLE = 100;

/** /usr/local/sbin/crm-policy-routing: idempotent, run at every boot by crm-policy-routing.service. */
export function renderPolicyRouting(routes: readonly PortRoute[]): string {
  const lines = routes.map((r, i) => {
    const table = FIRST_TABLE + i;
    const a = shellQuote(r.address);
    return `dev=$(crm_dev ${a})
ip route replace ${shellQuote(r.cidr)} dev "$dev" src ${a} table ${table}
ip route replace default via ${shellQuote(r.gateway)} dev "$dev" table ${table}
ip rule show | grep -q "from ${r.address} lookup ${table}" || ip rule add from ${a} lookup ${table} priority ${table}`;
  });
  return roleScript(
    "policy routing",
    `# The interface that holds an address; DHCP may not have configured it yet.
crm_dev() { crm_retry 120 "an interface with $1" sh -c "ip -o -4 addr show | grep -q ' inet $1/'"; ip -o -4 addr show | awk -v a="$1" '{split($4, p, "/"); if (p[1] == a) print $2}'; }`,
    ...lines,
  );
}

export const POLICY_ROUTING_PATH = "/usr/local/sbin/crm-policy-routing";

/** The bootstrap step: the script, a unit that runs it at every boot, and a first run now. */
export function policyRoutingStep(routes: readonly PortRoute[]): string {
  const unit = systemdUnit({
    Unit: { Description: "crm: each port answers through its own gateway", After: "network-online.target", Wants: "network-online.target" },
    Service: { Type: "oneshot", RemainAfterExit: "yes", ExecStart: POLICY_ROUTING_PATH },
    Install: { WantedBy: "multi-user.target" },
  });
  return [
    writeFile(POLICY_ROUTING_PATH, renderPolicyRouting(routes), { mode: "0755" }),
    writeFile("/etc/systemd/system/crm-policy-routing.service", unit, { onChange: "systemctl daemon-reload" }),
    enableNow("crm-policy-routing.service"),
  ].join("\n");
}

/** A catalog entry of the auth scope, as the provider returns it. */
export interface CatalogEntry {
  readonly type: string;
  readonly endpoints: readonly { readonly interface: string; readonly region: string; readonly url: string }[];
}

/** The object store's public endpoint in the region (or the only one), from the token's catalog. */
export function objectStoreUrl(catalog: readonly CatalogEntry[], region: string | undefined): string {
  const endpoints = catalog
    .filter((s) => s.type === "object-store")
    .flatMap((s) => s.endpoints)
    .filter((e) => e.interface === "public" && (region === undefined || e.region === region));
  if (endpoints.length === 0)
    throw new Error(
      `crm:osRegion: the cloud has no public object-store (Swift) endpoint${region ? ` in ${region}` : ""}; the app bundle needs one`,
    );
  return endpoints[0].url.replace(/\/+$/, "");
}

/** Shell that writes a public-read Swift object to $CRM_BUNDLE. */
export function swiftFetchCommand(url: string): string {
  return `curl -fsS --retry 5 -o "$CRM_BUNDLE" ${shellQuote(url)}`;
}
