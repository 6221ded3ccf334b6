/**
 * npm run lab -- <command>
 *
 *   up      [--stack NAME] [--config-file FILE] [--json]
 *           the real `pulumi up` of the stack against the lab's OpenStack (cloud, tenant and laptops made first);
 *           pulumi's own progress, then the hosts; --json prints one summary object (steps, remote runs)
 *   preview [--stack NAME] [--config-file FILE] [--json] [-- PULUMI-ARGS...]
 *           the real `pulumi preview` of the stack
 *   refresh [--stack NAME] [--config-file FILE] [-- PULUMI-ARGS...]
 *           the real `pulumi refresh --yes`: the state read back from the cloud and the hosts' commands
 *   status  [--stack NAME] [--json]              servers (Nova's status, host, sshd), the operator, the laptops
 *   exec    [--stack NAME] HOST -- CMD...        HOST: a server, `operator` (where pulumi runs), `eng1` or `eng2`
 *   outputs [--stack NAME] [--json] [--show-secrets]
 *   reboot  [--stack NAME] HOST                 a hard reboot through Nova's API
 *   audit   [--stack NAME] [--repair] [--json]  npm run audit on the stack's checkpoint: every host against it
 *   recover [--stack NAME] [--dry-run]          npm run recover after an interrupted up: the state gets what the
 *                                               cloud made for the creates it left pending
 *   down    [--stack NAME]                      pulumi destroy, then whatever is left (cloud objects, laptops, files)
 *   destroy [--stack NAME]                      the same as down
 *   cloud   up|down|status [--wipe]             the lab's OpenStack (one per machine, namespace fl-os)
 *   pulumi  [--stack NAME] [--config-file FILE] -- ARGS...
 *           the real `pulumi ARGS` for the stack (refresh, destroy, stack export...), in the cloud's namespace
 *
 * The stack defaults to $FLEET_LAB_STACK or `dev`; its config is Pulumi.<stack>.yaml unless --config-file names
 * another file.
 */
import { alignColumns } from "../components/text/columns";
import { spawnSync } from "child_process";
import { layout } from "./layout";
import { ensureLaptops } from "./laptops";
import { cloud } from "./openstack";
import { prepareRealStack, runPulumi } from "./pulumi-cli";
import { auditStack, changedNames, labExecArgv, realDown, rebootServer, recoverStack, remoteRuns, stackOutputs, stackStatus, eventSteps } from "./real-stack";
import { LAB_CORE, labUnavailable } from "./preflight";
import { stackFilePath } from "../scripts/stack-file";
import { exitAfterFlush, usageOf, wantsHelp } from "../scripts/cli-support";

export class LabError extends Error {}

function preflight(): void {
  const why = labUnavailable(LAB_CORE);
  if (why) throw new LabError(`the lab cannot run here: ${why}`);
}

interface Args {
  cmd: string;
  flags: Record<string, string | true>;
  rest: string[];
}

function parseArgs(argv: string[]): Args {
  const [cmd = "help", ...tail] = argv;
  const flags: Record<string, string | true> = {};
  const rest: string[] = [];
  const withValue = new Set(["--stack", "--config-file"]);
  for (let i = 0; i < tail.length; i++) {
    const a = tail[i];
    if (a === "--") {
      rest.push(...tail.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const [k, v] = a.split("=", 2);
      if (withValue.has(k) && v === undefined) {
        if (tail[i + 1] === undefined) throw new LabError(`${k} needs a value`);
        flags[k] = tail[++i];
      } else flags[k] = v ?? true;
    } else rest.push(a);
  }
  return { cmd, flags, rest };
}

const str = (v: string | true | undefined) => (typeof v === "string" ? v : undefined);

const usage = () => usageOf(__filename);

async function main(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(usage());
    return 0;
  }
  const a = parseArgs(argv);
  const stack = str(a.flags["--stack"]) ?? process.env.FLEET_LAB_STACK ?? "dev";
  const json = a.flags["--json"] === true;
  switch (a.cmd) {
    case "up": {
      preflight();
      const L = layout(stack);
      const log = (l: string) => (json ? process.stderr : process.stdout).write(l);
      const env = await prepareRealStack(L, stackFilePath(stack, str(a.flags["--config-file"])), log);
      ensureLaptops(L);
      // --json: the engine's event stream, read for the summary; otherwise pulumi's own display, as a user sees it.
      const r = await runPulumi(L, env, ["up", "--yes", "--skip-preview", ...(json ? ["--json"] : [])], json ? () => undefined : log);
      if (json) {
        const steps = r.code === 0 || r.stdout.includes('"summaryEvent"') ? eventSteps(r.stdout) : [];
        process.stdout.write(`${JSON.stringify({ ok: r.code === 0, steps, changed: changedNames(steps), remoteRuns: remoteRuns(steps) })}\n`);
        if (r.code !== 0) process.stderr.write(r.stderr);
        return r.code === 0 ? 0 : 1;
      }
      if (r.code !== 0) return 1;
      const servers = stackStatus(L, await stackOutputs(L)).filter((h) => h.kind === "server");
      log(alignColumns(servers.map((e) => [e.name, e.role, "private", e.privateIp ?? "-", "public", e.publicIp ?? "-", e.status])));
      log(`lab stack ${stack}: up. npm run lab -- status | exec HOST -- CMD | down (see --help)\n`);
      return 0;
    }
    case "status": {
      preflight();
      const L = layout(stack);
      const entries = stackStatus(L, await stackOutputs(L).catch(() => ({})));
      if (json) process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      else {
        const state = (e: (typeof entries)[number]) =>
          `${e.kind === "server" ? `${e.status} sshd ${e.sshdPid ?? "down"}` : ""}${e.running ? "" : " (not running)"}`.trim();
        process.stdout.write(alignColumns(entries.map((e) => [e.name, e.role, e.netns, "private", e.privateIp ?? "-", "public", e.publicIp ?? "-", state(e)])));
      }
      return 0;
    }
    case "exec": {
      preflight();
      const [host, ...cmd] = a.rest;
      if (!host) throw new LabError("usage: lab exec HOST -- CMD...");
      const argv = labExecArgv(layout(stack), host, cmd.length ? cmd : ["bash", "-l"]);
      const r = spawnSync(argv[0], argv.slice(1), { stdio: "inherit" });
      return r.status ?? 1;
    }
    case "outputs": {
      const L = layout(stack);
      const out = await stackOutputs(L, a.flags["--show-secrets"] === true);
      if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      else for (const [k, v] of Object.entries(out)) process.stdout.write(`${k}: ${JSON.stringify(v, null, 2)}\n`);
      return 0;
    }
    case "reboot": {
      preflight();
      const [host] = a.rest;
      if (!host) throw new LabError("usage: lab reboot HOST");
      rebootServer(layout(stack), host);
      process.stdout.write(`rebooted ${host} (Nova reports it ACTIVE again)\n`);
      return 0;
    }
    case "audit": {
      preflight();
      const L = layout(stack);
      try {
        return await auditStack(L, { repair: a.flags["--repair"] === true, json, write: (t) => process.stdout.write(t) });
      } catch (e) {
        // 1 means drift; a failed audit or repair is another answer.
        process.stderr.write(`lab: audit: ${(e as Error).message}\n`);
        return 2;
      }
    }
    case "recover": {
      preflight();
      const r = await recoverStack(layout(stack), { dryRun: a.flags["--dry-run"] === true });
      process.stdout.write(r.printed);
      return r.code;
    }
    case "cloud": {
      const [sub] = a.rest;
      if (sub !== "up" && sub !== "down" && sub !== "status") throw new LabError("usage: lab cloud up|down|status [--wipe]");
      return cloud(sub, { wipe: a.flags["--wipe"] === true });
    }
    case "preview":
    case "refresh":
    case "pulumi": {
      preflight();
      const L = layout(stack);
      const log = (l: string) => (json ? process.stderr : process.stdout).write(l);
      const env = await prepareRealStack(L, stackFilePath(stack, str(a.flags["--config-file"])), log);
      const args = a.cmd === "preview" ? ["preview", ...(json ? ["--json"] : []), ...a.rest] : a.cmd === "refresh" ? ["refresh", "--yes", ...a.rest] : a.rest;
      if (args.length === 0) throw new LabError("usage: lab pulumi [--stack NAME] -- ARGS...");
      const jsonOut = json && a.cmd === "preview";
      const r = await runPulumi(L, env, args, jsonOut ? () => undefined : log);
      if (jsonOut) {
        process.stderr.write(r.stderr);
        process.stdout.write(r.stdout);
      }
      return r.code;
    }
    case "down":
    case "destroy": {
      preflight();
      const L = layout(stack);
      const r = await realDown(L, (l) => process.stdout.write(l));
      if (!r.existed) {
        process.stdout.write(`lab stack ${stack}: does not exist (no ${L.dir}, no cloud objects in project lab-${stack}); nothing to destroy\n`);
        return 0;
      }
      process.stdout.write(
        `lab stack ${stack}: ${r.destroyed ? "destroyed" : "no state to destroy"}; ${r.purged} cloud objects purged after it; removed its laptops and ${L.dir}\n`,
      );
      return 0;
    }
    default:
      process.stdout.write(usage());
      return a.cmd === "help" || a.cmd === "--help" ? 0 : 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => exitAfterFlush(code),
    (e: unknown) => {
      process.stderr.write(`lab: ${e instanceof Error ? e.message : String(e)}\n`);
      exitAfterFlush(1);
    },
  );
}
