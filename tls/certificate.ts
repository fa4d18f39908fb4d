/**
 * An X.509 certificate and its key as a Pulumi resource: the stack's own CA (self-signed), or a
 * service certificate signed by it. Made once and kept in the state (the key a secret), so a
 * second `up` changes nothing; made again only when what it names changes, or when it comes
 * within {@link RENEW_BEFORE_DAYS} of expiring (then `up` renews it and the balancers reload).
 *
 * Why a dynamic provider running `openssl`, and not the tls provider or an npm library: the tls
 * provider's plugin cannot be obtained here (see localCommand.ts for the same reason about
 * command), and `openssl` is already on every machine this runs on (Debian's base system; HAProxy
 * links the same library), so no new package enters the supply chain for this. Keys are P-256 EC
 * keys made by Node's crypto; `openssl req -x509` (OpenSSL ≥ 3.0 for `-CA`) only signs. The result
 * is checked with Node's X509Certificate before it is kept.
 */
import * as pulumi from "@pulumi/pulumi";

/** A certificate is made again on the first `up` within this many days of its end. */
export const RENEW_BEFORE_DAYS = 30;

export interface CertificateArgs {
  /** The subject's common name (informational: clients match the alternative names). */
  readonly commonName: pulumi.Input<string>;
  /** A CA certificate (may sign others), or a server's (TLS server authentication only). */
  readonly isCa: boolean;
  readonly ipAddresses?: pulumi.Input<pulumi.Input<string>[]>;
  readonly dnsNames?: pulumi.Input<pulumi.Input<string>[]>;
  readonly validityDays: number;
  /** The issuer; none: self-signed (a CA). */
  readonly issuer?: { readonly certificatePem: pulumi.Input<string>; readonly privateKeyPem: pulumi.Input<string> };
}

/** What a certificate says and who signs it: a change to any of these makes a new one. */
interface CertificateSubject {
  commonName: string;
  isCa: boolean;
  ipAddresses: string[];
  dnsNames: string[];
  validityDays: number;
  issuerCertificatePem?: string;
}
const SUBJECT_KEYS = ["commonName", "isCa", "ipAddresses", "dnsNames", "validityDays", "issuerCertificatePem"] as const;

export interface CertificateInputs extends CertificateSubject {
  issuerPrivateKeyPem?: string;
}

export interface CertificateOutputs extends CertificateSubject {
  certificatePem: string;
  privateKeyPem: string;
  /** ISO 8601: the end of its validity. */
  notAfter: string;
}

/** Whether a kept certificate must be made again for these inputs at `now` (pure; tested). */
export function replacementReasons(olds: CertificateOutputs, news: CertificateInputs, now: Date): string[] {
  const json = (v: unknown) => JSON.stringify(v ?? null);
  const reasons: string[] = SUBJECT_KEYS.filter((k) => json(olds[k]) !== json(news[k]));
  const renewAt = new Date(olds.notAfter).getTime() - RENEW_BEFORE_DAYS * 86_400_000;
  if (!(now.getTime() < renewAt)) reasons.push("notAfter");
  return reasons;
}

// Everything the provider uses is required inside its functions: Pulumi serializes them into the
// dynamic provider's process, and module-level imports would be captured by value.
export const certificateProvider: pulumi.dynamic.ResourceProvider<CertificateInputs, CertificateOutputs> = {
  async check(_olds, news) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!(Number.isInteger(news.validityDays) && news.validityDays > RENEW_BEFORE_DAYS))
      failures.push({ property: "validityDays", reason: `validityDays must be a whole number above ${RENEW_BEFORE_DAYS}` });
    if (!news.isCa && !news.issuerCertificatePem) failures.push({ property: "issuer", reason: "a server certificate needs an issuer" });
    return { inputs: news, failures };
  },

  async diff(_id, olds, news) {
    const replaces = replacementReasons(olds, news, new Date());
    return { changes: replaces.length > 0, replaces };
  },

  async create(inputs) {
    const outs = await makeCertificate(inputs);
    return { id: (await import("node:crypto")).randomUUID(), outs };
  },
};

/** Makes the key and the certificate with openssl in a private temporary folder, removed after. */
async function makeCertificate(inputs: CertificateInputs): Promise<CertificateOutputs> {
  const crypto = await import("node:crypto");
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const { execFileSync } = await import("node:child_process");
  const { privateKey } = crypto.generateKeyPairSync("ec", {
    namedCurve: "prime256v1",
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-tls-"));
  try {
    const file = (name: string, content: string) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, content, { mode: 0o600 });
      return p;
    };
    const altNames = [...inputs.ipAddresses.map((a) => `IP:${a}`), ...inputs.dnsNames.map((n) => `DNS:${n}`)];
    const extensions = inputs.isCa
      ? ["basicConstraints = critical,CA:TRUE,pathlen:0", "keyUsage = critical,keyCertSign,cRLSign", "subjectKeyIdentifier = hash"]
      : [
          "basicConstraints = critical,CA:FALSE",
          "keyUsage = critical,digitalSignature",
          "extendedKeyUsage = serverAuth",
          ...(altNames.length > 0 ? [`subjectAltName = ${altNames.join(",")}`] : []),
          "subjectKeyIdentifier = hash",
          "authorityKeyIdentifier = keyid",
        ];
    // The subject goes into a config file, not onto a command line of openssl's own syntax (-subj).
    const config = file(
      "req.cnf",
      [
        "[req]",
        "distinguished_name = dn",
        "prompt = no",
        "[dn]",
        `CN = ${inputs.commonName.replace(/[^\w .:/()-]/g, "")}`,
        "[ext]",
        ...extensions,
        "",
      ].join("\n"),
    );
    const out = path.join(dir, "cert.pem");
    const signer = inputs.issuerCertificatePem
      ? ["-CA", file("ca.pem", inputs.issuerCertificatePem), "-CAkey", file("ca.key", inputs.issuerPrivateKeyPem ?? "")]
      : [];
    const serial = `0x${crypto.randomBytes(16).toString("hex").replace(/^./, "7")}`;
    execFileSync(
      "openssl",
      ["req", "-x509", "-new", "-key", file("key.pem", privateKey), ...signer, "-config", config, "-extensions", "ext"].concat([
        "-days",
        String(inputs.validityDays),
        "-sha256",
        "-set_serial",
        serial,
        "-out",
        out,
      ]),
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const certificatePem = fs.readFileSync(out, "utf8");
    // What openssl made is checked by another implementation before it is kept.
    const cert = new crypto.X509Certificate(certificatePem);
    if (!cert.checkPrivateKey(crypto.createPrivateKey(privateKey))) throw new Error("openssl's certificate does not match its key");
    if (inputs.issuerCertificatePem) {
      const issuer = new crypto.X509Certificate(inputs.issuerCertificatePem);
      if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) throw new Error("openssl's certificate is not signed by its issuer");
    }
    for (const ip of inputs.ipAddresses) if (cert.checkIP(ip) === undefined) throw new Error(`openssl's certificate does not name ${ip}`);
    // Outputs travel as a protobuf Struct, which has no `undefined`; the issuer's key is not kept twice.
    const { commonName, isCa, ipAddresses, dnsNames, validityDays, issuerCertificatePem } = inputs;
    return {
      commonName,
      isCa,
      ipAddresses,
      dnsNames,
      validityDays,
      ...(issuerCertificatePem !== undefined ? { issuerCertificatePem } : {}),
      certificatePem,
      privateKeyPem: privateKey,
      notAfter: new Date(cert.validTo).toISOString(),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A certificate with its key; the key, and any issuer's key it was given, stay secrets. */
export class Certificate extends pulumi.dynamic.Resource {
  declare public readonly certificatePem: pulumi.Output<string>;
  declare public readonly privateKeyPem: pulumi.Output<string>;
  declare public readonly notAfter: pulumi.Output<string>;

  constructor(name: string, args: CertificateArgs, opts?: pulumi.CustomResourceOptions) {
    const inputs = {
      commonName: args.commonName,
      isCa: args.isCa,
      ipAddresses: args.ipAddresses ?? [],
      dnsNames: args.dnsNames ?? [],
      validityDays: args.validityDays,
      issuerCertificatePem: args.issuer?.certificatePem,
      issuerPrivateKeyPem: args.issuer && pulumi.secret(args.issuer.privateKeyPem),
    };
    super(
      certificateProvider,
      name,
      { certificatePem: undefined, privateKeyPem: undefined, notAfter: undefined, ...inputs },
      { ...opts, additionalSecretOutputs: ["privateKeyPem", "issuerPrivateKeyPem"] },
      "crm-certificate",
    );
  }
}
