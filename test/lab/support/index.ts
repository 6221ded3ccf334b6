/**
 * The lab, for test suites: bring a stack up through the real program, look
 * inside its hosts, connect over SSH as the engine does, tear it down.
 *
 *   import { describeLab } from "../guard";
 *   import { lab, fromStackFile, unsecret } from "./support";
 *
 *   describeLab("firewall through the program", () => {
 *     const fw = lab("fw");                       // own stack name per suite: [a-z0-9]{1,12}
 *     let up: LabUp;
 *     beforeAll(async () => {
 *       fw.down();                                // leftovers of an aborted run
 *       up = await fw.up(fromStackFile("Pulumi.dev.yaml", { "fleet:servers": [...] }));
 *     });
 *     afterAll(() => fw.down());
 *     it("web cannot reach db", async () => {
 *       const r = await fw.exec("web-1", ["nc", "-z", "-w", "2", up.host("db-1").privateIp!, "5432"]);
 *       expect(r.code).not.toBe(0);
 *     });
 *   });
 *
 * - `up(source)` runs `npm run lab -- up` in a child process (the SDK's runtime is
 *   global state, so every up gets a fresh process, as with `pulumi up`). `source`
 *   is a stack file path or a config object (`{"fleet:servers": [...], ...}`).
 *   It resolves with the stack outputs (secrets unwrapped), the hosts (`status`),
 *   the steps and `remoteRuns` (remote commands run by this up). It rejects with
 *   the engine's error (the failing resource and its stdout/stderr) if up fails.
 *   `up(source, { expectFailure: true })` resolves with `ok: false` instead.
 *   After every successful up, `npm run lab -- audit` must find every host in sync, or the up rejects.
 * - `exec(host, argv, input?)` runs argv as root inside a host (its network, mount
 *   and UTS namespaces), or inside `operator`, `eng1`, `eng2`. Never throws on a
 *   non-zero exit: check `code`.
 * - `ssh(target, command, opts)` runs a command over SSH exactly like the engine's
 *   command:remote:Command (OpenSSH client, pinned host key, optional jump host),
 *   from the operator namespace or `opts.from` (`eng1`...). ssh2 is not used: it
 *   would run in the test's own (root) namespace, which has no lab address.
 * - `reboot(server)` power-cycles a server: processes, addresses, routes, iptables,
 *   ipsets, sysctls, /run and /tmp are gone, the disk stays; cloud-init's bootcmd and
 *   sshd run again (`npm run lab -- reboot HOST` does the same).
 * - `down()` removes everything of the stack, even without state; safe twice.
 * - Lab suites take root and real daemons: wrap them in describeLab (../guard).
 */
import { execFileSync } from "child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { parseStackYaml } from "../../../components/config/stack-yaml";
import { labExecArgv, status, StatusEntry } from "../../../lab/cli";
import { runRemote, SshConnection } from "../../../scripts/ssh/openssh";
import { isSecretWrapper, Json, loadState } from "../../../lab/emulator/state";
import { Step } from "../../../lab/emulator";
import { processAlive, stackLinks, stackNamespaces, teardown } from "../../../lab/hosts";
import { layout, REPO_ROOT, StackLayout } from "../../../lab/layout";
import { reboot } from "../../../lab/reboot";
import { inNs, runAsync, RunResult } from "../../../lab/sh";

export type { RunResult, StatusEntry, SshConnection, Json };

/** Stack outputs are whatever the program exports: tests index into them freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StackOutputs = Record<string, any>;

export type ConfigSource = string | Record<string, unknown>;

export interface UpOptions {
  /** Program to run instead of the repo's index.ts (the lab's own suite uses a fixture). */
  program?: string;
  /** Resolve with ok=false instead of rejecting when up fails. */
  expectFailure?: boolean;
  /** A lab fault to inject during this up (lab/engine.ts faultInjector), e.g. `reboot:db-1:before:db-1-firewall-confirm`. */
  fault?: string;
}

export interface LabUp {
  ok: boolean;
  error?: string;
  /** Stack outputs with secrets unwrapped. */
  outputs: StackOutputs;
  hosts: StatusEntry[];
  steps: Step[];
  remoteRuns: number;
  durationMs: number;
  /** The status entry of a server or lab namespace; throws naming the host if absent. */
  host(name: string): StatusEntry;
}

export class LabUpError extends Error {}

/** Secret wrappers removed: what a test needs to use keys from the outputs. */
export function unsecret(v: Json): Json {
  if (isSecretWrapper(v)) return unsecret(v.value);
  if (Array.isArray(v)) return v.map(unsecret);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unsecret(x)]));
  return v;
}

/** A stack file's config map with some keys replaced (`undefined` removes a key): the usual way to make a small test stack. */
export function fromStackFile(file: string, patch: Record<string, unknown> = {}): Record<string, unknown> {
  const full = path.isAbsolute(file) ? file : path.join(REPO_ROOT, file);
  const out: Record<string, unknown> = { ...parseStackYaml(readFileSync(full, "utf8"), full), ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete out[k];
  return out;
}

export interface SshOptions {
  stdin?: string;
  /** Namespace to connect from: `operator` (default), `eng1`, `eng2`. */
  from?: "operator" | "eng1" | "eng2";
}

export class Lab {
  readonly L: StackLayout;
  constructor(readonly stack: string) {
    this.L = layout(stack);
  }

  private configFile(source: ConfigSource): string {
    if (typeof source === "string") return path.isAbsolute(source) ? source : path.join(REPO_ROOT, source);
    mkdirSync(path.join(path.dirname(this.L.dir), "configs"), { recursive: true, mode: 0o700 });
    const file = path.join(path.dirname(this.L.dir), "configs", `Pulumi.${this.stack}.yaml`);
    writeFileSync(file, stringify({ config: source }), { mode: 0o600 });
    return file;
  }

  async up(source: ConfigSource, opts: UpOptions = {}): Promise<LabUp> {
    const argv = [
      path.join(REPO_ROOT, "node_modules", ".bin", "tsx"),
      path.join(REPO_ROOT, "lab", "cli.ts"),
      "up",
      "--json",
      "--stack",
      this.stack,
      "--config-file",
      this.configFile(source),
    ];
    if (opts.program) argv.push("--program", opts.program);
    const env = { ...process.env };
    delete env.FLEET_LAB_FAULT;
    if (opts.fault) env.FLEET_LAB_FAULT = opts.fault;
    const r = await runAsync(argv, { timeoutMs: 600_000, env });
    const last = r.stdout.trim().split("\n").pop() ?? "";
    let summary: { ok: boolean; error?: string; steps: Step[]; remoteRuns: number; durationMs: number };
    try {
      summary = JSON.parse(last);
    } catch {
      throw new LabUpError(`lab up (stack ${this.stack}) failed before it could report (exit ${r.code}):\n${r.stderr.trim().slice(-4000)}`);
    }
    if (!summary.ok && !opts.expectFailure) throw new LabUpError(`lab up (stack ${this.stack}) failed: ${summary.error}\n${r.stderr.trim().slice(-3000)}`);
    const outputs = summary.ok ? this.outputs() : {};
    // What the stack records must be what the hosts run: every successful up is audited.
    if (summary.ok) await this.expectInSync();
    const hosts = status(this.L);
    return {
      ...summary,
      outputs,
      hosts,
      host: (name) => {
        const h = hosts.find((x) => x.name === name);
        if (!h) throw new LabUpError(`stack ${this.stack} has no lab host ${name}; it has ${hosts.map((x) => x.name).join(", ")}`);
        return h;
      },
    };
  }

  /** Runs `npm run lab -- audit` on this stack; rejects with the drifted checks unless every host is in sync. */
  async expectInSync(): Promise<void> {
    const r = await runAsync([path.join(REPO_ROOT, "node_modules", ".bin", "tsx"), path.join(REPO_ROOT, "lab", "cli.ts"), "audit", "--stack", this.stack], {
      timeoutMs: 300_000,
    });
    if (r.code !== 0)
      throw new LabUpError(`after a successful up, npm run lab -- audit (stack ${this.stack}) found drift (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  }

  /** The last successful up's outputs, secrets unwrapped. */
  outputs(): StackOutputs {
    if (!existsSync(this.L.outputsFile)) return {};
    return unsecret(JSON.parse(readFileSync(this.L.outputsFile, "utf8")) as Json) as Record<string, Json>;
  }

  /**
   * The connection the engine used for a server (from its `<server>-ready`
   * command, or any command that targets the server's address): pinned host
   * key, admin key, and the gateway as proxy for private servers.
   */
  connection(server: string): SshConnection {
    const state = loadState(this.L.stateFile, this.stack);
    const commands = Object.values(state.resources).filter((r) => r.type === "command:remote:Command");
    const host = status(this.L).find((h) => h.name === server);
    const byName = commands.find((r) => r.name === `${server}-ready`);
    const byAddress = commands.find((r) => {
      const c = r.inputs.connection as { host?: string } | null;
      return host !== undefined && c !== null && (c.host === host.privateIp || c.host === host.publicIp);
    });
    const rec = byName ?? byAddress;
    if (!rec) throw new LabUpError(`stack ${this.stack}: no remote command targets ${server}, so there is no connection to copy`);
    return rec.inputs.connection as unknown as SshConnection;
  }

  status(): StatusEntry[] {
    return status(this.L);
  }

  /** Async throughout: a host that is not running (say, between two boots) rejects, it does not throw at the call. */
  async exec(host: string, argv: string[], input?: string, timeoutMs?: number): Promise<RunResult> {
    return runAsync(labExecArgv(this.L, host, argv), { input, timeoutMs });
  }

  ssh(target: SshConnection, command: string, opts: SshOptions = {}): Promise<RunResult> {
    const from = opts.from ?? "operator";
    const ns = from === "operator" ? this.L.operatorNs : this.L.laptopNs(from);
    mkdirSync(path.join(this.L.dir, "tmp"), { recursive: true, mode: 0o700 });
    return runRemote({
      wrap: (argv) => inNs(ns, argv),
      tmpRoot: path.join(this.L.dir, "tmp"),
      connection: target,
      command,
      stdin: opts.stdin,
      where: `test ssh to ${target.host}`,
      timeoutMs: 120_000,
    });
  }

  /** Power-cycles a server: processes, addresses, routes, iptables, ipsets, /run, /tmp gone; disk kept; bootcmd and sshd run again. */
  async reboot(server: string): Promise<void> {
    const r = await reboot(this.L, server);
    if (r.errors.length) throw new LabUpError(`reboot ${server}: ${r.errors.join("; ")}`);
  }

  down(): void {
    teardown(this.L);
  }

  /** Every process inside this stack's namespaces (sshd, anchors, sessions, daemons scripts started). */
  pids(): number[] {
    return stackNamespaces(this.L).flatMap((ns) =>
      execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8" })
        .split("\n")
        .filter((p) => /^\d+$/.test(p))
        .map(Number),
    );
  }

  /** What of this stack still exists after down: namespaces, links, and which of `pids` still run. */
  leftovers(pids: number[] = []): { namespaces: string[]; links: string[]; processes: number[] } {
    return { namespaces: stackNamespaces(this.L), links: stackLinks(this.L), processes: pids.filter((p) => processAlive(p)) };
  }
}

export function lab(stack: string): Lab {
  return new Lab(stack);
}

/** Shorthands on a default stack, for one-off scripts. */
const DEFAULT_STACK = "labt";
export const labUp = (source: ConfigSource, opts?: UpOptions & { stack?: string }) => lab(opts?.stack ?? DEFAULT_STACK).up(source, opts);
export const labExec = (host: string, argv: string[], input?: string, stack = DEFAULT_STACK) => lab(stack).exec(host, argv, input);
export const labDown = (stack = DEFAULT_STACK) => lab(stack).down();
