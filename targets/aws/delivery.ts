/**
 * What aws adds to a host's first boot, as pure renderers: the SSM agent (shell access through
 * the instance profile, no key pair and no open port needed), and the app bundle's download from
 * the stack's S3 bucket with the instance profile's credentials, and (RDS) the app's own database
 * user. Debian's images have neither the
 * agent nor the AWS CLI; curl signs the request itself (--aws-sigv4, curl ≥ 7.86 adds S3's
 * payload header), and the credentials reach it on stdin (-K -), never on its command line.
 */
import { shellQuote } from "../../roles/script";

/** The SSM agent's Debian package, from the region's own bucket of AWS (no third party). */
export function ssmAgentUrl(region: string): string {
  return `https://s3.${region}.amazonaws.com/amazon-ssm-${region}/latest/debian_amd64/amazon-ssm-agent.deb`;
}

export function ssmAgentStep(region: string): string {
  // Never fatal: a host without its agent still serves; only the role decides whether it works.
  return `# SSM: shell access through the instance profile (Session Manager), without a key pair
crm_ssm_agent() {
  systemctl is-enabled --quiet amazon-ssm-agent 2>/dev/null && return 0
  curl -fsSL -o /tmp/amazon-ssm-agent.deb ${shellQuote(ssmAgentUrl(region))} &&
    dpkg -i /tmp/amazon-ssm-agent.deb && rm -f /tmp/amazon-ssm-agent.deb &&
    systemctl enable --now amazon-ssm-agent
}
crm_retry 300 "the SSM agent" crm_ssm_agent || echo "crm: no SSM agent on this host; the role goes on" >&2`;
}

/**
 * Shell function `crm_aws SERVICE CURL_ARGS…`: curl signed for SERVICE in the region with the
 * instance profile's temporary credentials (IMDSv2), which reach curl on its stdin.
 */
function awsCurlFunction(region: string): string {
  return `crm_aws() {
  local token creds
  token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)
  creds=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/iam/security-credentials/$(curl -fsS -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/iam/security-credentials/)")
  field() { sed -n "s/.*\\"$1\\" *: *\\"\\([^\\"]*\\)\\".*/\\1/p" <<<"$creds"; }
  local service=$1
  shift
  printf 'user = "%s:%s"\\nheader = "x-amz-security-token: %s"\\n' "$(field AccessKeyId)" "$(field SecretAccessKey)" "$(field Token)" |
    curl -fsS --retry 5 -K - --aws-sigv4 "aws:amz:${region}:$service" "$@"
}`;
}

export interface S3Object {
  readonly region: string;
  readonly bucket: string;
  readonly key: string;
}

/** Shell that writes an S3 object to $CRM_BUNDLE, signed with the instance profile's credentials. */
export function s3FetchCommand(object: S3Object): string {
  const url = `https://${object.bucket}.s3.${object.region}.amazonaws.com/${object.key}`;
  return `${awsCurlFunction(object.region)}
crm_aws s3 -o "$CRM_BUNDLE" ${shellQuote(url)}`;
}

/** What the app servers need to give the app its own database user on RDS. */
export interface RdsAppUser {
  readonly region: string;
  /** Secrets Manager's secret of the master user, which RDS manages (its password is never in this stack). */
  readonly masterSecretArn: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** Secret: reaches the host only inside the (secret) user data, and psql only in its environment. */
  readonly password: string;
}

/**
 * The app's own login on RDS, so that the app never connects as the master user: created (or its
 * password reset) with the master's credentials, read at boot by root from Secrets Manager; the
 * app then owns its database. Idempotent; servers booting together race on CREATE ROLE, and the
 * loser's bootstrap retries.
 */
export function rdsAppUserStep(args: RdsAppUser): string {
  const target = `host=${args.host} port=${args.port} dbname=${args.database} sslmode=require`;
  // A function retried as a whole: the secret, the network or a concurrent CREATE ROLE may fail once.
  return `# RDS: the app's own database user (the master user stays with root, for this step only)
apt-get install -y -q --no-install-recommends postgresql-client jq
${awsCurlFunction(args.region)}
crm_rds_app_user() {
  local master
  master=$(crm_aws secretsmanager -X POST -H 'X-Amz-Target: secretsmanager.GetSecretValue' -H 'Content-Type: application/x-amz-json-1.1' \\
    --data ${shellQuote(JSON.stringify({ SecretId: args.masterSecretArn }))} ${shellQuote(`https://secretsmanager.${args.region}.amazonaws.com/`)}) || return 1
  PGUSER=$(jq -r '.SecretString | fromjson | .username' <<<"$master") \\
  PGPASSWORD=$(jq -r '.SecretString | fromjson | .password' <<<"$master") \\
  CRM_DB_PASSWORD=${shellQuote(args.password)} \\
    psql ${shellQuote(target)} -X -q -v ON_ERROR_STOP=1 -v user=${shellQuote(args.user)} -v db=${shellQuote(args.database)} <<'CRM_SQL'
\\getenv password CRM_DB_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user')
\\gexec
ALTER ROLE :"user" WITH LOGIN PASSWORD :'password';
GRANT :"user" TO CURRENT_USER;
ALTER DATABASE :"db" OWNER TO :"user";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
CRM_SQL
}
crm_retry 900 "the app's database user on RDS" crm_rds_app_user`;
}

/** Read access to one secret (the RDS master's), for the step above. */
export function secretReadPolicy(secretArn: string): Record<string, unknown> {
  return { Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: secretArn };
}

/** The trust policy of every host role: EC2 instances assume it. */
export const EC2_ASSUME_ROLE_POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

/** SSM's managed policy for the agent: Session Manager, no other rights. */
export const SSM_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";

/** Read access to exactly one object (the bundle) and nothing else in the bucket. */
export function objectReadPolicy(bucketArn: string, key: string): Record<string, unknown> {
  return { Effect: "Allow", Action: "s3:GetObject", Resource: `${bucketArn}/${key}` };
}

/** An IAM policy document of the given statements. */
export function policyDocument(statements: readonly Record<string, unknown>[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}
