import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { roleScript, writeFile } from "../../roles/script";
import { run, tempDir } from "../support/shell";

describe("role script building blocks", () => {
  it("writes content byte for byte, even with quotes, $ and the heredoc delimiter in it", () => {
    const dir = tempDir("write");
    const target = path.join(dir, "etc/app.conf");
    const content = "a 'quoted' \"line\"\n$HOME and `cmd` stay literal\nCRM_EOF\n\\backslash\n";
    const r = run("bash", ["-s"], { input: roleScript("test", writeFile(target, content, { mode: "0600" })) });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(target, "utf8"), content);
    assert.equal(fs.statSync(target).mode & 0o777, 0o600);
  });

  it("runs the change hook only when the file changed, so a second run changes nothing", () => {
    const dir = tempDir("idem");
    const target = path.join(dir, "conf");
    const script = roleScript("test", writeFile(target, "v1", { onChange: "echo CHANGED" }));
    assert.match(run("bash", ["-s"], { input: script }).stdout, /CHANGED/);
    assert.doesNotMatch(run("bash", ["-s"], { input: script }).stdout, /CHANGED/);
    const changed = roleScript("test", writeFile(target, "v2", { onChange: "echo CHANGED" }));
    assert.match(run("bash", ["-s"], { input: changed }).stdout, /CHANGED/);
  });

  it("stops at the first failing step", () => {
    const r = run("bash", ["-s"], { input: roleScript("test", "false", "echo NOT-REACHED") });
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.stdout, /NOT-REACHED/);
  });
});
