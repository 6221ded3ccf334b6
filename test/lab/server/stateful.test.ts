/**
 * A stateful role under the real engine, against the lab's Nova and Cinder: the db role asks for a volume, and its
 * server keeps the data on it through a replacement; removing the server is refused until it is retired on
 * purpose. Checked from outside the program: the OpenStack API (volumes, attachments, servers) and the host itself.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { parse, stringify } from "yaml";
import * as path from "path";
import { describeLab } from "../guard";
import { layout, REPO_ROOT } from "../../../lab/layout";
import { cloud, projectObjects, purgeTenant } from "../../../lab/openstack";
import { prepareRealStack, runPulumi } from "../../../lab/pulumi-cli";
import { run } from "../../../lab/sh";
import { containerInit } from "../../../lab/hosts";
import { eventErrors, eventSteps, stackGuests } from "../../../lab/real-stack";

const STACK = "stateful";
const L = layout(STACK);
const PROJECT = `lab-${STACK}`;
const log = (l: string) => void (process.env.FLEET_LAB_VERBOSE ? process.stderr.write(l) : undefined);
const typeOf = (urn: string) => urn.split("::")[2].split("$").pop()!;
/**
 * Non-"same" steps, as "op type name". An up reports a replacement as three steps (replace, create-replacement,
 * delete-replaced), a preview as its "replace" alone: `replacements: false` keeps the one both report.
 */
const changes = (steps: { op: string; urn: string }[], replacements = true) =>
  steps
    .filter((s) => s.op !== "same" && (replacements || !["create-replacement", "delete-replaced"].includes(s.op)))
    .map((s) => `${s.op} ${typeOf(s.urn).split(":").pop()} ${s.urn.split("::").pop()}`)
    .sort();

type Config = Record<string, unknown>;
/** The dev stack cut to its gateway and database, the db role stateful, no deploy. */
function baseConfig(): Config {
  const dev = (parse(readFileSync(path.join(REPO_ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Config }).config;
  const roles = dev["fleet:roles"] as Record<string, Record<string, unknown>>;
  const out: Config = {
    ...dev,
    "fleet:roles": { ...roles, db: { ...roles.db, volume: { size: 1, mountPoint: "/srv/data" } } },
    "fleet:servers": [
      { name: "gw-1", role: "gateway" },
      { name: "db-1", role: "db" },
    ],
  };
  delete out["fleet:deploy"];
  return out;
}

describeLab("a stateful role on the lab's Nova and Cinder, under the real engine", () => {
  let env: Record<string, string>;
  let config = baseConfig();

  async function withConfig(c: Config): Promise<void> {
    config = c;
    const file = path.join(L.dir, "stateful.yaml");
    mkdirSync(L.dir, { recursive: true });
    writeFileSync(file, stringify({ config: c }));
    env = await prepareRealStack(L, file, log);
  }
  /** Runs argv inside the server's host (its mount and pid namespaces), input on stdin. */
  function onHost(server: string, argv: string[], input?: string) {
    const g = stackGuests(L)[server];
    const pid = g ? containerInit(g) : 0;
    if (!pid) throw new Error(`${server} has no running host`);
    return run(["nsenter", "-t", String(pid), "-m", "-p", "--", ...argv], input);
  }
  const dbServer = () => projectObjects(PROJECT).servers.find((s) => s.name === "db-1");
  const dbVolumes = () => projectObjects(PROJECT).volumes.filter((v) => v.name === "db-1-data");

  beforeAll(async () => {
    expect(await cloud("up", { log })).toBe(0);
    purgeTenant(L.stack);
    if (existsSync(L.dir)) rmSync(L.dir, { recursive: true, force: true });
    await withConfig(baseConfig());
    const r = await runPulumi(L, env, ["up", "--yes", "--skip-preview"], log);
    expect({ code: r.code, err: r.code === 0 ? "" : r.stderr.slice(-3000) + r.stdout.slice(-3000) }).toEqual({ code: 0, err: "" });
  });
  afterAll(async () => {
    // The volume is protected: destroy needs it unprotected first, as a user retiring the whole stack would do.
    if (env) {
      await runPulumi(L, env, ["state", "unprotect", "--all", "--yes"], log).catch(() => undefined);
      await runPulumi(L, env, ["destroy", "--yes", "--skip-preview"], log).catch(() => undefined);
    }
    purgeTenant(L.stack);
    rmSync(L.dir, { recursive: true, force: true });
  });

  it("gives the stateful server its own volume: created once, protected, attached at boot, formatted and mounted", async () => {
    const server = dbServer()!;
    const state = JSON.parse((await runPulumi(L, env, ["stack", "export"])).stdout) as {
      deployment: { resources: { type: string; urn: string; protect?: boolean }[] };
    };
    const inState = state.deployment.resources.filter((r) => r.type === "openstack:blockstorage/volume:Volume");
    expect(inState.map((r) => [r.urn.split("::").pop(), r.protect])).toEqual([["db-1-data", true]]);
    expect(dbVolumes()).toEqual([expect.objectContaining({ status: "in-use", size: 1, attachedTo: [server.id] })]);
    // Only the stateful role has one.
    expect(projectObjects(PROJECT).volumes.map((v) => v.name)).toEqual(["db-1-data"]);
    const mount = onHost("db-1", ["findmnt", "--noheadings", "--output", "SOURCE,FSTYPE", "/srv/data"]);
    expect(mount.stdout.trim()).toBe(`/dev/disk/by-id/virtio-${dbVolumes()[0].id.slice(0, 20)} ext4`);
    expect(onHost("db-1", ["tee", "/srv/data/marker"], "written before the replacement\n").code).toBe(0);
  });

  it("an image change replaces the server: the new one gets the same volume, its data intact; preview said exactly that", async () => {
    const before = { server: dbServer()!, volume: dbVolumes()[0] };
    const roles = config["fleet:roles"] as Record<string, Record<string, unknown>>;
    await withConfig({ ...config, "fleet:roles": { ...roles, db: { ...roles.db, image: "Debian 12" } } });
    const preview = await runPulumi(L, env, ["preview", "--json"], log);
    expect(preview.code).toBe(0);
    const planned = changes((JSON.parse(preview.stdout) as { steps: { op: string; urn: string }[] }).steps);
    const r = await runPulumi(L, env, ["up", "--yes", "--skip-preview", "--json"], log);
    expect({ code: r.code, err: r.code === 0 ? "" : eventErrors(r) }).toEqual({ code: 0, err: "" });
    const done = changes(eventSteps(r.stdout));
    expect(changes(eventSteps(r.stdout), false)).toEqual(planned);
    expect(done).toEqual(expect.arrayContaining(["create-replacement Instance db-1", "delete-replaced Instance db-1"]));
    expect(done.filter((c) => / Volume /.test(c))).toEqual([]);
    const after = { server: dbServer()!, volume: dbVolumes()[0] };
    expect(after.server.id).not.toBe(before.server.id);
    expect(after.server.image).toBe("Debian 12");
    expect(after.volume).toEqual({ ...before.volume, attachedTo: [after.server.id] });
    expect(onHost("db-1", ["cat", "/srv/data/marker"]).stdout).toBe("written before the replacement\n");
  });

  it("removing the stateful server is refused before anything moves, naming the volume and fleet:retire", async () => {
    const before = { server: dbServer()!, volume: dbVolumes()[0] };
    const servers = config["fleet:servers"] as { name: string }[];
    await withConfig({ ...config, "fleet:servers": servers.filter((s) => s.name !== "db-1") });
    for (const args of [["preview"], ["up", "--yes", "--skip-preview"]]) {
      const r = await runPulumi(L, env, args, log);
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toContain(`db-1 (role db) is gone from the list, but its data is on volume ${before.volume.id}`);
      expect(r.stdout + r.stderr).toContain("fleet:retire");
      expect(r.stdout + r.stderr).not.toMatch(/\n\s+at .*\.ts:\d+/); // no stack trace
    }
    expect({ server: dbServer()!.id, volume: dbVolumes()[0] }).toEqual({ server: before.server.id, volume: before.volume });
  });

  it("fleet:retire deletes the server and keeps its volume; leaving fleet:retire then deletes the volume", async () => {
    const volume = dbVolumes()[0];
    await withConfig({ ...config, "fleet:retire": ["db-1"] });
    const retire = await runPulumi(L, env, ["up", "--yes", "--skip-preview"], log);
    expect({ code: retire.code, err: retire.code === 0 ? "" : retire.stdout.slice(-3000) }).toEqual({ code: 0, err: "" });
    expect(dbServer()).toBeUndefined();
    expect(dbVolumes()).toEqual([{ ...volume, status: "available", attachedTo: [] }]);
    const out = JSON.parse((await runPulumi(L, env, ["stack", "output", "volumes", "--json"])).stdout) as Record<string, { id: string; retired?: boolean }>;
    expect(out["db-1"]).toEqual(expect.objectContaining({ id: volume.id, retired: true }));

    const rest = { ...config };
    delete rest["fleet:retire"];
    await withConfig(rest);
    const gone = await runPulumi(L, env, ["up", "--yes", "--skip-preview"], log);
    expect({ code: gone.code, err: gone.code === 0 ? "" : gone.stdout.slice(-3000) }).toEqual({ code: 0, err: "" });
    expect(dbVolumes()).toEqual([]);
  });
});
