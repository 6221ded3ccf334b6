/**
 * npm run audit -- [--stack NAME] [--state FILE|-] [--repair] [--json]
 *
 * Connects to every host of a stack with its pinned host keys and compares what each host really runs with what
 * the stack last applied: firewall rules and sets (as the kernel reports them), the gateway's OpenVPN config and
 * allow-list, the sshd configuration, and the deployed release and its health. One line per host and check,
 * `in-sync` or `drifted` with the reason; exits 1 when anything drifted.
 *
 *   --stack NAME   a lab stack (default $FLEET_LAB_STACK or `dev`), read from the lab's state
 *   --state FILE   a real stack: the output of `pulumi stack export --show-secrets` (`-` reads stdin);
 *                  hosts are reached from this machine, private ones through the gateway, as `pulumi up` does
 *   --repair       re-run the stack's own steps for what drifted (firewall apply + confirm from a new connection,
 *                  VPN configure, deploy activate; for sshd, the drop-in from the instance's user data, checked
 *                  with sshd -t, then a reload that keeps open sessions), then audit again
 *   --json         one JSON document instead of lines
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "fs";
import * as os from "os";
import * as path from "path";
import { decodeBundle, encodeBundle, loader, remoteScript } from "../components/remote/bundle";
import { loadState } from "../lab/emulator/state";
import { runRemote, SshConnection } from "../lab/emulator/ssh";
import { layout } from "../lab/layout";
import { CheckResult, fromStackExport, HostAudit, planAudit, parseAudit, RecordedCommand, StateResource } from "./audit/checks";
import { exitAfterFlush, printHelp } from "./cli-support";

interface Target {
  resources: StateResource[];
  fromNs?: string;
  tmpRoot: string;
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function target(argv: string[]): Target {
  const state = arg(argv, "--state");
  if (state !== undefined) {
    const text = state === "-" ? readFileSync(0, "utf8") : readFileSync(state, "utf8");
    return { resources: fromStackExport(JSON.parse(text)), tmpRoot: mkdtempSync(path.join(os.tmpdir(), "fleet-audit-")) };
  }
  const L = layout(arg(argv, "--stack") ?? process.env.FLEET_LAB_STACK ?? "dev");
  const resources = Object.values(loadState(L.stateFile, L.stack).resources).map((r) => ({ type: r.type, name: r.name, inputs: r.inputs }));
  if (resources.length === 0) throw new Error(`lab stack ${L.stack} has no state: run npm run lab -- up first`);
  const tmpRoot = path.join(L.dir, "tmp");
  mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  return { resources, fromNs: L.operatorNs, tmpRoot };
}

async function ssh(t: Target, connection: Record<string, unknown>, command: string, stdin: string, where: string) {
  return runRemote({ fromNs: t.fromNs, tmpRoot: t.tmpRoot, connection: connection as unknown as SshConnection, command, stdin, where, timeoutMs: 300_000 });
}

async function auditHost(t: Target, a: HostAudit): Promise<CheckResult[]> {
  const files = { ...a.files, "main.sh": remoteScript("audit"), "lib.sh": remoteScript("lib") };
  const r = await ssh(t, a.connection, loader("create"), encodeBundle(files), `audit of ${a.host}`);
  if (r.code !== 0)
    return a.checks.map((check) => ({ check, inSync: false, detail: `the audit could not run (exit ${r.code}): ${r.stderr.trim().slice(-300)}` }));
  return parseAudit(a.checks, r.stdout);
}

/** Re-runs a recorded step exactly as `pulumi up` ran it; returns its stdout or throws with its stderr. */
async function rerun(t: Target, c: RecordedCommand, stdin = c.stdin): Promise<string> {
  const r = await ssh(t, c.connection, c.create, stdin, `repair: ${c.name}`);
  if (r.code !== 0) throw new Error(`${c.name} failed (exit ${r.code}): ${r.stderr.trim().slice(-500)}`);
  return r.stdout;
}

async function repair(t: Target, a: HostAudit, drifted: string[]): Promise<string[]> {
  const done: string[] = [];
  if (drifted.includes("firewall") && a.repairs.firewall) {
    const { apply, confirm } = a.repairs.firewall;
    // apply arms a revert; confirm, over a new connection, proves the rules still let us in (as in `up`).
    const armId = (await rerun(t, apply)).trim().split("\n").pop()!;
    const bundle = { ...decodeBundle(confirm.stdin), arm_id: armId };
    await rerun(t, confirm, encodeBundle(bundle));
    done.push("firewall");
  }
  if (drifted.includes("vpn") && a.repairs.vpn) {
    await rerun(t, a.repairs.vpn);
    done.push("vpn");
  }
  if (drifted.includes("sshd") && a.files.sshd_config !== undefined) {
    const files = { sshd_config: a.files.sshd_config, "main.sh": remoteScript("sshd-repair"), "lib.sh": remoteScript("lib") };
    await rerun(t, { name: `${a.host}-sshd-repair`, connection: a.connection, create: loader("create"), stdin: encodeBundle(files) });
    done.push("sshd");
  }
  if (drifted.includes("deploy") && a.repairs.deploy) {
    await rerun(t, a.repairs.deploy);
    done.push("deploy");
  }
  return done;
}

async function main(argv: string[]): Promise<number> {
  if (printHelp(argv, __filename)) return 0;
  const json = argv.includes("--json");
  const t = target(argv);
  const plan = planAudit(t.resources);
  if (plan.length === 0) throw new Error("the state has no servers (no <host>-ready commands)");
  let results = await Promise.all(plan.map(async (a) => ({ host: a.host, results: await auditHost(t, a) })));
  const repaired: Record<string, string[]> = {};
  if (argv.includes("--repair")) {
    for (const a of plan) {
      const drifted = results
        .find((r) => r.host === a.host)!
        .results.filter((c) => !c.inSync)
        .map((c) => c.check);
      if (drifted.length === 0) continue;
      if (!json) process.stdout.write(`repairing ${a.host}: ${drifted.join(", ")}\n`);
      repaired[a.host] = await repair(t, a, drifted);
    }
    results = await Promise.all(plan.map(async (a) => ({ host: a.host, results: await auditHost(t, a) })));
  }
  const drifted = results.flatMap((h) => h.results.filter((c) => !c.inSync).map((c) => ({ host: h.host, ...c })));
  if (json) {
    process.stdout.write(`${JSON.stringify({ inSync: drifted.length === 0, hosts: results, repaired }, null, 2)}\n`);
  } else {
    const width = Math.max(...results.map((h) => h.host.length));
    for (const h of results) {
      for (const c of h.results)
        process.stdout.write(`${h.host.padEnd(width)}  ${c.check.padEnd(8)}  ${c.inSync ? "in sync" : "DRIFTED"}${c.detail ? `  ${c.detail}` : ""}\n`);
    }
    const checks = results.reduce((n, h) => n + h.results.length, 0);
    process.stdout.write(
      drifted.length === 0
        ? `\nAll ${checks} checks on ${results.length} hosts in sync.\n`
        : `\n${drifted.length} of ${checks} checks drifted on ${new Set(drifted.map((d) => d.host)).size} host(s): ${[...new Set(drifted.map((d) => d.host))].join(", ")}` +
            `${argv.includes("--repair") ? "" : " (npm run audit -- --repair re-applies them)"}\n`,
    );
  }
  if (t.fromNs === undefined) rmSync(t.tmpRoot, { recursive: true, force: true });
  return drifted.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(exitAfterFlush, (e: Error) => {
  process.stderr.write(`audit: ${e.message}\n`);
  exitAfterFlush(2);
});
