/**
 * command:remote:Command, run for real over SSH from the operator namespace.
 * A failed create fails the resource with its output in the error (as far as
 * `logging` allows), like the provider does.
 */
import { appendFileSync, mkdirSync } from "fs";
import * as path from "path";
import { inNs, RunResult } from "../sh";
import { CreateArgs, EmulatorContext, Handler, Inputs } from "./handler";
import { runRemote, SshConnection } from "../../scripts/ssh/openssh";
import { ResourceRecord } from "./state";

export class RemoteCommandError extends Error {}

/** Only a few ssh sessions at once: 2 cores, and every session is a process tree. */
class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((ok) => this.waiting.push(ok));
    this.active++;
    try {
      return await f();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

function shown(logging: unknown, r: RunResult): string {
  const mode = String(logging ?? "stdoutAndStderr").toLowerCase();
  const parts: string[] = [];
  if (mode === "stdout" || mode === "stdoutandstderr") parts.push(`stdout:\n${r.stdout.trimEnd()}`);
  if (mode === "stderr" || mode === "stdoutandstderr") parts.push(`stderr:\n${r.stderr.trimEnd()}`);
  return parts.length ? parts.join("\n") : "(output hidden: logging is none)";
}

/** The provider strips one trailing newline from what it returns. */
const chomp = (s: string) => s.replace(/\r?\n$/, "");

export interface CommandStats {
  runs: number;
}

export function commandHandler(ctx: EmulatorContext, stats: CommandStats, limit = 6): Handler {
  const gate = new Gate(limit);
  const tmpRoot = path.join(ctx.L.dir, "tmp");
  const exec = async (name: string, inputs: Inputs, which: "create" | "update" | "delete"): Promise<RunResult> => {
    mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
    mkdirSync(ctx.L.logsDir, { recursive: true, mode: 0o700 });
    const conn = inputs.connection as SshConnection | undefined;
    if (!conn) throw new RemoteCommandError(`command ${name}: no connection`);
    stats.runs++;
    const r = await gate.run(() =>
      runRemote({
        wrap: (argv) => inNs(ctx.L.operatorNs, argv),
        tmpRoot,
        connection: conn,
        command: String(inputs[which]),
        stdin: inputs.stdin === undefined || inputs.stdin === null ? undefined : String(inputs.stdin),
        environment: inputs.environment as Record<string, string> | undefined,
        where: `command ${name} (${which}) on ${conn.user ?? "root"}@${conn.host}${conn.proxy ? ` via ${conn.proxy.host}` : ""}`,
      }),
    );
    appendFileSync(
      path.join(ctx.L.logsDir, "commands.log"),
      `${new Date().toISOString()} ${which} ${name} -> exit ${r.code}\n${shown(inputs.logging, r)}\n\n`,
      { mode: 0o600 },
    );
    if (r.code !== 0) {
      throw new RemoteCommandError(`command ${name} (${which}) on ${conn.host} exited ${r.code}\n${shown(inputs.logging, r)}`);
    }
    return r;
  };
  return {
    create: async (a: CreateArgs) => {
      if (a.inputs.create === undefined || a.inputs.create === null) return { id: a.name, outputs: { stdout: "", stderr: "" } };
      const r = await exec(a.name, a.inputs, "create");
      return { id: `${a.name}-${Date.now().toString(36)}`, outputs: { stdout: chomp(r.stdout), stderr: chomp(r.stderr) } };
    },
    // The SDK hard-codes replaceOnChanges ["triggers[*]"]; any other change is an update that runs `update`, else `create`.
    replaceOn: ["triggers"],
    update: async (prev: ResourceRecord, a: CreateArgs) => {
      const which = a.inputs.update !== undefined && a.inputs.update !== null ? "update" : "create";
      if (a.inputs[which] === undefined || a.inputs[which] === null) return { id: prev.id ?? a.name, outputs: { stdout: "", stderr: "" } };
      const r = await exec(a.name, a.inputs, which);
      return { id: prev.id ?? a.name, outputs: { stdout: chomp(r.stdout), stderr: chomp(r.stderr) } };
    },
    delete: async (rec: ResourceRecord) => {
      if (rec.inputs.delete === undefined || rec.inputs.delete === null) return;
      await exec(rec.name, rec.inputs as Inputs, "delete");
    },
  };
}
