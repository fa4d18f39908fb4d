/**
 * HTTPS on openstack with Octavia (issue 12): the service certificate in Barbican (a certificate
 * container: the leaf, its key, any intermediates, each a secret), an Octavia listener that
 * terminates TLS on 443 with it, and port 80 answering every request with a redirect to HTTPS.
 * The certificate comes from the stack's TlsSpec: the user's own, or one the stack's CA signs for
 * the floating IP (known only at deploy time) and crm:domain.
 *
 * What the pinned provider (@pulumi/openstack 3.x) cannot say, Octavia's defaults decide: the
 * listener's TLS versions and ciphers (octavia.conf's default_listener_tls_versions and
 * default_listener_ciphers, which the cloud's operator sets; recent Octavia defaults to TLS 1.2
 * and 1.3), and the redirect's code (302) and target (a fixed URL, the path dropped:
 * REDIRECT_PREFIX needs the provider's 5.x). docs/clouds.md, "HTTPS", says so; HSTS comes from the
 * app itself (COOKIE_SECURE).
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { splitPemChain } from "../cloud/tls";
import type { IssuedCertificate, TlsSubject } from "../platform";

/**
 * What the service certificate must name. The stack's CA signs the floating IP and the domain
 * (either works in a browser that trusts the CA); a certificate of the user's must cover how
 * clients reach the service: the domain when there is one, else the floating IP.
 */
export function serviceSubject(address: pulumi.Input<string>, domain: string | undefined, own: boolean): TlsSubject {
  if (own) return domain ? { dnsNames: [domain] } : { ipAddresses: [address] };
  return { ipAddresses: [address], dnsNames: domain ? [domain] : [] };
}

/**
 * The certificate as a Barbican certificate container (the names Octavia reads: certificate,
 * private_key, intermediates), one secret each, the key a Pulumi secret too; its ref is what the
 * listener names. Whether the chain has intermediates must be known before the certificate is
 * (a resource cannot depend on an output's value): the caller says, from the text of the user's
 * certificate. The stack's CA signs the leaf directly, and clients hold its root: without
 * intermediates, whatever follows the leaf is left out.
 */
export function createTlsContainer(
  name: string,
  certificate: IssuedCertificate,
  hasIntermediates: boolean,
  opts: pulumi.CustomResourceOptions,
): { ref: pulumi.Output<string>; resources: pulumi.Resource[] } {
  const chain = certificate.certificatePem.apply((pem) => {
    const split = splitPemChain(pem);
    if (hasIntermediates && split.intermediates === undefined)
      throw new Error(`${name}: the service certificate has no intermediates, unlike crm:tlsCertificate when the stack was planned`);
    return split;
  });
  // Octavia's names for the container's parts; each is a secret of Barbican's type for it.
  const parts: { ref: string; payload: pulumi.Input<string>; secretType: string }[] = [
    { ref: "certificate", payload: chain.apply((p) => p.leaf), secretType: "certificate" },
    { ref: "private_key", payload: pulumi.secret(certificate.privateKeyPem), secretType: "private" },
    ...(hasIntermediates ? [{ ref: "intermediates", payload: chain.apply((p) => p.intermediates ?? ""), secretType: "certificate" }] : []),
  ];
  const secrets = parts.map((part) => {
    const named = `${name}-tls-${part.ref.replace("_", "-")}`;
    const secret = new openstack.keymanager.SecretV1(
      named,
      { name: named, payload: part.payload, payloadContentType: "text/plain", secretType: part.secretType },
      opts,
    );
    return { ref: part.ref, secret };
  });
  const container = new openstack.keymanager.ContainerV1(
    `${name}-tls`,
    { name: `${name}-tls`, type: "certificate", secretRefs: secrets.map((s) => ({ name: s.ref, secretRef: s.secret.secretRef })) },
    opts,
  );
  return { ref: container.containerRef, resources: [...secrets.map((s) => s.secret), container] };
}

/** Port 80: no pool, one policy that sends every request (every path starts with /) to the HTTPS URL. */
export function createHttpsRedirect(
  name: string,
  listenerId: pulumi.Input<string>,
  httpsUrl: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
): pulumi.Resource[] {
  const policy = new openstack.loadbalancer.L7PolicyV2(
    `${name}-to-https`,
    { listenerId, action: "REDIRECT_TO_URL", redirectUrl: httpsUrl, position: 1 },
    opts,
  );
  // Octavia applies a policy only when all its rules match, and one without rules never.
  const rule = new openstack.loadbalancer.L7RuleV2(
    `${name}-to-https`,
    { l7policyId: policy.id, type: "PATH", compareType: "STARTS_WITH", value: "/" },
    opts,
  );
  return [policy, rule];
}
