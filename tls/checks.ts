/**
 * Checks of a certificate the user brings (crm:tlsCertificate, crm:tlsKey), pure and with Node's
 * own X.509 parser, so that a bad one fails `preview` with the setting's name instead of HAProxy
 * refusing to start on the balancer (or, worse, starting and serving a certificate nobody trusts).
 */
import { createPrivateKey, X509Certificate } from "node:crypto";

/** The settings' full keys, for messages. */
export const TLS_KEYS = { certificate: "crm:tlsCertificate", key: "crm:tlsKey" } as const;

/** The PEM blocks of one kind (CERTIFICATE) in a text, each with its BEGIN and END lines. */
export function pemBlocks(text: string, label = "CERTIFICATE"): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, "g");
  return text.match(re) ?? [];
}

/** The last certificate of a chain: the root a client is to trust (for a single self-signed certificate, itself). */
export function chainRoot(certificatePem: string): string {
  const blocks = pemBlocks(certificatePem);
  return `${blocks[blocks.length - 1]}\n`;
}

/** What a service certificate names (IP addresses and DNS names). */
export interface CertificateSubject {
  readonly ipAddresses?: readonly string[];
  readonly dnsNames?: readonly string[];
}

/**
 * What is wrong with the user's certificate (its chain, leaf first) and key, each message starting
 * with the setting to fix; empty when nothing is. The key is checked only when given (it is a
 * secret, read later than the certificate).
 */
export function ownCertificateProblems(certificatePem: string, privateKeyPem: string | undefined, now: Date): string[] {
  const blocks = pemBlocks(certificatePem);
  if (blocks.length === 0) return [`${TLS_KEYS.certificate}: is not a PEM certificate (-----BEGIN CERTIFICATE-----)`];
  let chain: X509Certificate[];
  try {
    chain = blocks.map((b) => new X509Certificate(b));
  } catch (e) {
    return [`${TLS_KEYS.certificate}: cannot be read as X.509 (${(e as Error).message})`];
  }
  const problems: string[] = [];
  const [leaf] = chain;
  if (leaf.ca)
    problems.push(`${TLS_KEYS.certificate}: its first certificate is a CA's; put the server's certificate first, then its chain`);
  if (new Date(leaf.validTo) <= now) problems.push(`${TLS_KEYS.certificate}: expired on ${isoDate(leaf.validTo)}`);
  if (new Date(leaf.validFrom) > now) problems.push(`${TLS_KEYS.certificate}: is not valid before ${isoDate(leaf.validFrom)}`);
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey))
      problems.push(
        `${TLS_KEYS.certificate}: certificate ${i + 2} of the chain did not issue certificate ${i + 1} (leaf first, then each issuer)`,
      );
  }
  if (privateKeyPem !== undefined) {
    let key;
    try {
      key = createPrivateKey(privateKeyPem);
    } catch {
      // The key's text never goes into a message: it is a secret.
      return [...problems, `${TLS_KEYS.key}: is not a PEM private key (unencrypted PKCS#8, PKCS#1 or SEC1)`];
    }
    if (!leaf.checkPrivateKey(key))
      problems.push(`${TLS_KEYS.key}: does not match ${TLS_KEYS.certificate} (a key of another certificate?)`);
  }
  return problems;
}

/** Whether the certificate (its leaf) is valid for every address and name clients use; undefined when it is. */
export function coverageProblem(certificatePem: string, subject: CertificateSubject): string | undefined {
  const [first] = pemBlocks(certificatePem);
  if (!first) return `${TLS_KEYS.certificate}: is not a PEM certificate`;
  const leaf = new X509Certificate(first);
  const missing = [
    ...(subject.ipAddresses ?? []).filter((ip) => leaf.checkIP(ip) === undefined),
    ...(subject.dnsNames ?? []).filter((name) => leaf.checkHost(name) === undefined),
  ];
  if (missing.length === 0) return undefined;
  return `${TLS_KEYS.certificate}: does not cover ${missing.join(", ")}, where clients reach the service (it names: ${leaf.subjectAltName ?? leaf.subject})`;
}

function isoDate(text: string): string {
  return new Date(text).toISOString();
}
