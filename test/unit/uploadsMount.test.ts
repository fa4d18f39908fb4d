/**
 * The app servers' uploads mount (roles/app.ts renderUploadsUnit), its retry loop run by sh
 * against fake mount tools: a try that leaves a dead FUSE mount behind (what the cloud rehearsal
 * saw when app servers booted with the bricks) must not stop the next one.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { renderUploadsUnit, UPLOADS_MOUNT } from "../../roles/app";
import { run, tempDir } from "../support/shell";

describe("the uploads mount unit", () => {
  it("clears a dead mount before each try and stops once the volume is mounted", () => {
    const unit = renderUploadsUnit({ volume: "nas", glusterServers: ["10.1.4.21", "10.1.4.22", "10.1.4.23"] });
    const loop = /^ExecStart=\/bin\/sh -c '(.*)'$/m.exec(unit)?.[1];
    assert.ok(loop, unit);
    const dir = tempDir("uploads");
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    const fake = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    fake("mountpoint", `[ -f "$STATE/mounted" ]`);
    fake("umount", `echo "umount $*" >>"$STATE/log"`);
    // The first try fails (and, as glusterfs does, leaves the mount point dead); the third succeeds.
    fake(
      "mount",
      `echo "mount $*" >>"$STATE/log"; echo x >>"$STATE/tries"; [ "$(wc -l <"$STATE/tries")" -ge 3 ] && touch "$STATE/mounted"`,
    );
    fake("sleep", "exit 0");
    const r = run("timeout", ["10", "sh", "-c", loop!], { env: { PATH: `${bin}:/usr/bin:/bin`, STATE: dir } });
    assert.equal(r.status, 0, r.stderr);
    const tryLines = [
      `umount -l ${UPLOADS_MOUNT}`,
      `mount -t glusterfs -o backup-volfile-servers=10.1.4.22:10.1.4.23 10.1.4.21:/nas ${UPLOADS_MOUNT}`,
    ];
    assert.deepEqual(fs.readFileSync(path.join(dir, "log"), "utf8").trim().split("\n"), [...tryLines, ...tryLines, ...tryLines]);
  });
});
