/**
 * HTTPS on aws (issue 12): where the ALB's certificate comes from, and the listeners around it.
 * The user's own certificate (crm:tlsCertificate / crm:tlsKey) is imported into ACM; without one,
 * crm:domain gets an ACM certificate validated by DNS (its record written to Route 53 with
 * crm:awsZoneId, or printed for the user to make); with neither, the service stays plain HTTP,
 * loudly. The decisions are pure and exported for tests; the resources are made by the functions
 * at the end, named from the load balancer and parented as it says.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { FirewallPolicy } from "../../roles/firewall";
import { HTTPS_PORT, SERVICE_ADDRESS } from "../../topology/plan";
import { splitPemChain } from "../cloud/tls";
import type { IssuedCertificate } from "../platform";
import type { AwsSettings } from "./settings";

/**
 * TLS 1.3 and 1.2 only, and on 1.2 only ECDHE with AES-GCM (forward secrecy, AEAD): the
 * "restricted" policy the ALB console proposes. The API's default, ELBSecurityPolicy-2016-08,
 * still allows TLS 1.0 and CBC ciphers.
 */
export const ALB_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06";

/** Port 80's only answer once HTTPS is served: a permanent redirect to the same URL on 443. */
export const REDIRECT_TO_HTTPS: aws.types.input.lb.ListenerDefaultAction = {
  type: "redirect",
  redirect: { protocol: "HTTPS", port: String(HTTPS_PORT), statusCode: "HTTP_301" },
};

/** Where the ALB's certificate comes from. */
export type AwsCertificatePlan =
  /** Neither a certificate of the user's nor crm:domain: plain HTTP, cookies not Secure. */
  | { readonly kind: "none" }
  /** The user's own certificate, imported into ACM (works with or without crm:domain). */
  | { readonly kind: "imported"; readonly domain?: string; readonly zoneId?: string }
  /** An ACM certificate for crm:domain, validated by DNS: in Route 53 with a zone, else by the user. */
  | { readonly kind: "acm"; readonly domain: string; readonly zoneId?: string };

/** The user's certificate wins over ACM: they chose it, and it may name more than crm:domain. */
export function awsCertificatePlan(ownCertificate: boolean, settings: Pick<AwsSettings, "domain" | "awsZoneId">): AwsCertificatePlan {
  const { domain, awsZoneId: zoneId } = settings;
  if (ownCertificate) return { kind: "imported", domain, zoneId };
  if (domain) return { kind: "acm", domain, zoneId };
  return { kind: "none" };
}

/** The problem with the HTTPS settings on aws, or undefined. */
export function awsTlsProblem(settings: Pick<AwsSettings, "domain" | "awsZoneId">): string | undefined {
  if (settings.awsZoneId && !settings.domain)
    return "crm:awsZoneId: is the hosted zone of crm:domain, which is not set: set crm:domain (the service's name in that zone) or remove crm:awsZoneId";
  return undefined;
}

/** The firewall's policy without HTTPS to the service: for a stack that serves none, 443 stays closed. */
export function withoutHttps(policy: FirewallPolicy): FirewallPolicy {
  const https = (r: FirewallPolicy["forward"][number]) => r.to === SERVICE_ADDRESS && r.protocol === "tcp" && r.port === HTTPS_PORT;
  return { ...policy, forward: policy.forward.filter((r) => !https(r)) };
}

/** Said at every preview and update of a stack that serves plain HTTP. */
export const HTTP_ONLY_WARNING =
  "aws: neither crm:domain nor crm:tlsCertificate is set, so the service is plain HTTP: passwords and session cookies " +
  "cross the internet unencrypted, and the cookies are not Secure. Set crm:domain (an ACM certificate, validated by DNS) " +
  'or crm:tlsCertificate and crm:tlsKey (docs/clouds.md, "HTTPS").';

export interface ServiceCertificate {
  /** The certificate the HTTPS listener presents, once ACM has it issued. */
  readonly arn: pulumi.Output<string>;
  readonly resources: pulumi.Resource[];
}

/**
 * The ALB's certificate in ACM: the user's imported, or one for crm:domain. ACM validates a
 * domain by a CNAME record: written in the zone when there is one; otherwise shown (a warning)
 * while `pulumi up` waits for the user to make it (CertificateValidation polls ACM until the
 * certificate is issued).
 */
export function createServiceCertificate(
  name: string,
  plan: Exclude<AwsCertificatePlan, { kind: "none" }>,
  own: IssuedCertificate | undefined,
  opts: pulumi.CustomResourceOptions,
): ServiceCertificate {
  if (plan.kind === "imported") {
    if (!own) throw new Error("aws: an imported certificate needs crm:tlsCertificate and crm:tlsKey");
    const parts = own.certificatePem.apply(splitPemChain);
    const cert = new aws.acm.Certificate(
      `${name}-cert`,
      {
        certificateBody: parts.apply((p) => p.leaf),
        certificateChain: parts.apply((p) => p.intermediates),
        privateKey: pulumi.secret(own.privateKeyPem),
        tags: { Name: `${name}-cert` },
      },
      opts,
    );
    return { arn: cert.arn, resources: [cert] };
  }
  const cert = new aws.acm.Certificate(
    `${name}-cert`,
    { domainName: plan.domain, validationMethod: "DNS", tags: { Name: `${name}-cert` } },
    opts,
  );
  // One name asked for, so one record (ACM gives the same one for every certificate of that name).
  const option = cert.domainValidationOptions.apply((options) => {
    const found = options.find((o) => o.domainName === plan.domain);
    if (!found) throw new Error(`ACM returned no validation record for ${plan.domain}`);
    return { name: found.resourceRecordName, type: found.resourceRecordType, value: found.resourceRecordValue };
  });
  if (plan.zoneId) {
    const record = new aws.route53.Record(
      `${name}-cert-validation`,
      { zoneId: plan.zoneId, name: option.name, type: option.type, records: [option.value], ttl: 300, allowOverwrite: true },
      opts,
    );
    const validation = new aws.acm.CertificateValidation(
      `${name}-cert`,
      { certificateArn: cert.arn, validationRecordFqdns: [record.fqdn] },
      opts,
    );
    return { arn: validation.certificateArn, resources: [cert, record, validation] };
  }
  // Shown while `pulumi up` waits below, which is when the user needs it.
  option.apply((o) =>
    pulumi.log.warn(
      `aws: create this DNS record so that ACM issues the certificate for ${plan.domain} (pulumi up waits for it): ${o.name} ${o.type} ${o.value}`,
      cert,
    ),
  );
  const validation = new aws.acm.CertificateValidation(
    `${name}-cert`,
    { certificateArn: cert.arn },
    // ACM gives up on an unvalidated certificate after 72 hours; a person needs more than the default 75 minutes.
    { ...opts, customTimeouts: { create: "24h" } },
  );
  return { arn: validation.certificateArn, resources: [cert, validation] };
}

/** crm:domain in its Route 53 zone, an alias of the ALB (evaluated against its health). */
export function createDomainAlias(
  name: string,
  plan: { readonly domain?: string; readonly zoneId?: string },
  alb: aws.lb.LoadBalancer,
  opts: pulumi.CustomResourceOptions,
): aws.route53.Record | undefined {
  if (!plan.domain || !plan.zoneId) return undefined;
  return new aws.route53.Record(
    `${name}-dns`,
    {
      zoneId: plan.zoneId,
      name: plan.domain,
      type: "A",
      aliases: [{ name: alb.dnsName, zoneId: alb.zoneId, evaluateTargetHealth: true }],
    },
    opts,
  );
}
