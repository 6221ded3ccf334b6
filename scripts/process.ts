/** Runs a program (no shell) and collects what it printed: the one process runner of the tools, the lab and the tests. */
import { spawn, spawnSync } from "child_process";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  /** Killed (SIGKILL) past this; 0 waits as long as it takes. Default 120 s. */
  timeoutMs?: number;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Each chunk of stdout and stderr as it comes (a long run's progress). */
  onOutput?: (text: string) => void;
}

/** Runs argv asynchronously (so many hosts can be worked on at once); resolves with code/stdout/stderr, never rejects on an exit code. */
export function runAsync(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...opts.env }, cwd: opts.cwd });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const limit = opts.timeoutMs ?? 120_000;
    let timedOut = false;
    const timer =
      limit > 0
        ? setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, limit)
        : undefined;
    child.stdout.on("data", (b: Buffer) => {
      out.push(b);
      opts.onOutput?.(b.toString("utf8"));
    });
    child.stderr.on("data", (b: Buffer) => {
      err.push(b);
      opts.onOutput?.(b.toString("utf8"));
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${argv[0]}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8") + (timedOut ? timeoutNote(argv, limit) : ""),
      });
    });
    // The other side may exit without reading its stdin; that is not our error.
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}

/** The same, waiting for it: for short steps where nothing else needs to go on meanwhile. Default timeout 60 s. */
export function runSync(argv: string[], opts: Omit<RunOptions, "onOutput"> = {}): RunResult {
  const r = spawnSync(argv[0], argv.slice(1), {
    input: opts.input,
    encoding: "utf8",
    timeout: opts.timeoutMs === 0 ? undefined : (opts.timeoutMs ?? 60_000),
    maxBuffer: 1 << 30,
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
  });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT";
  if (r.error && !timedOut) throw new Error(`${argv[0]}: ${r.error.message}`);
  return {
    code: r.status ?? (r.signal ? 128 : -1),
    stdout: r.stdout ?? "",
    stderr: (r.stderr ?? "") + (timedOut ? timeoutNote(argv, opts.timeoutMs ?? 60_000) : ""),
  };
}

/** A run stopped at its limit says so in its stderr, where every caller's message already looks. */
function timeoutNote(argv: string[], ms: number): string {
  return `\n${argv[0]}: stopped after ${ms / 1000} s (its time limit)\n`;
}
