/** The database host: PostgreSQL reachable only from the app servers, with scram-sha-256 (md5 where an old driver needs it). */
import { enableNow, roleScript, shellQuote, writeFile } from "./script";

/** scram-sha-256, or md5 for an app whose PostgreSQL driver has no SCRAM (pg < 7, as in 2017's apps). */
export type PasswordEncryption = "scram-sha-256" | "md5";

export interface DbArgs {
  /** The one address PostgreSQL listens on (besides the local socket). */
  readonly listen: string;
  /** App servers' addresses, or networks as CIDRs (clouds); each gets one pg_hba line for the app's database and user. */
  readonly clients: readonly string[];
  readonly database: string;
  readonly user: string;
  /** Secret: reaches the host only inside the script text (stdin / user data), never a command line. */
  readonly password: string;
  /** @default "scram-sha-256" */
  readonly passwordEncryption?: PasswordEncryption;
}

export function renderPgHba(args: Pick<DbArgs, "clients" | "database" | "user" | "passwordEncryption">): string {
  const method = args.passwordEncryption ?? "scram-sha-256";
  const lines = [
    "# crm-infra (generated): local administration, and the app's servers only",
    "local   all        postgres                     peer",
    ...args.clients.map((c) => `host    ${args.database}  ${args.user}  ${c.includes("/") ? c : `${c}/32`}  ${method}`),
  ];
  return `${lines.join("\n")}\n`;
}

export function renderPgConf(listen: string, passwordEncryption: PasswordEncryption = "scram-sha-256"): string {
  return `# crm-infra (generated)
listen_addresses = '${listen}'
password_encryption = '${passwordEncryption}'
max_connections = 200
`;
}

/** SQL that creates or updates the app's role and database; the password arrives as a psql variable. */
const ENSURE_ROLE_AND_DB = String.raw`SELECT format('CREATE ROLE %I LOGIN', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user')
\gexec
ALTER ROLE :"user" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db')
\gexec
ALTER DATABASE :"db" OWNER TO :"user";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;`;

export function dbRoleScript(args: DbArgs): string {
  return roleScript("db", ...dbSteps(args));
}

/** The single server's steps; `$PG_ETC` (the cluster's configuration directory) is set for the steps that follow. */
export function dbSteps(args: DbArgs): string[] {
  // Debian names the cluster directory after the major version; find it rather than hard-code it.
  return [
    `PG_MAJOR=$(ls /etc/postgresql | sort -n | tail -1)
PG_ETC=/etc/postgresql/$PG_MAJOR/main`,
    enableNow("postgresql.service"),
    writeFile("$PG_ETC/conf.d/crm.conf", renderPgConf(args.listen, args.passwordEncryption), { onChange: "systemctl restart postgresql" }),
    writeFile("$PG_ETC/pg_hba.conf", renderPgHba(args), {
      mode: "0640",
      onChange: 'chown postgres:postgres "$PG_ETC/pg_hba.conf"; systemctl reload postgresql',
    }),
    ensureAppDatabaseStep(args),
  ];
}

/** Waits for the local PostgreSQL, then creates or updates the app's role (with its password) and database. */
export function ensureAppDatabaseStep(args: Pick<DbArgs, "database" | "user" | "password" | "passwordEncryption">): string {
  return `crm_retry 60 "PostgreSQL to accept connections" runuser -u postgres -- pg_isready -q
# The password travels in psql's environment, never on its command line.
CRM_DB_PASSWORD=${shellQuote(args.password)} runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -v user=${shellQuote(args.user)} -v db=${shellQuote(args.database)} <<'CRM_SQL'
\\getenv password CRM_DB_PASSWORD
SET password_encryption = '${args.passwordEncryption ?? "scram-sha-256"}';
${ENSURE_ROLE_AND_DB}
CRM_SQL`;
}
