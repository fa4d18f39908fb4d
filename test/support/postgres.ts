/** Where this machine's PostgreSQL server programs are, for the tests that run a real cluster. */
import * as fs from "node:fs";
import * as path from "node:path";

/** The newest PostgreSQL server binaries on this machine, if any. */
export function pgBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!fs.existsSync(root)) return undefined;
  const majors = fs
    .readdirSync(root)
    .filter((m) => fs.existsSync(path.join(root, m, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return majors.length ? path.join(root, majors[0], "bin") : undefined;
}
