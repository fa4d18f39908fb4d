import * as pulumi from "@pulumi/pulumi";
import type { IssuedCertificate, TlsSpec, TlsSubject } from "../targets/platform";
import { Certificate } from "../tls/certificate";
import { chainRoot, coverageProblem } from "../tls/checks";
import { SettingsError, type OwnCertificate } from "../topology/settings";

/** Ten years: the CA is what users install as trusted, so it should outlive many service certificates. */
export const CA_VALIDITY_DAYS = 3650;
/** 397 days: the longest validity that every browser accepts for a server certificate (Apple's 398-day rule). */
export const SERVER_VALIDITY_DAYS = 397;

export interface CertificateAuthorityArgs {
  /**
   * The user's own certificate (its chain, leaf first) and key (crm:tlsCertificate, crm:tlsKey),
   * already checked by the settings. Then no CA is made, and every service gets this certificate.
   * @default none: the stack makes its own CA
   */
  readonly own?: OwnCertificate;
}

/**
 * Where the services' certificates come from (issue 12): the stack's own CA, made once, its key a
 * secret in the state and its certificate a stack output for users to trust; or the user's own
 * certificate, given to every service as it is once it is known to cover the service's addresses.
 */
export class CertificateAuthority extends pulumi.ComponentResource implements TlsSpec {
  public readonly caCertificatePem: pulumi.Output<string>;
  public readonly own?: IssuedCertificate;
  private readonly root?: Certificate;

  constructor(name: string, args: CertificateAuthorityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("crm:tls:CertificateAuthority", name, {}, opts);
    if (args.own) {
      this.own = { certificatePem: pulumi.output(args.own.certificatePem), privateKeyPem: pulumi.secret(args.own.privateKeyPem) };
      this.caCertificatePem = pulumi.output(chainRoot(args.own.certificatePem));
    } else {
      this.root = new Certificate(
        `${name}-root`,
        { commonName: `crm-infra CA ${pulumi.getProject()}/${pulumi.getStack()}`, isCa: true, validityDays: CA_VALIDITY_DAYS },
        { parent: this },
      );
      this.caCertificatePem = this.root.certificatePem;
    }
    this.registerOutputs({ caCertificatePem: this.caCertificatePem });
  }

  issue(name: string, subject: TlsSubject, opts: pulumi.CustomResourceOptions): IssuedCertificate {
    const ipAddresses = pulumi.all(subject.ipAddresses ?? []);
    const dnsNames = pulumi.all(subject.dnsNames ?? []);
    if (this.own) {
      // Checked where the addresses are known: at preview for fixed ones, at deploy for a floating IP.
      const certificatePem = pulumi.all([this.own.certificatePem, ipAddresses, dnsNames]).apply(([pem, ips, names]) => {
        const problem = coverageProblem(pem, { ipAddresses: ips, dnsNames: names });
        if (problem) throw new SettingsError(problem);
        return pem;
      });
      return { certificatePem, privateKeyPem: this.own.privateKeyPem };
    }
    const certificate = new Certificate(
      `${name}-certificate`,
      { commonName: `crm-infra ${name}`, isCa: false, ipAddresses, dnsNames, validityDays: SERVER_VALIDITY_DAYS, issuer: this.root },
      opts,
    );
    return { certificatePem: certificate.certificatePem, privateKeyPem: certificate.privateKeyPem };
  }
}
