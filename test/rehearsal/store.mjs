// The rehearsal's object store and EC2 metadata service, in one small server (run by Node in the
// store's container): GET /HOST/PATH serves the file ROOT/HOST/PATH (the bundle, where the user
// data's URL points once redirected); IMDSv2 answers a token on PUT and, with that token, a role
// and temporary credentials. Every request is logged as one JSON line, so that the test can check
// how the hosts asked (an S3 fetch must be signed with the metadata service's credentials).
//   node store.mjs ROOT LOG
import { createReadStream, appendFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { join, normalize } from "node:path";

const [root, log] = process.argv.slice(2);
const TOKEN = "rehearsal-imds-token";
const ROLE = "crm-host";
export const CREDENTIALS = { AccessKeyId: "ASIAREHEARSAL", SecretAccessKey: "rehearsal-secret", Token: "rehearsal-session-token" };

function send(res, status, body) {
  res.writeHead(status, { "content-type": "text/plain" });
  res.end(body);
}

createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://store");
  appendFileSync(
    log,
    JSON.stringify({
      method: req.method,
      path: url.pathname,
      authorization: req.headers.authorization ?? "",
      token: req.headers["x-amz-security-token"] ?? "",
    }) + "\n",
  );
  if (url.pathname === "/latest/api/token") {
    if (req.method !== "PUT" || !req.headers["x-aws-ec2-metadata-token-ttl-seconds"]) return send(res, 400, "IMDSv2: PUT with a TTL");
    return send(res, 200, TOKEN);
  }
  if (url.pathname.startsWith("/latest/")) {
    if (req.headers["x-aws-ec2-metadata-token"] !== TOKEN) return send(res, 401, "IMDSv2 token required");
    if (url.pathname === "/latest/meta-data/iam/security-credentials/") return send(res, 200, ROLE);
    if (url.pathname === `/latest/meta-data/iam/security-credentials/${ROLE}`)
      return send(res, 200, JSON.stringify({ Code: "Success", Type: "AWS-HMAC", ...CREDENTIALS }, null, 2));
    return send(res, 404, "not found");
  }
  const file = join(root, normalize(url.pathname));
  if (!file.startsWith(root + "/") || req.method !== "GET") return send(res, 404, "not found");
  try {
    const size = statSync(file).size;
    res.writeHead(200, { "content-type": "application/gzip", "content-length": size });
    createReadStream(file).pipe(res);
  } catch {
    send(res, 404, "not found");
  }
}).listen(80);
