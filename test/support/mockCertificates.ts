/**
 * What the certificate resource (tls/certificate.ts) hands back, for programs run under mocks: a
 * mock's state is its inputs, and a certificate's outputs are made by openssl at create.
 */
export const MOCK_CERTIFICATE = (name: string) => `-----BEGIN CERTIFICATE-----\nmock certificate of ${name}\n-----END CERTIFICATE-----\n`;
export const MOCK_KEY = (name: string) => `-----BEGIN PRIVATE KEY-----\nmock key of ${name}\n-----END PRIVATE KEY-----\n`;

/** The outputs a resource of the certificate provider would have; {} for any other resource. */
export function mockCertificateState(type: string, name: string): Record<string, unknown> {
  if (type !== "pulumi-nodejs:dynamic/crm-certificate:Resource") return {};
  return { certificatePem: MOCK_CERTIFICATE(name), privateKeyPem: MOCK_KEY(name), notAfter: "2036-01-01T00:00:00.000Z" };
}
