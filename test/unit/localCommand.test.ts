/**
 * The local-command provider with real bash: what `pulumi refresh` and `up` decide from its
 * probe (gone, drifted, intact) and which inputs force a replacement.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { localCommandProvider as provider, type ProviderOutputs } from "../../targets/vnx/localCommand";

describe("local command provider", () => {
  let dir: string;
  let thing: string;
  /** A "thing" is a file; its probe prints its content, or absent. */
  const inputs = () => ({
    create: `echo made > ${thing}`,
    delete: `rm -f ${thing}`,
    probe: `cat ${thing} 2>/dev/null || echo absent`,
    owner: "crm-infra/test",
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-localcmd-"));
    thing = path.join(dir, "thing");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function created(): Promise<{ id: string; outs: ProviderOutputs }> {
    const r = await provider.create(inputs());
    return { id: r.id, outs: r.outs as ProviderOutputs };
  }

  it("records what the probe saw right after create, and passes the owner and the operation to the script", async () => {
    const outs = (await provider.create({ ...inputs(), create: `echo "$CRM_OPERATION by $CRM_OWNER" > ${thing}` })).outs as ProviderOutputs;
    assert.equal(outs.applied, "create by crm-infra/test");
    assert.equal(outs.observed, outs.applied);
  });

  it("refresh: a thing found absent leaves the state (blank id), so the next up creates it again", async () => {
    const { id, outs } = await created();
    fs.rmSync(thing);
    const read = await provider.read!(id, outs);
    assert.equal(read.id, "");
  });

  it("refresh then up: a changed thing is drift, repaired in place (update, never replace)", async () => {
    const { id, outs } = await created();
    const intact = await provider.read!(id, outs);
    assert.equal((await provider.diff!(id, intact.props as ProviderOutputs, inputs())).changes, false);
    fs.writeFileSync(thing, "edited by hand\n");
    const read = await provider.read!(id, outs);
    assert.equal(read.id, id);
    assert.equal((read.props as ProviderOutputs).observed, "edited by hand");
    const diff = await provider.diff!(id, read.props as ProviderOutputs, inputs());
    assert.equal(diff.changes, true);
    assert.deepEqual(diff.replaces, []);
    const updated = await provider.update!(id, read.props as ProviderOutputs, inputs());
    assert.equal(fs.readFileSync(thing, "utf8"), "made\n");
    assert.equal(updated.outs!.applied, "made");
  });

  it("names exactly the inputs that force a replacement; with rerunOnChange none do", async () => {
    const { id, outs } = await created();
    const changed = { ...inputs(), create: `echo other > ${thing}`, stdin: "new" };
    const diff = await provider.diff!(id, outs, changed);
    assert.deepEqual(diff.replaces, ["create", "stdin"]);
    assert.equal(diff.deleteBeforeReplace, true);
    assert.deepEqual((await provider.diff!(id, outs, { ...changed, rerunOnChange: true })).replaces, []);
    assert.deepEqual((await provider.diff!(id, outs, { ...inputs(), triggers: ["x"] })).replaces, ["triggers"]);
  });

  it("brings a state written before probes existed up to date in place, without replacing", async () => {
    const legacy: ProviderOutputs = {
      create: inputs().create,
      delete: inputs().delete,
      stdinHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    };
    const diff = await provider.diff!("old", legacy, inputs());
    assert.equal(diff.changes, true);
    assert.deepEqual(diff.replaces, []);
  });

  it("fails with the script's last output, and when a create leaves nothing its probe can see", async () => {
    await assert.rejects(
      provider.create({ ...inputs(), create: "echo 'no space left' >&2; exit 3" }),
      /exited with code 3[\s\S]*no space left/,
    );
    await assert.rejects(provider.create({ ...inputs(), create: "true" }), /probe still finds nothing/);
  });

  it("rejects a missing script at check, naming the property", async () => {
    const r = await provider.check!(inputs(), { ...inputs(), create: " " });
    assert.deepEqual(
      r.failures?.map((f) => f.property),
      ["create"],
    );
  });
});
