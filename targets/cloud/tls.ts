/** What both clouds' HTTPS needs of a certificate (issue 12), pure and tested. */
import { coverageProblem, pemBlocks } from "../../tls/checks";

/**
 * A PEM chain (the leaf first, then its issuers: how crm:tlsCertificate and the stack's CA hand
 * a certificate over) split as ACM's import and Barbican's certificate container want it: the
 * leaf alone, and the rest apart.
 */
export function splitPemChain(pem: string): { leaf: string; intermediates?: string } {
  const [leaf, ...rest] = pemBlocks(pem);
  if (leaf === undefined) throw new Error("the service certificate holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
  return { leaf: `${leaf}\n`, intermediates: rest.length > 0 ? `${rest.join("\n")}\n` : undefined };
}

/** Whether a PEM chain holds more than its leaf. */
export function hasIntermediates(pem: string): boolean {
  return splitPemChain(pem).intermediates !== undefined;
}

/**
 * Whether the user's certificate covers crm:domain, the name clients will use: told at preview,
 * before anything is made (TlsSpec.issue checks again where an address is known only at deploy
 * time, as openstack's floating IP).
 */
export function ownCertificateDomainProblem(certificatePem: string | undefined, domain: string | undefined): string | undefined {
  if (certificatePem === undefined || domain === undefined) return undefined;
  return coverageProblem(certificatePem, { dnsNames: [domain] });
}
