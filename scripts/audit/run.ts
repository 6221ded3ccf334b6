/**
 * The drift audit itself, for any stack whose record is at hand: one audit.sh run per host over SSH with the
 * stack's pinned host keys, and with `repair`, the stack's own steps again for what drifted, then a second audit.
 * scripts/audit.ts runs it on a real stack; `npm run lab -- audit` on a lab stack.
 */
import { decodeBundle, encodeBundle, scriptInvocation } from "../../components/remote/bundle";
import { runRemote, SshConnection } from "../ssh/openssh";
import { CheckResult, HostAudit, planAudit, parseAudit, RecordedCommand, StateResource } from "./checks";

export interface AuditOptions {
  /** Wraps the ssh argv (the lab runs it in its operator's network namespace). */
  wrap?: (argv: string[]) => string[];
  /** A 0700 directory for the connections' key files (each removed after its connection). */
  tmpRoot: string;
  repair: boolean;
  json: boolean;
  /** How to call the tool again to repair, for the hint after a drift. */
  repairHint: string;
  write: (text: string) => void;
}

async function ssh(o: AuditOptions, connection: Record<string, unknown>, command: string, stdin: string, where: string) {
  return runRemote({ wrap: o.wrap, tmpRoot: o.tmpRoot, connection: connection as unknown as SshConnection, command, stdin, where, timeoutMs: 300_000 });
}

async function auditHost(o: AuditOptions, a: HostAudit): Promise<CheckResult[]> {
  const audit = scriptInvocation("audit", a.files);
  const r = await ssh(o, a.connection, audit.command, audit.stdin, `audit of ${a.host}`);
  if (r.code !== 0)
    return a.checks.map((check) => ({ check, inSync: false, detail: `the audit could not run (exit ${r.code}): ${r.stderr.trim().slice(-300)}` }));
  return parseAudit(a.checks, r.stdout);
}

/** Re-runs a recorded step exactly as `pulumi up` ran it; returns its stdout or throws with its stderr. */
async function rerun(o: AuditOptions, c: RecordedCommand, stdin = c.stdin): Promise<string> {
  const r = await ssh(o, c.connection, c.create, stdin, `repair: ${c.name}`);
  if (r.code !== 0) throw new Error(`${c.name} failed (exit ${r.code}): ${r.stderr.trim().slice(-500)}`);
  return r.stdout;
}

async function repair(o: AuditOptions, a: HostAudit, drifted: string[]): Promise<string[]> {
  const done: string[] = [];
  if (drifted.includes("firewall") && a.repairs.firewall) {
    const { apply, confirm } = a.repairs.firewall;
    // apply arms a revert; confirm, over a new connection, proves the rules still let us in (as in `up`).
    const armId = (await rerun(o, apply)).trim().split("\n").pop()!;
    const bundle = { ...decodeBundle(confirm.stdin), arm_id: armId };
    await rerun(o, confirm, encodeBundle(bundle));
    done.push("firewall");
  }
  if (drifted.includes("vpn") && a.repairs.vpn) {
    await rerun(o, a.repairs.vpn);
    done.push("vpn");
  }
  if (drifted.includes("sshd") && a.files.sshd_config !== undefined) {
    const fix = scriptInvocation("sshd-repair", { sshd_config: a.files.sshd_config });
    await rerun(o, { name: `${a.host}-sshd-repair`, connection: a.connection, create: fix.command, stdin: fix.stdin });
    done.push("sshd");
  }
  if (drifted.includes("deploy") && a.repairs.deploy) {
    await rerun(o, a.repairs.deploy);
    done.push("deploy");
  }
  return done;
}

/** Audits (and with `repair`, repairs) every host of the stack; resolves with the exit code: 0 all in sync, 1 drift. */
export async function auditFleet(resources: StateResource[], o: AuditOptions): Promise<number> {
  const plan = planAudit(resources);
  if (plan.length === 0) throw new Error("the state has no servers (no <host>-ready commands)");
  let results = await Promise.all(plan.map(async (a) => ({ host: a.host, results: await auditHost(o, a) })));
  const repaired: Record<string, string[]> = {};
  if (o.repair) {
    for (const a of plan) {
      const drifted = results
        .find((r) => r.host === a.host)!
        .results.filter((c) => !c.inSync)
        .map((c) => c.check);
      if (drifted.length === 0) continue;
      if (!o.json) o.write(`repairing ${a.host}: ${drifted.join(", ")}\n`);
      repaired[a.host] = await repair(o, a, drifted);
    }
    results = await Promise.all(plan.map(async (a) => ({ host: a.host, results: await auditHost(o, a) })));
  }
  const drifted = results.flatMap((h) => h.results.filter((c) => !c.inSync).map((c) => ({ host: h.host, ...c })));
  if (o.json) {
    o.write(`${JSON.stringify({ inSync: drifted.length === 0, hosts: results, repaired }, null, 2)}\n`);
  } else {
    const width = Math.max(...results.map((h) => h.host.length));
    for (const h of results) {
      for (const c of h.results)
        o.write(`${h.host.padEnd(width)}  ${c.check.padEnd(8)}  ${c.inSync ? "in sync" : "DRIFTED"}${c.detail ? `  ${c.detail}` : ""}\n`);
    }
    const checks = results.reduce((n, h) => n + h.results.length, 0);
    const hosts = [...new Set(drifted.map((d) => d.host))];
    o.write(
      drifted.length === 0
        ? `\nAll ${checks} checks on ${results.length} hosts in sync.\n`
        : `\n${drifted.length} of ${checks} checks drifted on ${hosts.length} host(s): ${hosts.join(", ")}${o.repair ? "" : ` (${o.repairHint} re-applies them)`}\n`,
    );
  }
  return drifted.length === 0 ? 0 : 1;
}
