/**
 * Deploy hosts for the lab suite and the benchmark: lab hosts (systemd as PID 1, their own disk, /etc and /run;
 * test/lab/support/host-net.ts) on one switch, so every host serves the app as its systemd unit on the same port.
 * Scripts run exactly as scriptCommand runs them: the constant loader command, the bundle on stdin.
 * The source repository is copied into each host (the hosts have no route to this machine), at REPO_IN_HOST.
 */
import { cpSync, rmSync } from "fs";
import * as path from "path";
import { BundleFiles, ScriptOp } from "../../../components/remote/bundle";
import { planBatches } from "../../../components/deploy/batches";
import { HostNet, NetHost } from "../support/host-net";

export interface DeployHost extends NetHost {
  net: HostNet;
}

export interface ScriptResult {
  host: string;
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Where a host finds the test's git repository (`file://` + this). */
export const REPO_IN_HOST = "/var/lib/lab-src/repo";

export async function createHosts(tag: string, count: number): Promise<DeployHost[]> {
  const net = new HostNet(tag);
  try {
    const booted = await Promise.all(Array.from({ length: count }, (_, i) => net.host(`${tag}${i + 1}`, [{ bridge: "br0", cidr: `10.77.0.${10 + i}/24` }])));
    return booted.map((h) => Object.assign(h, { net }));
  } catch (e) {
    await net.destroy();
    throw e;
  }
}

export async function destroyHosts(hosts: DeployHost[]): Promise<void> {
  if (hosts.length > 0) await hosts[0].net.destroy();
}

/** Copies the repository (or a file) into every host at `inside`, replacing what was there. */
export function copyIntoHosts(hosts: DeployHost[], from: string, inside = REPO_IN_HOST): void {
  for (const h of hosts) {
    const to = path.join(h.root, inside);
    rmSync(to, { recursive: true, force: true });
    cpSync(from, to, { recursive: true, preserveTimestamps: true });
  }
}

export async function runScript(host: DeployHost, script: string, files: BundleFiles, op: ScriptOp = "create"): Promise<ScriptResult> {
  const started = Date.now();
  const r = await host.net.runScriptAsync(host, script, files, op);
  return { host: host.name, ...r, ms: Date.now() - started };
}

export class RolloutError extends Error {
  constructor(public readonly failed: ScriptResult[]) {
    super(failed.map((r) => `${r.host}: exit ${r.code}\n${r.stderr}`).join("\n"));
  }
}

/**
 * What the Pulumi engine does with AppDeploy's graph: every prepare in parallel, then
 * batch after batch, hosts of one batch in parallel; the first failed batch stops it.
 */
export async function rollout(
  hosts: DeployHost[],
  batchSize: number,
  prepare: BundleFiles,
  activate: BundleFiles,
): Promise<{ prepares: ScriptResult[]; activates: ScriptResult[][] }> {
  const prepares = await Promise.all(hosts.map((h) => runScript(h, "deploy-prepare", prepare)));
  const badPrep = prepares.filter((r) => r.code !== 0);
  if (badPrep.length > 0) throw new RolloutError(badPrep);
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const activates: ScriptResult[][] = [];
  for (const batch of planBatches(
    hosts.map((h) => h.name),
    batchSize,
  )) {
    const results = await Promise.all(batch.map((n) => runScript(byName.get(n)!, "deploy-activate", activate)));
    activates.push(results);
    const bad = results.filter((r) => r.code !== 0);
    if (bad.length > 0) throw new RolloutError(bad);
  }
  return { prepares, activates };
}

/** GET on the host's own loopback, from inside it. */
export function httpGet(host: DeployHost, port: number, urlPath: string): { code: number; body: string } {
  const r = host.net.exec(host, ["curl", "-s", "--max-time", "3", "-w", "\n%{http_code}", `http://127.0.0.1:${port}${urlPath}`]);
  const nl = r.stdout.lastIndexOf("\n");
  return { code: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, Math.max(nl, 0)).trim() };
}

/** Path on the test machine of a file on the host's disk (not /run, which is the host's own tmpfs). */
export function hostPath(host: DeployHost, p: string): string {
  if (!p.startsWith("/") || p.startsWith("/run/")) throw new Error(`${p} is not on the host's disk`);
  return path.join(host.root, p);
}

/** The app's main process inside the host (systemd's MainPID of <app>.service), or "" when it does not run. */
export function appPid(host: DeployHost, app: string): string {
  const pid = host.net.exec(host, ["systemctl", "show", "-p", "MainPID", "--value", `${app}.service`]).stdout.trim();
  return pid === "0" ? "" : pid;
}

/** A process's environment or argv inside the host, NUL-separated fields split. */
export function procFile(host: DeployHost, pid: string, file: "environ" | "cmdline"): string[] {
  const r = host.net.exec(host, ["cat", `/proc/${pid}/${file}`]);
  if (r.code !== 0) throw new Error(`no /proc/${pid}/${file} on ${host.name}: ${r.stderr}`);
  return r.stdout.split("\0");
}

/**
 * Another run holding `lock` inside the host as fleet_lock takes it (components/remote/lib.sh): flock on the file,
 * then its owner line `pid=… host=… <owner>`. Returns the holder's pid there once it holds the lock.
 */
export function lockHolderIn(host: DeployHost, lock: string, owner: string): number {
  const hold = 'exec 9>"$1"; flock 9; printf "pid=%s host=%s %s\\n" "$$" "$(hostname)" "$2" >"$1.owner.tmp"; mv "$1.owner.tmp" "$1.owner"; exec sleep 60';
  const r = host.net.exec(host, [
    "bash",
    "-c",
    // Started detached; answers once the owner file is in place, which the holder writes only after flock returned.
    'rm -f -- "$1.owner"; bash -c "$0" _ "$1" "$2" </dev/null >/dev/null 2>&1 & p=$!; until [ -s "$1.owner" ]; do kill -0 "$p" || exit 1; sleep 0.05; done; echo "$p"',
    hold,
    lock,
    owner,
  ]);
  if (r.code !== 0) throw new Error(`could not hold ${lock} on ${host.name}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** Whether a run could take `lock` inside the host now (nobody holds it). */
export function lockFreeIn(host: DeployHost, lock: string): boolean {
  return host.net.exec(host, ["flock", "-n", lock, "true"]).code === 0;
}
