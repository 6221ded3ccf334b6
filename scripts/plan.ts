/**
 * npm run plan -- [--stack NAME] [--config-file FILE] [--base FILE|GIT-REF] [--preview FILE|-] [--out DIR]
 *                  [--policy-config FILE] [--help]
 *
 * Writes plan.md and plan.json for a stack: servers, topology, connectivity, engineers,
 * deploys, the resources the program registers (run offline under the mock runtime),
 * the policy pack's verdict, with --base the changes against another config, and with
 * --preview what a real `pulumi preview --json` of the stack (saved to FILE, or on stdin
 * with -) says the next up does to each resource.
 */
import { execFileSync } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { planDiff } from "./plan/diff";
import { planModel } from "./plan/model";
import { packDirectory } from "../components/deploy/pack";
import { countByType, OfflineOptions, runProgramOffline } from "./offline/run";
import { PlainResource } from "../policy/args";
import { PackConfig } from "../policy/run";
import { PlanReport, renderPlanJson, renderPlanMarkdown } from "./plan/report";
import { readStackText, StackConfig } from "./plan/stack";
import { PreviewError, summarizePreview } from "./plan/preview";
import { runPolicies } from "../policy/run";
import { exitAfterFlush, flag, printHelp, readInput, UsageError } from "./cli-support";
import { stackFilePath } from "./stack-file";
import { encryptedNote } from "../components/config/stack-yaml";

const ROOT = path.join(__dirname, "..");

/** --base is a stack file if one exists at that path, else a git revision to read Pulumi.<stack>.yaml from. */
function readBase(base: string, stack: string): { text: string; label: string; ref?: string } {
  if (existsSync(base)) return { text: readFileSync(base, "utf8"), label: `\`${base}\`` };
  const file = `Pulumi.${stack}.yaml`;
  try {
    const text = execFileSync("git", ["show", `${base}:${file}`], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { text, label: `\`${base}\` (${file})`, ref: base };
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? "").trim();
    throw new UsageError(`--base ${base}: neither a file nor a git revision holding ${file} (${stderr || (e as Error).message})`);
  }
}

/** A `local` deploy source's release id: what the deploy component computes from the directory. */
function packedHere(dir: string): string {
  return packDirectory(path.resolve(ROOT, dir)).sha256;
}

/** The same for the directory as it was at a git revision (extracted with git archive, then packed). */
function packedAt(ref: string): (dir: string) => string {
  return (dir) => {
    const tmp = mkdtempSync(path.join(tmpdir(), "plan-base-"));
    try {
      const archive = execFileSync("git", ["archive", "--format=tar", ref, "--", dir], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 30 });
      execFileSync("tar", ["-x", "-C", tmp], { input: archive });
      return packDirectory(path.join(tmp, dir)).sha256;
    } catch (e) {
      throw new UsageError(`--base ${ref}: cannot read the deploy source ${dir} at that revision: ${(e as Error).message.split("\n")[0]}`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  };
}

export async function plan(
  argv: string[],
  opts: { loadProgram?: OfflineOptions["load"] } = {},
): Promise<{ report: PlanReport; files: string[]; resources: PlainResource[] }> {
  const stack = flag(argv, "stack") ?? "dev";
  const outDir = path.resolve(flag(argv, "out") ?? "plan-out");
  const base = flag(argv, "base");
  // --stack-file is the name this flag had before every command called it --config-file.
  const file = stackFilePath(stack, flag(argv, "config-file") ?? flag(argv, "stack-file"));
  const policyConfigFile = flag(argv, "policy-config");
  let policyConfig: PackConfig = {};
  if (policyConfigFile) {
    try {
      policyConfig = JSON.parse(readFileSync(policyConfigFile, "utf8")) as PackConfig;
    } catch (e) {
      throw new UsageError(`--policy-config ${policyConfigFile}: ${(e as Error).message}`);
    }
  }
  const head: StackConfig = readStackText(readFileSync(file, "utf8"), file);
  const note = encryptedNote(file, head.secretKeys);
  if (note) console.error(note);

  const run = await runProgramOffline(head.config, { stack, load: opts.loadProgram });
  const resources = run.resources.map((r) => ({ type: r.type, name: r.name, props: { ...r.inputs, id: r.id } }));
  const violations = await runPolicies(resources, policyConfig);

  const report: PlanReport = {
    stack,
    model: planModel(head.fleet, { localRevision: packedHere }),
    resources: countByType(run.resources),
    policy: { checked: resources.length, violations },
  };
  const preview = flag(argv, "preview");
  if (preview) {
    try {
      report.preview = summarizePreview(await readInput(preview));
    } catch (e) {
      if (e instanceof PreviewError || (e as NodeJS.ErrnoException).code === "ENOENT") throw new UsageError(`--preview ${preview}: ${(e as Error).message}`);
      throw e;
    }
  }
  if (base) {
    const b = readBase(base, stack);
    const baseLocal = b.ref ? packedAt(b.ref) : packedHere;
    report.base = {
      label: b.label,
      changes: planDiff(readStackText(b.text, base).fleet, head.fleet, { base: { localRevision: baseLocal }, head: { localRevision: packedHere } }),
    };
  }
  mkdirSync(outDir, { recursive: true });
  const files = [path.join(outDir, "plan.md"), path.join(outDir, "plan.json")];
  writeFileSync(files[0], renderPlanMarkdown(report));
  writeFileSync(files[1], renderPlanJson(report));
  return { report, files, resources };
}

if (require.main === module && printHelp(process.argv.slice(2), __filename)) exitAfterFlush(0);
else if (require.main === module) {
  plan(process.argv.slice(2))
    .then(({ report, files }) => {
      const changes = report.base ? `, ${report.base.changes.length} changes against ${report.base.label}` : "";
      const all = report.policy?.violations ?? [];
      const mandatory = all.filter((v) => v.level === "mandatory").length;
      console.log(`wrote ${files.join(" and ")}${changes}; ${all.length} policy violations (${mandatory} mandatory)`);
      // Like `pulumi preview --policy-pack`: only mandatory violations fail the run.
      exitAfterFlush(mandatory > 0 ? 2 : 0);
    })
    .catch((e: unknown) => {
      console.error(`plan: ${(e as Error).message ?? String(e)}`);
      exitAfterFlush(1);
    });
}
