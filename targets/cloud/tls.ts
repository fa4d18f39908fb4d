/** What both clouds' HTTPS needs of a certificate (issue 12), pure and tested. */
import * as pulumi from "@pulumi/pulumi";

/** PLACEHOLDER until topology/settings.ts has the tls keys: the user's certificate as configured. */
export function ownCertificateText(): string | undefined {
  return new pulumi.Config("crm").get("tlsCertificate");
}

/** HTTPS's port on the service. */
export const HTTPS_PORT = 443;

/**
 * A PEM bundle (the leaf first, then intermediates: how crm:tlsCertificate and the stack's CA
 * hand a certificate over) split as ACM's import and Barbican's certificate container want it:
 * the leaf alone, and the intermediates apart.
 */
export function splitPemChain(pem: string): { leaf: string; intermediates?: string } {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error("the service certificate holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
  const [leaf, ...rest] = blocks;
  return { leaf: `${leaf}\n`, intermediates: rest.length > 0 ? `${rest.join("\n")}\n` : undefined };
}

/** Whether a PEM chain holds more than its leaf (pure). */
export function hasIntermediates(pem: string): boolean {
  return splitPemChain(pem).intermediates !== undefined;
}
