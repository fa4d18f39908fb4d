import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { renderHaproxyConfig, type HaproxyArgs } from "../../roles/balancer";
import { hasCommand, run, tempDir } from "../support/shell";

const args: HaproxyArgs = {
  bind: "10.1.2.2:80",
  backends: [1, 2, 3].map((i) => ({ name: `s${i}`, address: `10.1.3.1${i}`, port: 3000 })),
  algorithm: "roundrobin",
  healthPath: "/healthz",
  statsBind: "10.1.3.1:8404",
};

describe("haproxy.cfg", () => {
  const cfg = renderHaproxyConfig(args);

  it("balances round-robin over every app server with an HTTP health check", () => {
    assert.match(cfg, /balance roundrobin/);
    assert.match(cfg, /option httpchk GET \/healthz/);
    for (const i of [1, 2, 3]) assert.match(cfg, new RegExp(`server s${i} 10\\.1\\.3\\.1${i}:3000 check`));
  });

  it("takes a dead server out within 2 s and retries only idempotent requests on another server", () => {
    assert.match(cfg, /inter 1s .*fall 2/);
    assert.match(cfg, /retries 3/);
    assert.match(cfg, /option redispatch 1/);
    assert.match(cfg, /retry-on conn-failure empty-response response-timeout 502 503 504/);
    assert.match(cfg, /http-request disable-l7-retry unless idempotent/);
  });

  it("keeps its idle timeout below the app's keep-alive (65 s)", () => {
    const idle = Number(/timeout http-keep-alive (\d+)s/.exec(cfg)![1]);
    assert.ok(idle < 65, `http-keep-alive ${idle}s`);
  });

  it("is a configuration HAProxy itself accepts", function () {
    if (!hasCommand("haproxy")) this.skip();
    const file = path.join(tempDir("haproxy"), "haproxy.cfg");
    fs.writeFileSync(file, cfg.replace(/stats socket .*\n/, ""));
    const r = run("haproxy", ["-c", "-f", file]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
