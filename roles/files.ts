/**
 * Whole programs the roles install (roles/files/*): real files, shellchecked, read at render time
 * and written onto the host byte for byte, so no program lives inside a TypeScript string.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** The directory that holds the programs, next to this module. */
const ROLE_FILES_DIR = path.join(__dirname, "files");

/** The text of one program in roles/files. */
export function roleFile(name: string): string {
  return fs.readFileSync(path.join(ROLE_FILES_DIR, name), "utf8");
}
