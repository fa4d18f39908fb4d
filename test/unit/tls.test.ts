/**
 * HTTPS (issue 12): the certificates the stack makes (the real provider, openssl, checked with
 * Node's X.509 parser), the checks of a user's own certificate, and the rule that keeps a made
 * certificate until what it names changes or it nears its end.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { CA_VALIDITY_DAYS, SERVER_VALIDITY_DAYS } from "../../components/CertificateAuthority";
import { clientRoleScript, TRUSTED_CA_PATH } from "../../roles/client";
import { replacementReasons, RENEW_BEFORE_DAYS, certificateProvider, type CertificateOutputs } from "../../tls/certificate";
import { chainRoot, coverageProblem, ownCertificateProblems } from "../../tls/checks";
import { checkOwnKey, parseSettings, tlsPairProblem } from "../../topology/settings";
import { made, selfSigned } from "../support/certificates";

const DAY = 86_400_000;

describe("the stack's CA and service certificate (openssl, checked by Node's X509Certificate)", function () {
  this.timeout(30_000);
  let ca: CertificateOutputs;
  let leaf: CertificateOutputs;

  before(async () => {
    ca = await made({ commonName: "crm-infra CA crm/test", isCa: true, validityDays: CA_VALIDITY_DAYS });
    leaf = await made(
      {
        commonName: "crm-infra lb",
        isCa: false,
        ipAddresses: ["10.1.2.2"],
        validityDays: SERVER_VALIDITY_DAYS,
      },
      ca,
    );
  });

  it("makes a CA that may sign server certificates, with its own key", () => {
    const cert = new X509Certificate(ca.certificatePem);
    assert.equal(cert.ca, true);
    assert.ok(cert.checkIssued(cert) && cert.verify(cert.publicKey), "self-signed");
    assert.match(ca.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    const days = (new Date(cert.validTo).getTime() - Date.now()) / DAY;
    assert.ok(Math.abs(days - CA_VALIDITY_DAYS) < 2, `${days} days`);
  });

  it("signs a server certificate for the service address only, for TLS server authentication, valid 397 days", () => {
    const cert = new X509Certificate(leaf.certificatePem);
    const issuer = new X509Certificate(ca.certificatePem);
    assert.ok(cert.checkIssued(issuer) && cert.verify(issuer.publicKey), "signed by the CA");
    assert.equal(cert.ca, false);
    assert.equal(cert.checkIP("10.1.2.2"), "10.1.2.2");
    assert.equal(cert.checkIP("10.1.2.3"), undefined);
    assert.equal(cert.subjectAltName, "IP Address:10.1.2.2");
    assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1"], "extended key usage: serverAuth only");
    const days = (new Date(leaf.notAfter).getTime() - Date.now()) / DAY;
    assert.ok(Math.abs(days - SERVER_VALIDITY_DAYS) < 2, `${days} days`);
    assert.deepEqual(ownCertificateProblems(leaf.certificatePem, leaf.privateKeyPem, new Date()), []);
  });

  it("never keeps the issuer's key among its outputs (it is a secret of the CA's resource)", () => {
    assert.equal(JSON.stringify(leaf).includes(ca.privateKeyPem.split("\n")[1]), false);
  });

  it("is kept as it is by a second `up` (no diff), and made again when what it names changes or it nears its end", async () => {
    const inputs = {
      commonName: leaf.commonName,
      isCa: false,
      ipAddresses: ["10.1.2.2"],
      dnsNames: [],
      validityDays: SERVER_VALIDITY_DAYS,
      issuerCertificatePem: ca.certificatePem,
      issuerPrivateKeyPem: ca.privateKeyPem,
    };
    const same = await certificateProvider.diff!("id", leaf, inputs);
    assert.equal(same.changes, false);
    assert.deepEqual(replacementReasons(leaf, { ...inputs, ipAddresses: ["10.1.2.9"] }, new Date()), ["ipAddresses"]);
    assert.deepEqual(replacementReasons(leaf, { ...inputs, issuerCertificatePem: "another CA" }, new Date()), ["issuerCertificatePem"]);
    const nearEnd = new Date(new Date(leaf.notAfter).getTime() - (RENEW_BEFORE_DAYS - 1) * DAY);
    assert.deepEqual(replacementReasons(leaf, inputs, nearEnd), ["notAfter"]);
    const wellBefore = new Date(new Date(leaf.notAfter).getTime() - (RENEW_BEFORE_DAYS + 1) * DAY);
    assert.deepEqual(replacementReasons(leaf, inputs, wellBefore), []);
  });

  it("refuses a server certificate without an issuer, and a validity inside the renewal window", async () => {
    const news = { commonName: "x", isCa: false, ipAddresses: [], dnsNames: [], validityDays: 10 };
    const r = await certificateProvider.check!(news, news);
    assert.deepEqual(
      r.failures?.map((f) => f.property),
      ["validityDays", "issuer"],
    );
  });

  it("the clients trust the stack's CA through Debian's trust store", () => {
    const script = clientRoleScript(ca.certificatePem);
    assert.ok(script.includes(TRUSTED_CA_PATH) && script.includes(ca.certificatePem.trim()));
    assert.match(script, /update-ca-certificates/);
    assert.doesNotMatch(clientRoleScript(), /ca-certificates/);
  });
});

describe("a user's own certificate (crm:tlsCertificate, crm:tlsKey)", function () {
  this.timeout(30_000);
  const good = selfSigned(["10.1.2.2"], 90);
  const other = selfSigned(["10.1.2.2"], 90);
  const expired = selfSigned(["10.1.2.2"], -1);

  it("passes when it is current and its key matches", () => {
    assert.deepEqual(ownCertificateProblems(good.certificatePem, good.privateKeyPem, new Date()), []);
    assert.equal(checkOwnKey(good.certificatePem, good.privateKeyPem), good.privateKeyPem);
    assert.equal(chainRoot(good.certificatePem), good.certificatePem);
  });

  it("a key of another certificate fails naming crm:tlsKey, and the key's text is in no message", () => {
    const problems = ownCertificateProblems(good.certificatePem, other.privateKeyPem, new Date());
    assert.deepEqual(problems, ["crm:tlsKey: does not match crm:tlsCertificate (a key of another certificate?)"]);
    assert.throws(
      () => checkOwnKey(good.certificatePem, other.privateKeyPem),
      (e: Error) => {
        assert.match(e.message, /crm:tlsKey: does not match crm:tlsCertificate/);
        assert.ok(!e.message.includes(other.privateKeyPem.split("\n")[1]));
        return true;
      },
    );
    assert.match(ownCertificateProblems(good.certificatePem, "not a key", new Date())[0], /^crm:tlsKey: is not a PEM private key/);
  });

  it("an expired certificate fails naming crm:tlsCertificate and the date (as does one not yet valid)", () => {
    assert.match(
      ownCertificateProblems(expired.certificatePem, expired.privateKeyPem, new Date())[0],
      /^crm:tlsCertificate: expired on \d{4}-/,
    );
    assert.match(
      ownCertificateProblems(good.certificatePem, undefined, new Date(Date.now() - 2 * DAY))[0],
      /^crm:tlsCertificate: is not valid before/,
    );
  });

  it("one that does not cover the service address fails naming crm:tlsCertificate and what it names", () => {
    assert.equal(coverageProblem(good.certificatePem, { ipAddresses: ["10.1.2.2"] }), undefined);
    assert.equal(
      coverageProblem(good.certificatePem, { ipAddresses: ["203.0.113.10"], dnsNames: ["crm.example"] }),
      "crm:tlsCertificate: does not cover 203.0.113.10, crm.example, where clients reach the service (it names: IP Address:10.1.2.2)",
    );
  });

  it("a chain out of order, a CA first, or no PEM at all fail naming crm:tlsCertificate", async () => {
    const ca = await made({ commonName: "user CA", isCa: true, validityDays: 400 });
    const leaf = await made({ commonName: "user leaf", isCa: false, ipAddresses: ["10.1.2.2"], validityDays: 100 }, ca);
    assert.deepEqual(ownCertificateProblems(leaf.certificatePem + ca.certificatePem, leaf.privateKeyPem, new Date()), []);
    assert.equal(chainRoot(leaf.certificatePem + ca.certificatePem), ca.certificatePem);
    const reversed = ownCertificateProblems(ca.certificatePem + leaf.certificatePem, leaf.privateKeyPem, new Date());
    assert.ok(
      reversed.some((p) => p.startsWith("crm:tlsCertificate: its first certificate is a CA's")),
      reversed.join("\n"),
    );
    assert.ok(reversed.some((p) => p.startsWith("crm:tlsCertificate: certificate 2 of the chain did not issue certificate 1")));
    assert.deepEqual(ownCertificateProblems("hello", undefined, new Date()), [
      "crm:tlsCertificate: is not a PEM certificate (-----BEGIN CERTIFICATE-----)",
    ]);
  });

  it("the settings: the certificate is checked with the rest, and it comes with its key or not at all", () => {
    assert.throws(() => parseSettings({ target: "vnx", tlsCertificate: expired.certificatePem }), /crm:tlsCertificate: expired on/);
    assert.throws(() => parseSettings({ target: "vnx", tlsCertificate: "junk" }), /crm:tlsCertificate: is not a PEM certificate/);
    assert.equal(parseSettings({ target: "vnx", tlsCertificate: good.certificatePem }).tlsCertificate, good.certificatePem);
    assert.equal(tlsPairProblem(true, true), undefined);
    assert.equal(tlsPairProblem(false, false), undefined);
    assert.match(tlsPairProblem(true, false)!, /^crm:tlsKey: is required with crm:tlsCertificate/);
    assert.match(tlsPairProblem(false, true)!, /^crm:tlsCertificate: is required with crm:tlsKey/);
  });
});
