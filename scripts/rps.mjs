// rps.mjs URL SECONDS CONCURRENCY [--new-connections] [--ca FILE]
// Requests per second that URL answers: CONCURRENCY clients, each sending its next GET as soon
// as the last is answered, for SECONDS. Kept-alive connections unless --new-connections (then
// every request opens its own, and over HTTPS does a full TLS handshake). Prints one JSON line:
// {"url","keepAlive","rps","answers","statuses","errors","firstError"}. Run by scripts/bench-vnx.sh and test/e2e/vnx.test.ts in client c1's network
// namespace, so the requests cross the firewall and the load balancer like a user's.
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";

const [url, seconds, concurrency, ...flags] = process.argv.slice(2);
if (!url || !Number(seconds) || !Number(concurrency)) {
  console.error("usage: rps.mjs URL SECONDS CONCURRENCY [--new-connections] [--ca FILE]");
  process.exit(2);
}
const target = new URL(url);
const secure = target.protocol === "https:";
const keepAlive = !flags.includes("--new-connections");
const caAt = flags.indexOf("--ca");
const ca = caAt >= 0 ? fs.readFileSync(flags[caAt + 1], "utf8") : undefined;
const agent = secure
  ? new https.Agent({ keepAlive, maxSockets: Number(concurrency), ca, sessionTimeout: keepAlive ? 300 : 0 })
  : new http.Agent({ keepAlive, maxSockets: Number(concurrency) });
// Without keep-alive a TLS client would resume the last session (an abbreviated handshake):
// --new-connections measures the full one, as a first visit pays it.
if (secure && !keepAlive) agent.maxCachedSessions = 0;

const statuses = {};
let answers = 0;
let errors = 0;
let firstError;
const end = Date.now() + Number(seconds) * 1000;

function once() {
  return new Promise((resolve) => {
    const req = (secure ? https : http).get(target, { agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on("end", () => {
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        answers++;
        resolve();
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => {
      errors++;
      firstError ??= e.message;
      resolve();
    });
  });
}

async function client() {
  while (Date.now() < end) await once();
}

const start = Date.now();
await Promise.all(Array.from({ length: Number(concurrency) }, client));
const elapsed = (Date.now() - start) / 1000;
agent.destroy();
console.log(JSON.stringify({ url, keepAlive, rps: Math.round(answers / elapsed), answers, statuses, errors, firstError }));
