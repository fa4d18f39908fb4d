/**
 * What aws adds to a host's first boot, as pure renderers: the SSM agent (shell access through
 * the instance profile, no key pair and no open port needed), and the app bundle's download from
 * the stack's S3 bucket with the instance profile's credentials. Debian's images have neither the
 * agent nor the AWS CLI; curl signs the request itself (--aws-sigv4, curl ≥ 7.86 adds S3's
 * payload header), and the credentials reach it on stdin (-K -), never on its command line.
 */
import { shellQuote } from "../../roles/script";

/** The SSM agent's Debian package, from the region's own bucket of AWS (no third party). */
export function ssmAgentUrl(region: string): string {
  return `https://s3.${region}.amazonaws.com/amazon-ssm-${region}/latest/debian_amd64/amazon-ssm-agent.deb`;
}

export function ssmAgentStep(region: string): string {
  return `# SSM: shell access through the instance profile (Session Manager), without a key pair
if ! systemctl is-enabled --quiet amazon-ssm-agent 2>/dev/null; then
  crm_retry 300 "the SSM agent package" curl -fsSL -o /tmp/amazon-ssm-agent.deb ${shellQuote(ssmAgentUrl(region))}
  dpkg -i /tmp/amazon-ssm-agent.deb && rm -f /tmp/amazon-ssm-agent.deb
  systemctl enable --now amazon-ssm-agent
fi`;
}

export interface S3Object {
  readonly region: string;
  readonly bucket: string;
  readonly key: string;
}

/** Shell that writes an S3 object to $CRM_BUNDLE, signed with the instance profile's credentials (IMDSv2). */
export function s3FetchCommand(object: S3Object): string {
  const url = `https://${object.bucket}.s3.${object.region}.amazonaws.com/${object.key}`;
  return `crm_imds_token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)
crm_imds() { curl -fsS -H "X-aws-ec2-metadata-token: $crm_imds_token" "http://169.254.169.254/latest/meta-data/$1"; }
crm_creds=$(crm_imds "iam/security-credentials/$(crm_imds iam/security-credentials/)")
crm_field() { sed -n "s/.*\\"$1\\" *: *\\"\\([^\\"]*\\)\\".*/\\1/p" <<<"$crm_creds"; }
printf 'user = "%s:%s"\\nheader = "x-amz-security-token: %s"\\n' "$(crm_field AccessKeyId)" "$(crm_field SecretAccessKey)" "$(crm_field Token)" |
  curl -fsS --retry 5 -K - --aws-sigv4 ${shellQuote(`aws:amz:${object.region}:s3`)} -o "$CRM_BUNDLE" ${shellQuote(url)}`;
}

/** The trust policy of every host role: EC2 instances assume it. */
export const EC2_ASSUME_ROLE_POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

/** SSM's managed policy for the agent: Session Manager, no other rights. */
export const SSM_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";

/** Read access to exactly one object (the bundle) and nothing else in the bucket. */
export function objectReadPolicy(bucketArn: string, key: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: `${bucketArn}/${key}` }],
  });
}
