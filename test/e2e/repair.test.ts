/**
 * The vnx stack one step off the happy path, with the real engine and real LXC: a stack deployed
 * by the previous resource tree updates in place; hand edits, a stopped host and a lost host are
 * seen by `pulumi refresh` and repaired by `pulumi up --refresh`; hosts replaced by URN come back
 * serving; and things of the scenario's names that the stack did not make are never touched.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { forgetEarlierRun, stateDir, trustStackCa } from "../support/deploy";
import { installGuardRoute } from "../support/guard";
import { testStack, VALID_SECRETS, type TestStack } from "../support/pulumi";
import {
  clientStream,
  get,
  inContainer,
  leftovers,
  machineState,
  ROOT,
  serversUp,
  spread,
  stateDifference,
  waitFor,
} from "../support/scenario";
import { run } from "../support/shell";

/** The last commit before the resource tree followed the component convention (see test/unit/fixtures). */
const PREVIOUS_TREE = "0730fa9";
const STACK = "repair";

interface Step {
  readonly op: string;
  readonly urn: string;
}

/** What `pulumi preview` would do, step by step (`same` steps left out). */
function plannedSteps(stack: TestStack): Step[] {
  const r = stack.pulumi("preview", "--json");
  assert.equal(r.status, 0, r.stdout.slice(-3000) + r.stderr.slice(-3000));
  const plan = JSON.parse(r.stdout) as { steps?: Step[] };
  return (plan.steps ?? []).filter((s) => s.op !== "same");
}
const nameOf = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);

/** `pulumi refresh`, then what the next `up` would do, as sorted "op name" lines. */
function refreshThenPlan(stack: TestStack): string[] {
  const refresh = stack.pulumi("refresh", "--yes", "--skip-preview");
  assert.equal(refresh.status, 0, refresh.stdout.slice(-3000));
  return plannedSteps(stack)
    .map((s) => `${s.op} ${nameOf(s.urn)}`)
    .sort();
}

function up(stack: TestStack, ...args: string[]): void {
  const r = stack.pulumi("up", "--yes", "--skip-preview", ...args);
  assert.equal(r.status, 0, r.stdout.slice(-6000) + r.stderr.slice(-3000));
}

function urnOf(stack: TestStack, name: string): string {
  // `stack export` takes no --config-file.
  const r = stack.run("stack", "export", "--stack", stack.name);
  const state = JSON.parse(r.stdout) as { deployment: { resources: { urn: string }[] } };
  const urn = state.deployment.resources.map((res) => res.urn).find((u) => nameOf(u) === name);
  assert.ok(urn, `no resource ${name} in the stack`);
  return urn;
}

/**
 * A checkout of the previous tree beside this one, sharing its toolchain. It installs its own npm
 * packages: its lockfile differs, and its `npm ci` through a shared node_modules would empty ours
 * while this run uses it.
 */
function previousCheckout(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-previous-"));
  fs.rmdirSync(dir);
  const add = run("git", ["-C", ROOT, "worktree", "add", "--detach", dir, PREVIOUS_TREE]);
  assert.equal(add.status, 0, `git worktree add ${PREVIOUS_TREE} (this test needs the project's history): ${add.stderr}`);
  return dir;
}

const initPid = (host: string) => run("lxc-info", ["-n", `crm-${host}`, "-pH"]).stdout.trim();
const roleFilesState = (host: string) =>
  inContainer(host, "sha256sum -c --quiet /var/lib/crm-infra/managed.sha256 && echo intact").stdout.trim();

describe("vnx stack: foreign things of the scenario's names are never touched", function () {
  this.timeout(5 * 60_000);
  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    installGuardRoute();
    forgetEarlierRun("foreign");
  });

  it("a bridge named like ours that this stack did not make: up fails naming it and how to remove it, and changes nothing", () => {
    run("ip", ["link", "add", "crmlan3", "type", "bridge"]);
    try {
      const stack = testStack("foreign", { dir: stateDir("foreign") });
      stack.configure({ "crm:target": "vnx" }, VALID_SECRETS);
      const r = stack.pulumi("up", "--yes", "--skip-preview");
      assert.notEqual(r.status, 0);
      assert.match(r.stdout + r.stderr, /link crmlan3 exists but does not belong to crm\/foreign.*ip link del crmlan3/);
      assert.equal(run("cat", ["/sys/class/net/crmlan3/ifalias"]).stdout.trim(), "", "the foreign bridge was relabelled");
      assert.equal(run("ip", ["link", "show", "crmlan1"]).status, 1, "crmlan1 was created although up failed");
      stack.pulumi("destroy", "--yes", "--skip-preview");
    } finally {
      run("ip", ["link", "del", "crmlan3"]);
      forgetEarlierRun("foreign");
    }
  });

  it("a container named like ours that this stack did not make: never recreated, never destroyed", () => {
    const lxcPath = run("lxc-config", ["lxc.lxcpath"]).stdout.trim() || "/var/lib/lxc";
    const dir = path.join(lxcPath, "crm-c2");
    fs.mkdirSync(dir, { recursive: true });
    const config = "# someone else's container\nlxc.uts.name = c2\n";
    fs.writeFileSync(path.join(dir, "config"), config);
    try {
      const env = { ...process.env, CRM_OWNER: "crm/foreign", CRM_OPERATION: "create" };
      const host = path.join(ROOT, "targets/vnx/scripts/host.sh");
      const create = run(host, ["create", "crm-c2", "crm-base-any", "--nic", "lan1=10.1.1.12/24"], { env });
      assert.notEqual(create.status, 0);
      assert.match(create.stderr, /container crm-c2 exists but does not belong to crm\/foreign.*lxc-destroy -n crm-c2/);
      // Another stack's container: its destroy leaves it.
      fs.writeFileSync(path.join(dir, "crm-owner"), "crm-infra/another\n");
      assert.equal(run(host, ["destroy", "crm-c2"], { env }).status, 0);
      assert.equal(fs.readFileSync(path.join(dir, "config"), "utf8"), config);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("vnx stack: upgrade, drift and repair with the real engine", function () {
  this.timeout(40 * 60_000);
  let stack: TestStack;
  let previous: string | undefined;
  let machineBefore: Record<string, string[]>;

  before(function () {
    if (process.getuid?.() !== 0) this.skip();
    installGuardRoute();
    forgetEarlierRun(STACK);
    machineBefore = machineState();
    stack = testStack(STACK, { dir: stateDir(STACK) });
    stack.configure({ "crm:target": "vnx", "crm:servers": 3 }, VALID_SECRETS);
  });

  after(() => {
    if (stack) {
      const r = stack.pulumi("destroy", "--yes", "--skip-preview");
      assert.equal(r.status, 0, r.stdout.slice(-3000));
      assert.deepEqual(leftovers(), []);
      assert.deepEqual(stateDifference(machineBefore, machineState()), []);
    }
    if (previous) run("git", ["-C", ROOT, "worktree", "remove", "--force", previous]);
  });

  it(`a stack deployed at ${PREVIOUS_TREE} updates to this tree in place: no replacement, no host restarted`, () => {
    previous = previousCheckout();
    up(testStack(STACK, { dir: stateDir(STACK), root: previous }));
    const pids = ["fw", "lb", "s1", "bbdd", "nas1", "c1"].map(initPid);
    const steps = plannedSteps(stack);
    // Update first, judge the plan after: the tests below need the stack on this tree either way.
    up(stack);
    trustStackCa(stack);
    assert.deepEqual(
      // New since that tree: the substrate component, HTTPS's CA and certificate (issue 12), the
      // database's backups: their volume on the storage hosts, pgBackRest installed on bbdd (issue 11),
      // and the contract step that runs after the last server's release (issue 10).
      steps.filter(
        (s) =>
          s.op !== "update" &&
          !(
            s.op === "create" &&
            /crm:vnx:Substrate::|crm:tls:CertificateAuthority::|crm-certificate:Resource::|::bbdd-backup-volume$|::bbdd-provision$|::crm-contract$/.test(
              s.urn,
            )
          ),
      ),
      [],
    );
    assert.deepEqual(["fw", "lb", "s1", "bbdd", "nas1", "c1"].map(initPid), pids, "a host was restarted or recreated");
    const again = stack.pulumi("preview", "--expect-no-changes");
    assert.equal(again.status, 0, again.stdout.slice(-3000));
  });

  it("refresh sees hand-edited role files (haproxy.cfg, nftables, pg_hba.conf, the app's unit) as drift; up restores them", () => {
    const edits: Record<string, string> = {
      lb: "/etc/haproxy/haproxy.cfg",
      fw: "/etc/nftables.conf",
      bbdd: "$(ls /etc/postgresql/*/main/pg_hba.conf)",
      s1: "/etc/systemd/system/crm.service",
    };
    for (const [host, file] of Object.entries(edits)) {
      assert.equal(inContainer(host, `echo '# edited by hand' >> ${file}`).status, 0);
      assert.notEqual(roleFilesState(host), "intact");
    }
    assert.deepEqual(refreshThenPlan(stack), ["update bbdd-role", "update crm-s1-role", "update fw-role", "update lb-role"]);
    up(stack);
    for (const host of Object.keys(edits)) assert.equal(roleFilesState(host), "intact", host);
    assert.equal(inContainer("lb", "grep -c 'edited by hand' /etc/haproxy/haproxy.cfg").stdout.trim(), "0");
  });

  it("refresh sees a stopped host as drift; up --refresh starts it and it serves again", async () => {
    run("lxc-stop", ["-n", "crm-s3", "-t", "20"]);
    assert.deepEqual(refreshThenPlan(stack), ["update crm-s3-container", "update crm-s3-role"]);
    up(stack, "--refresh");
    await waitFor("s3 back in rotation", 60, () => serversUp().includes("s3"));
  });

  it("a host lost out of band: up --refresh recreates and provisions it, and a GET stream from c1 loses nothing", async () => {
    const stream = clientStream("c1", { seconds: 600, maxRequests: 20_000 });
    await new Promise((r) => setTimeout(r, 2000));
    run("lxc-stop", ["-k", "-n", "crm-s2"]);
    run("lxc-destroy", ["-n", "crm-s2"]);
    up(stack, "--refresh");
    await waitFor("s2 back in rotation", 60, () => serversUp().includes("s2"));
    const { total, failed } = await stream.stop();
    assert.ok(total > 50, `only ${total} requests ran`);
    assert.deepEqual(failed, [], `${failed.length} of ${total} requests failed`);
    const replies = [];
    for (let i = 0; i < 30; i++) replies.push(await get("/login"));
    assert.deepEqual(spread(replies), { s1: 10, s2: 10, s3: 10 });
  });

  it("replacing s2's and fw's hosts by URN (pulumi up --replace) leaves both there and serving", async () => {
    const before = [initPid("s2"), initPid("fw")];
    up(stack, "--replace", urnOf(stack, "crm-s2-container"), "--replace", urnOf(stack, "fw-container"));
    const after = [initPid("s2"), initPid("fw")];
    assert.ok(
      after.every((pid, i) => pid !== "" && pid !== before[i]),
      `not replaced, or gone: ${before} -> ${after}`,
    );
    await waitFor("s2 back in rotation", 60, () => serversUp().includes("s2"));
    const replies = [];
    for (let i = 0; i < 30; i++) replies.push(await get("/login"));
    assert.deepEqual(spread(replies), { s1: 10, s2: 10, s3: 10 });
    const again = stack.pulumi("preview", "--expect-no-changes");
    assert.equal(again.status, 0, again.stdout.slice(-3000));
  });
});
