/**
 * Deploy hosts for the lab suite and the benchmark: each is a network namespace
 * (own loopback, so every host serves the app on the same port) plus a private
 * mount namespace per script run, with temp dirs bind-mounted over /srv, /var/log
 * and /run. The machine's real /srv is never touched. Scripts run exactly as
 * scriptCommand runs them: the constant loader command, the bundle on stdin.
 */
import { spawn } from "child_process";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from "fs";
import * as os from "os";
import * as path from "path";
import { BundleFiles, encodeBundle, loader, remoteScript, ScriptOp } from "../../components/remote/bundle";
import { planBatches } from "../../components/deploy/batches";
import { inNs, run, tempNetns, delNetns } from "../../lab/sh";

export interface DeployHost {
  name: string;
  ns: string;
  /** Host-side dir holding srv/, log/, run/ (what the host sees as /srv, /var/log, /run). */
  dir: string;
}

export interface ScriptResult {
  host: string;
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

// Constant script; the paths and the loader command arrive as arguments, never spliced.
const ENTER = ["set -e", 'mount --bind "$1" /srv', 'mount --bind "$2" /var/log', 'mount --bind "$3" /run', 'hostname "$4"', 'exec bash -c "$5"'].join("; ");

export function createHosts(tag: string, count: number): DeployHost[] {
  const hosts: DeployHost[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${tag}${i + 1}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), `fl-deploy-${name}-`));
    for (const d of ["srv", "log", "run"]) mkdirSync(path.join(dir, d));
    hosts.push({ name, ns: tempNetns(name), dir });
  }
  return hosts;
}

/** Stops every app the hosts started (by pidfile) and removes namespaces and dirs. */
export function destroyHosts(hosts: DeployHost[]): void {
  for (const h of hosts) {
    for (const pid of appPids(h)) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    delNetns(h.ns);
    rmSync(h.dir, { recursive: true, force: true });
  }
}

function appPids(h: DeployHost): number[] {
  const runDir = path.join(h.dir, "run");
  const pids: number[] = [];
  for (const app of safeReaddir(runDir)) {
    const pidfile = path.join(runDir, app, `${app}.pid`);
    try {
      const pid = Number(readFileSync(pidfile, "utf8").trim());
      if (pid > 0) pids.push(pid);
    } catch {
      /* no pidfile */
    }
  }
  return pids;
}

function safeReaddir(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

/** The bundle scriptCommand would send: the data files plus main.sh and lib.sh. */
export function fullBundle(script: string, files: BundleFiles): string {
  return encodeBundle({ ...files, "main.sh": remoteScript(script), "lib.sh": remoteScript("lib") });
}

export function runScript(host: DeployHost, script: string, files: BundleFiles, op: ScriptOp = "create"): Promise<ScriptResult> {
  const argv = inNs(host.ns, [
    "unshare",
    "-m",
    "-u",
    "--propagation",
    "private",
    "sh",
    "-c",
    ENTER,
    "fleet-enter",
    path.join(host.dir, "srv"),
    path.join(host.dir, "log"),
    path.join(host.dir, "run"),
    host.name,
    loader(op),
  ]);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ host: host.name, code: code ?? -1, stdout, stderr, ms: Date.now() - started }));
    child.stdin.end(fullBundle(script, files));
  });
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

/** GET inside the host's namespace. */
export function httpGet(host: DeployHost, port: number, urlPath: string): { code: number; body: string } {
  const r = run(inNs(host.ns, ["curl", "-s", "--max-time", "3", "-w", "\n%{http_code}", `http://127.0.0.1:${port}${urlPath}`]));
  const nl = r.stdout.lastIndexOf("\n");
  return { code: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, Math.max(nl, 0)).trim() };
}

/** Path on the test machine of a path the host sees under /srv, /var/log or /run. */
export function hostPath(host: DeployHost, p: string): string {
  for (const [inside, outside] of [
    ["/srv/", "srv"],
    ["/var/log/", "log"],
    ["/run/", "run"],
  ] as const) {
    if (p.startsWith(inside)) return path.join(host.dir, outside, p.slice(inside.length));
  }
  throw new Error(`${p} is not under a per-host dir`);
}
