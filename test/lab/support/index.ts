/**
 * The lab for test suites, on the real engine: a stack brought up by the real `pulumi` CLI and providers against
 * the lab's OpenStack, its servers booted by the lab's hypervisor; hosts looked into, SSH as the command provider
 * does it, reboots through Nova's API, and everything taken down.
 *
 *   const t = realLab("fw");                     // own stack name per suite: [a-z0-9]{1,12}
 *   beforeAll(async () => { await t.down(); up = await t.up(fromStackFile("Pulumi.dev.yaml", {...})); });
 *   afterAll(() => t.down());
 *
 * - `up(source)` runs `pulumi up` (lab/real-stack.ts realUp) and resolves with the stack outputs (secrets shown),
 *   the hosts, the steps the engine performed and how many remote commands ran. It rejects with the engine's
 *   errors if up fails; `{ expectFailure: true }` resolves with `ok: false` instead. After every successful up,
 *   `npm run audit` over the stack's own checkpoint must find every host in sync, or the up rejects.
 * - `exec(host, argv, input?)` runs argv as root inside a server's host, in `operator` (the cloud's namespace, where
 *   the CLI runs) or on a laptop (`eng1`, `eng2`). Never throws on a non-zero exit: check `code`.
 * - `ssh(target, command, opts)` connects as the command provider does (OpenSSH, pinned host key, the gateway as
 *   jump host) from `operator` or a laptop.
 * - `reboot(server)` hard-reboots through Nova's API; `down()` destroys the stack and removes what is left.
 */
import { mkdirSync, writeFileSync } from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { cloud, CLOUD_NS } from "../../../lab/openstack";
import { layout, REPO_ROOT, StackLayout } from "../../../lab/layout";
import { ensureLaptops, Laptop } from "../../../lab/laptops";
import { prepareRealStack, PulumiCliError, runPulumi, stackEnv } from "../../../lab/pulumi-cli";
import {
  auditStack,
  Json,
  labExecArgv,
  realDown,
  realUp,
  rebootServer,
  stackExport,
  stackGuests,
  stackOutputs,
  stackStatus,
  StatusEntry,
  Step,
} from "../../../lab/real-stack";
import { sshdPid, waitFor } from "../../../lab/hosts";
import { inNs, runAsync, RunResult } from "../../../lab/sh";
import { fromStackExport } from "../../../scripts/audit/checks";
import { runRemote, SshConnection } from "../../../scripts/ssh/openssh";
import { parseStackYaml } from "../../../components/config/stack-yaml";
import { readFileSync } from "fs";

export type { Step, RunResult, SshConnection };

/** Stack outputs are whatever the program exports: tests index into them freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StackOutputs = Record<string, any>;

export type ConfigSource = string | Record<string, unknown>;

export class LabUpError extends Error {}

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

export type HostEntry = StatusEntry;

export interface LabUp {
  ok: boolean;
  error?: string;
  printed: string;
  outputs: StackOutputs;
  hosts: HostEntry[];
  steps: Step[];
  remoteRuns: number;
  durationMs: number;
  /** A server's host; throws naming the server if the stack has none. */
  host(name: string): HostEntry;
}

const verbose = (l: string) => void (process.env.FLEET_LAB_VERBOSE ? process.stderr.write(l) : undefined);

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

  /** Makes the stack ready for the CLI (cloud, tenant, backend, config) without an up; returns its environment. */
  prepare(source: ConfigSource): Promise<Record<string, string>> {
    return prepareRealStack(this.L, this.configFile(source), verbose);
  }

  /** `pulumi ARGS` for the prepared stack, in the operator's namespace. */
  pulumi(args: string[]): Promise<RunResult> {
    const env = stackEnv(this.L);
    if (!env) throw new LabUpError(`stack ${this.stack} is not prepared`);
    return runPulumi(this.L, env, args, verbose);
  }

  /** `opts.args`: more `pulumi up` arguments, e.g. `--target URN`; `opts.secrets`: config keys stored as secrets. */
  async up(source: ConfigSource, opts: { expectFailure?: boolean; args?: string[]; secrets?: string[] } = {}): Promise<LabUp> {
    let r: Awaited<ReturnType<typeof realUp>>;
    try {
      r = await realUp(this.L, this.configFile(source), { log: verbose, args: opts.args, secretKeys: opts.secrets });
    } catch (e) {
      // The lab checks the config before it makes anything (as the program does before it declares anything).
      if (!(e instanceof PulumiCliError)) throw e;
      r = { ok: false, error: e.message, printed: e.message, steps: [], remoteRuns: 0, durationMs: 0 };
    }
    if (!r.ok && !opts.expectFailure) throw new LabUpError(`pulumi up (lab stack ${this.stack}) failed:\n${r.error}`);
    const outputs = r.ok ? await this.outputs() : {};
    if (r.ok) await this.expectInSync();
    const hosts = this.hosts(outputs);
    return {
      ...r,
      outputs,
      hosts,
      host: (name) => {
        const h = hosts.find((x) => x.name === name);
        if (!h) throw new LabUpError(`stack ${this.stack} has no server ${name}; it has ${hosts.map((x) => x.name).join(", ")}`);
        return h;
      },
    };
  }

  async outputs(): Promise<StackOutputs> {
    return stackOutputs(this.L);
  }

  /** The stack's servers: role and addresses from its outputs, the host from Nova and the hypervisor. */
  hosts(outputs: StackOutputs): HostEntry[] {
    return stackStatus(this.L, outputs).filter((h) => h.kind === "server");
  }

  /** `npm run audit` over the stack's own checkpoint, from the operator: rejects unless every host is in sync. */
  async expectInSync(): Promise<void> {
    let report = "";
    const code = await auditStack(this.L, { write: (t) => void (report += t) });
    if (code !== 0) throw new LabUpError(`after a successful up, the audit of stack ${this.stack} found drift (exit ${code}):\n${report}`);
  }

  /** The URN of the stack's resource with this name and type token (from its checkpoint). */
  async urn(name: string, type: string): Promise<string> {
    const doc = await stackExport(this.L);
    const urns = ((doc.deployment.resources ?? []) as { urn: string; type: string }[])
      .filter((r) => r.type === type && r.urn.endsWith(`::${name}`))
      .map((r) => r.urn);
    if (urns.length !== 1) throw new LabUpError(`stack ${this.stack} has ${urns.length} resources of type ${type} named ${name}`);
    return urns[0];
  }

  /** The connection the command provider used for a server: its `<server>-ready` command's, from the checkpoint. */
  async connection(server: string): Promise<SshConnection> {
    const ready = fromStackExport(await stackExport(this.L)).find((r) => r.type === "command:remote:Command" && r.name === `${server}-ready`);
    if (!ready) throw new LabUpError(`stack ${this.stack}: no ${server}-ready command, so there is no connection to copy`);
    return ready.inputs.connection as unknown as SshConnection;
  }

  /** argv that runs inside a server's host, the operator's namespace or a laptop. */
  execArgv(host: string, argv: string[]): string[] {
    return labExecArgv(this.L, host, argv);
  }

  /** Async throughout: a host that is not running rejects, it does not throw at the call. */
  async exec(host: string, argv: string[], input?: string, timeoutMs?: number): Promise<RunResult> {
    return runAsync(this.execArgv(host, argv), { input, timeoutMs });
  }

  /** Makes the engineers' laptops (eng1, eng2) on the lab's Internet. */
  laptops(): void {
    ensureLaptops(this.L);
  }

  ssh(target: SshConnection, command: string, opts: SshOptions = {}): Promise<RunResult> {
    const from = opts.from ?? "operator";
    const ns = from === "operator" ? CLOUD_NS : this.L.laptopNs(from as Laptop);
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

  /** Hard-reboots a server through Nova and waits until its sshd listens again. */
  async reboot(server: string): Promise<void> {
    rebootServer(this.L, server);
    await waitFor(
      `${server}'s sshd after the reboot`,
      () => {
        const g = stackGuests(this.L)[server];
        return g !== undefined && sshdPid(g) !== null;
      },
      120_000,
    );
  }

  /** Destroys the stack and removes what is left of it (cloud objects, laptops, its lab directory). */
  async down(): Promise<void> {
    await cloud("up");
    await realDown(this.L, verbose);
  }
}

export function lab(stack: string): Lab {
  return new Lab(stack);
}

export type { Json };
