/**
 * npm run lab -- <command>
 *
 *   up      [--stack NAME] [--config-file FILE] [--program FILE] [--json] [--show-outputs]
 *           streams each change, then a short summary; --show-outputs prints every output (the matrix too)
 *   status  [--stack NAME] [--json]
 *   exec    [--stack NAME] HOST -- CMD...      HOST: a server, `operator`, `eng1` or `eng2`
 *   outputs [--stack NAME] [--json] [--show-secrets]
 *   reboot  [--stack NAME] HOST                 processes and kernel state gone, disk kept; bootcmd + sshd again
 *   audit   [--stack NAME] [--repair] [--json]  npm run audit on the lab stack: every host against what up applied
 *   down    [--stack NAME]
 *   cloud   up|down|status [--wipe]             the lab's OpenStack (one per machine, namespace fl-os)
 *   preview [--stack NAME] [--config-file FILE] [--json] [-- PULUMI-ARGS...]
 *           the real `pulumi preview` of the stack against the lab's OpenStack
 *   pulumi  [--stack NAME] [--config-file FILE] -- ARGS...
 *           the real `pulumi ARGS` for the stack (up, refresh, destroy, stack output...), in the cloud's namespace
 *
 * The stack defaults to $FLEET_LAB_STACK or `dev`; its config is Pulumi.<stack>.yaml
 * unless --config-file (or $FLEET_LAB_CONFIG) names another file.
 */
import { spawnSync } from "child_process";
import { existsSync, mkdirSync, readFileSync } from "fs";
import * as path from "path";
import { displayOutputs, formatUp, LabError, preflight, up } from "./engine";
import { Json, loadState } from "./emulator/state";
import { hostArgv, hostAlive, loadFabric, sshdPid, stackLinks, stackNamespaces, teardown } from "./hosts";
import { LAPTOP_IPS, LAPTOPS, layout, OPERATOR_IP, StackLayout } from "./layout";
import { reboot } from "./reboot";
import { inNs } from "./sh";
import { cloud } from "./openstack";
import { prepareRealStack, runPulumi } from "./pulumi-cli";
import { stackFilePath } from "./stackfile";
import { auditFleet } from "../scripts/audit/run";
import { exitAfterFlush, usageOf, wantsHelp } from "../scripts/cli-support";

export interface StatusEntry {
  name: string;
  kind: "server" | "operator" | "laptop";
  role: string;
  netns: string;
  privateIp: string | null;
  publicIp: string | null;
  sshdPid: number | null;
  running: boolean;
}

function configOrder(L: StackLayout): string[] {
  if (!existsSync(L.outputsFile)) return [];
  const servers = (JSON.parse(readFileSync(L.outputsFile, "utf8")) as { servers?: Json }).servers;
  return servers && typeof servers === "object" && !Array.isArray(servers) ? Object.keys(servers) : [];
}

export function status(L: StackLayout): StatusEntry[] {
  const fabric = loadFabric(L);
  const present = new Set(stackNamespaces(L));
  // Config order (the `servers` output lists servers as the config does), then creation order.
  const order = configOrder(L);
  const rank = (name: string) => (order.includes(name) ? order.indexOf(name) : order.length);
  const servers: StatusEntry[] = Object.values(fabric.hosts)
    .sort((a, b) => rank(a.name) - rank(b.name) || a.index - b.index)
    .map((h) => ({
      name: h.name,
      kind: "server",
      role: h.role,
      netns: h.netns,
      privateIp: h.privateCidrs[0]?.split("/")[0] ?? null,
      publicIp: h.publicIp ?? null,
      sshdPid: sshdPid(h),
      running: hostAlive(h),
    }));
  const outside: StatusEntry[] = [
    {
      name: "operator",
      kind: "operator",
      role: "operator",
      netns: L.operatorNs,
      privateIp: null,
      publicIp: OPERATOR_IP,
      sshdPid: null,
      running: present.has(L.operatorNs),
    },
    ...LAPTOPS.map((l): StatusEntry => ({
      name: l,
      kind: "laptop",
      role: "engineer laptop",
      netns: L.laptopNs(l),
      privateIp: null,
      publicIp: LAPTOP_IPS[l],
      sshdPid: null,
      running: present.has(L.laptopNs(l)),
    })),
  ];
  return present.size === 0 && servers.length === 0 ? [] : [...servers, ...outside];
}

/** argv that runs CMD inside a lab host or one of the lab's outside namespaces. */
export function labExecArgv(L: StackLayout, host: string, cmd: string[]): string[] {
  if (host === "operator" || host === "op") return inNs(L.operatorNs, cmd);
  if ((LAPTOPS as readonly string[]).includes(host)) return inNs(L.laptopNs(host), cmd);
  const rec = loadFabric(L).hosts[host];
  if (!rec) throw new LabError(`no lab host ${JSON.stringify(host)} in stack ${L.stack} (see: npm run lab -- status)`);
  if (!hostAlive(rec)) throw new LabError(`lab host ${host} is not running; run up again, or down`);
  return hostArgv(rec, cmd);
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
  const withValue = new Set(["--stack", "--config-file", "--program"]);
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
      const log = (l: string) => (json ? process.stderr : process.stdout).write(l);
      let r: Awaited<ReturnType<typeof up>>;
      try {
        r = await up({ stack, configFile: str(a.flags["--config-file"]), program: str(a.flags["--program"]), log });
      } catch (e) {
        // A script reading --json gets a summary even when up stops before it starts (a bad config).
        if (json && e instanceof LabError)
          process.stdout.write(`${JSON.stringify({ ok: false, error: e.message, steps: [], remoteRuns: 0, durationMs: 0 })}\n`);
        throw e;
      }
      log(`${formatUp(r, stack, { showOutputs: a.flags["--show-outputs"] === true })}\n`);
      if (json) {
        process.stdout.write(
          `${JSON.stringify({ ok: r.ok, error: r.error, steps: r.steps, remoteRuns: r.remoteRuns, durationMs: r.durationMs, outputs: displayOutputs(r.outputs, false) })}\n`,
        );
      }
      return r.ok ? 0 : 1;
    }
    case "status": {
      preflight();
      const entries = status(layout(stack));
      if (json) process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      else if (entries.length === 0) process.stdout.write(`lab stack ${stack} is not running\n`);
      else {
        for (const e of entries) {
          process.stdout.write(
            `${e.name.padEnd(12)} ${e.role.padEnd(16)} ${e.netns.padEnd(22)} private ${(e.privateIp ?? "-").padEnd(15)} public ${(e.publicIp ?? "-").padEnd(15)} ${e.kind === "server" ? `sshd ${e.sshdPid ?? "down"}` : ""}${e.running ? "" : " (not running)"}\n`,
          );
        }
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
      if (!existsSync(L.outputsFile)) throw new LabError(`no outputs for stack ${stack}: run npm run lab -- up --stack ${stack} first`);
      const outputs = displayOutputs(JSON.parse(readFileSync(L.outputsFile, "utf8")) as Json, a.flags["--show-secrets"] === true);
      if (json) process.stdout.write(`${JSON.stringify(outputs, null, 2)}\n`);
      else for (const [k, v] of Object.entries(outputs as Record<string, Json>)) process.stdout.write(`${k}: ${JSON.stringify(v, null, 2)}\n`);
      return 0;
    }
    case "reboot": {
      preflight();
      const [host] = a.rest;
      if (!host) throw new LabError("usage: lab reboot HOST");
      const r = await reboot(layout(stack), host);
      process.stdout.write(`rebooted ${host}${r.errors.length ? `; bootcmd reported: ${r.errors.join("; ")}` : ""}\n`);
      return r.errors.length ? 1 : 0;
    }
    case "audit": {
      preflight();
      const L = layout(stack);
      const resources = Object.values(loadState(L.stateFile, L.stack).resources).map((r) => ({ type: r.type, name: r.name, inputs: r.inputs }));
      if (resources.length === 0) throw new LabError(`lab stack ${stack} has no state: run npm run lab -- up first`);
      const tmpRoot = path.join(L.dir, "tmp");
      mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
      try {
        return await auditFleet(resources, {
          wrap: (cmd) => inNs(L.operatorNs, cmd),
          tmpRoot,
          repair: a.flags["--repair"] === true,
          json,
          repairHint: "npm run lab -- audit --repair",
          write: (t) => process.stdout.write(t),
        });
      } catch (e) {
        // 1 means drift; a failed audit or repair is another answer.
        process.stderr.write(`lab: audit: ${(e as Error).message}\n`);
        return 2;
      }
    }
    case "cloud": {
      const [sub] = a.rest;
      if (sub !== "up" && sub !== "down" && sub !== "status") throw new LabError("usage: lab cloud up|down|status [--wipe]");
      return cloud(sub, { wipe: a.flags["--wipe"] === true });
    }
    case "preview":
    case "pulumi": {
      preflight();
      const L = layout(stack);
      const log = (l: string) => (json ? process.stderr : process.stdout).write(l);
      const env = await prepareRealStack(L, stackFilePath(stack, str(a.flags["--config-file"])), log);
      const args = a.cmd === "preview" ? ["preview", ...(json ? ["--json"] : []), ...a.rest] : a.rest;
      if (args.length === 0) throw new LabError("usage: lab pulumi [--stack NAME] -- ARGS...");
      const jsonOut = json && a.cmd === "preview";
      const r = await runPulumi(L, env, args, jsonOut ? () => undefined : log);
      if (jsonOut) {
        process.stderr.write(r.stderr);
        process.stdout.write(r.stdout);
      }
      return r.code;
    }
    case "down": {
      preflight();
      const L = layout(stack);
      const gone = teardown(L);
      const left = [...stackNamespaces(L), ...stackLinks(L)];
      process.stdout.write(`lab stack ${stack}: removed ${gone.namespaces.length} namespaces, ${gone.links.length} links and ${L.dir}\n`);
      if (left.length) throw new LabError(`could not remove: ${left.join(", ")}`);
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
