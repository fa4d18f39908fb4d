/**
 * crm-infra: the seed's CRM architecture — firewall, load balancer, N app servers, PostgreSQL,
 * a replica-3 GlusterFS volume — on the stack's target (vnx, openstack or aws).
 */
import * as pulumi from "@pulumi/pulumi";
import { CertificateAuthority } from "./components/CertificateAuthority";
import { CrmTier } from "./components/CrmTier";
import { Firewall, scenarioPolicy } from "./components/Firewall";
import { GlusterCluster } from "./components/GlusterCluster";
import { LoadBalancer } from "./components/LoadBalancer";
import { ManagementHost } from "./components/ManagementHost";
import { Monitoring } from "./components/Monitoring";
import { PgServer } from "./components/PgServer";
import { checkOwnCertificateCovers, knownServiceSubject, selectPlatform } from "./targets";
import { addressOn, FIREWALL_INSIDE, planScenario, hostsWithRole, virtualAddresses, type HostPlan } from "./topology/plan";
import { loadSettings } from "./topology/settings";

const { settings, secrets, ownCertificate } = loadSettings();
checkOwnCertificateCovers(ownCertificate, knownServiceSubject(settings));
const hosts = planScenario(settings);
const one = (role: HostPlan["role"]): HostPlan => hostsWithRole(hosts, role)[0];
const servers = hostsWithRole(hosts, "app");
// One of each, or two sharing their addresses (crm:frontHa): the first is the preferred member.
const [fw, fw2] = hostsWithRole(hosts, "firewall");
const [balancer, balancer2] = hostsWithRole(hosts, "balancer");
const platform = selectPlatform(settings, hosts);

const policy = scenarioPolicy({
  adminCidr: settings.adminCidr,
  monitoring: settings.monitoring ? one("monitor").nics[0].address : undefined,
  management: settings.management ? one("management").nics[0].address : undefined,
  firewallInside: fw2 ? [addressOn(fw, "lan2"), addressOn(fw2, "lan2"), FIREWALL_INSIDE] : undefined,
});
const firewall = new Firewall("fw", { platform, host: fw, backup: fw2, policy });
const storage = new GlusterCluster("nas", { platform, hosts: hostsWithRole(hosts, "nas"), clients: servers });
const standby = hostsWithRole(hosts, "db")[1];
// The backups (and the pair's third etcd member) live on the storage hosts, which must be up first.
const db = new PgServer("bbdd", {
  platform,
  host: one("db"),
  standby,
  clients: servers,
  password: secrets.dbPassword,
  passwordEncryption: settings.app?.md5Passwords ? "md5" : "scram-sha-256",
  witness: standby ? one("nas") : undefined,
  backup: { storage: hostsWithRole(hosts, "nas"), ready: storage.ready, retentionFull: settings.backupRetention },
  monitor: settings.monitoring ? one("monitor") : undefined,
  dependsOn: standby ? storage.ready : undefined,
});
// HTTPS always (issue 12): with the stack's own CA, or the user's certificate (crm:tlsCertificate).
const tls = new CertificateAuthority("tls", { own: ownCertificate });
const tier = new CrmTier("crm", {
  platform,
  servers,
  databaseUrl: db.databaseUrl,
  databaseProxy: db.proxy,
  sessionSecret: secrets.sessionSecret,
  adminPassword: secrets.adminPassword,
  storage,
  balancers: hostsWithRole(hosts, "balancer"),
  rolloutTimeout: settings.rolloutTimeout,
  app: settings.app,
  behindHttps: true,
  dependsOn: [...db.ready, ...storage.ready],
});
const lb = new LoadBalancer("lb", {
  platform,
  host: balancer,
  backup: balancer2,
  members: tier.members,
  port: tier.port,
  healthPath: tier.healthPath,
  algorithm: settings.balance,
  entry: firewall.policy.forward,
  tls,
  dependsOn: tier.ready,
});

const insideHosts = hosts.filter((h) => h.role !== "client");
const monitoring = settings.monitoring
  ? new Monitoring("nagios", {
      platform,
      host: one("monitor"),
      watched: insideHosts.filter((h) => h.role !== "monitor"),
      virtualAddresses: virtualAddresses(settings),
      adminPassword: secrets.adminPassword,
      app: { port: tier.port, healthPath: tier.healthPath },
      // The pair that Patroni runs, or a single server the target backs up (RDS is the cloud's to watch).
      database: db.proxy ? "patroni" : db.backedUp ? "single" : undefined,
      dependsOn: [lb],
    })
  : undefined;
// Every target realizes the management host (on the clouds with a public address, which becomes managementSsh).
const management =
  settings.management && platform.management
    ? new ManagementHost("ges", { platform, host: one("management"), authorizedKeys: settings.managementKeys, managed: insideHosts })
    : undefined;
platform.clients?.(hostsWithRole(hosts, "client"), tls.caCertificatePem);

export const url = lb.url;
export const target = settings.target;
/** Every host of the address plan with its addresses, by name: on vnx, the hosts' real addresses. */
export const addresses: Record<string, Record<string, string>> | undefined =
  platform.target === "vnx"
    ? Object.fromEntries(hosts.map((h) => [h.name, Object.fromEntries(h.nics.map((n) => [n.lan, n.address]))]))
    : undefined;
/** Each app server's address, as the target assigned it. */
export const appServers = pulumi
  .all(tier.members.map((m) => pulumi.output(m.address)))
  .apply((found) => Object.fromEntries(tier.members.map((m, i) => [m.name, found[i]])));
export const databaseAddress = db.address;
export const storageAddresses = storage.addresses;
export const monitoringUrl = monitoring?.url;
export const managementSsh = management?.ssh;
export const databaseUrl = pulumi.secret(db.databaseUrl);
/** The CA that clients trust for the service's certificate (PEM); `scripts/vnx up` writes it to .pulumi-state/<stack>-ca.pem. */
export const caCertificate = tls.caCertificatePem;
