/**
 * npm run recover -- [--stack NAME] [--config-file FILE] [--dry-run]
 *
 * After an interrupted `pulumi up` (Ctrl-C twice, a CI job killed at its timeout): the creates the engine had
 * started are pending in the state, and what the cloud made for them belongs to no one. A later `up` would create
 * them again, and Nova refuses a second server on the same port (409 "Port … is still in use"), forever. This:
 *   1. cancels the interrupted update's lock (`pulumi cancel`), if it holds one;
 *   2. lists what the project holds in the cloud (scripts/recover/cloud_objects.py, openstacksdk, read only) and,
 *      for each pending create, finds the object it made by what the program set on it: a server by its port, a
 *      port, security group, network, subnet or router by name, a floating IP by its description;
 *   3. gives those to the state (`pulumi stack export`, each one adopted with the cloud's id and the inputs the
 *      program gave it, `pulumi stack import`), clears the pending creates that made nothing (a key, a remote
 *      command, a create the cloud never started: the next `up` makes or runs them), and `pulumi refresh` reads
 *      every adopted object back from the cloud.
 * Then `pulumi up` converges. A pending create that matches more than one cloud object stops the recovery, naming
 * them (exit 2), before anything changes. --dry-run prints the plan only; --config-file goes to `pulumi refresh` as
 * it would to pulumi. Credentials: what the provider uses (OS_*, or OS_CLOUD and clouds.yaml).
 *
 * A lab stack: npm run lab -- recover [--stack NAME] [--dry-run]
 */
import { RunResult, runSync } from "./process";
import * as path from "path";
import { exitAfterFlush, printHelp } from "./cli-support";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { applyRecovery, CloudObjects, PendingOperation, pendingUserData, planRecovery } from "./recover/plan";

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function run(cmd: string, args: string[]): RunResult {
  // A refresh of a large stack takes minutes: no limit.
  return runSync([cmd, ...args], { timeoutMs: 0 });
}

function pulumi(stack: string | undefined, args: string[]): RunResult {
  return run("pulumi", [...args, ...(stack ? ["--stack", stack] : [])]);
}

function must(what: string, r: { code: number; stdout: string; stderr: string }): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split("\n").slice(-5).join("\n")}`);
  return r.stdout;
}

/** The first Python that has openstacksdk: python3 on PATH, else the system's (Debian's python3-openstacksdk). */
function pythonWithSdk(): string {
  for (const py of ["python3", "/usr/bin/python3"]) {
    try {
      if (runSync([py, "-c", "import openstack"]).code === 0) return py;
    } catch {
      // no such interpreter: try the next
    }
  }
  throw new Error("no python3 with openstacksdk (pip install openstacksdk, or apt install python3-openstacksdk)");
}

export function recover(argv: string[], write: (line: string) => void): number {
  const stack = arg(argv, "--stack");
  const configFile = arg(argv, "--config-file");
  const dry = argv.includes("--dry-run");
  if (!dry) {
    // No update in progress is the usual answer; a real failure shows again at the export or refresh below.
    const c = pulumi(stack, ["cancel", "--yes"]);
    if (c.code === 0) write("released the interrupted update's lock (pulumi cancel)");
  }
  const exported = JSON.parse(must("pulumi stack export", pulumi(stack, ["stack", "export"]))) as {
    deployment: { resources?: { id?: string }[]; pending_operations?: PendingOperation[] };
  };
  const pending = exported.deployment.pending_operations ?? [];
  if (pending.length === 0) {
    write("nothing to recover: the state has no pending operations; `pulumi up` converges as it is");
    return 0;
  }
  const cloud = JSON.parse(
    must("listing the project's cloud objects", run(pythonWithSdk(), [path.join(__dirname, "recover", "cloud_objects.py")])),
  ) as CloudObjects;
  const owned = new Set((exported.deployment.resources ?? []).map((r) => r.id).filter((id): id is string => !!id));
  const plan = planRecovery(pending, cloud, owned);
  for (const i of plan.imports) write(`import ${i.what} (${i.id}) as ${i.urn}`);
  for (const d of plan.dropped) write(`clear  ${d.urn}: ${d.why}`);
  for (const a of plan.ambiguous) write(`STOP   ${a.urn}: ${a.why}`);
  for (const o of pending.filter((p) => p.type !== "creating")) write(`refresh reads back ${o.resource.urn} (pending ${o.type})`);
  if (plan.ambiguous.length > 0) {
    write("nothing changed: delete the extra objects named above (or import the right one by hand), then run this again");
    return 2;
  }
  if (dry) return 0;
  // `pulumi refresh --import-pending-creates` only relabels the operation (pulumi 3.248 then drops it), so the state
  // is edited instead: export, adopt, import, then refresh reads every adopted resource back from the cloud.
  const dir = mkdtempSync(path.join(tmpdir(), "fleet-recover-"));
  try {
    const file = path.join(dir, "deployment.json");
    // An adopted server's record needs the hash of its user data, as the provider keeps it: read from an export with
    // the secrets shown, in memory only; the file written holds the hash, never the data (its host key).
    const shown = JSON.parse(must("pulumi stack export --show-secrets", pulumi(stack, ["stack", "export", "--show-secrets"]))) as {
      deployment: { pending_operations?: PendingOperation[] };
    };
    const userData = pendingUserData(shown.deployment.pending_operations ?? []);
    writeFileSync(file, JSON.stringify({ ...exported, deployment: applyRecovery(exported.deployment, plan, userData) }), { mode: 0o600 });
    must("pulumi stack import", pulumi(stack, ["stack", "import", "--file", file]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  must("pulumi refresh", pulumi(stack, ["refresh", "--yes", "--skip-preview", ...(configFile ? ["--config-file", configFile] : [])]));
  write(`recovered: ${plan.imports.length} imported, ${plan.dropped.length} cleared; now run pulumi up`);
  return 0;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  if (printHelp(argv, __filename)) exitAfterFlush(0);
  else {
    try {
      exitAfterFlush(recover(argv, (l) => console.log(l)));
    } catch (e) {
      console.error(`recover: ${(e as Error).message}`);
      exitAfterFlush(1);
    }
  }
}
