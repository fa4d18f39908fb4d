/** Certificates for the tests: the stack's own (the real provider, openssl) and a user's, good or bad. */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { certificateProvider, type CertificateInputs, type CertificateOutputs } from "../../tls/certificate";

export interface Pem {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** What the certificate resource makes on create (the real provider: openssl), without an engine; `issuer` signs it. */
export async function made(
  inputs: Omit<CertificateInputs, "ipAddresses" | "dnsNames"> & Partial<CertificateInputs>,
  issuer?: Pem,
): Promise<CertificateOutputs> {
  const signer = issuer ? { issuerCertificatePem: issuer.certificatePem, issuerPrivateKeyPem: issuer.privateKeyPem } : {};
  const r = await certificateProvider.create!({ ipAddresses: [], dnsNames: [], ...inputs, ...signer });
  return r.outs as CertificateOutputs;
}

/**
 * A self-signed server certificate for `ipAddresses`, valid for `days` from now (negative: it ended
 * that long ago, which `openssl x509 -req` allows and the provider does not), as a user might bring.
 */
export function selfSigned(ipAddresses: readonly string[], days: number): Pem {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-test-cert-"));
  try {
    const file = (name: string) => path.join(dir, name);
    execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file("key.pem")]);
    execFileSync("openssl", ["req", "-new", "-key", file("key.pem"), "-subj", "/CN=user certificate", "-out", file("req.csr")]);
    fs.writeFileSync(file("ext.cnf"), `subjectAltName = ${ipAddresses.map((a) => `IP:${a}`).join(",")}\n`);
    execFileSync(
      "openssl",
      ["x509", "-req", "-in", file("req.csr"), "-signkey", file("key.pem"), "-days", String(days)].concat([
        "-extfile",
        file("ext.cnf"),
        "-out",
        file("cert.pem"),
      ]),
      { stdio: "ignore" },
    );
    return { certificatePem: fs.readFileSync(file("cert.pem"), "utf8"), privateKeyPem: fs.readFileSync(file("key.pem"), "utf8") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
