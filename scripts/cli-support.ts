/**
 * What every command-line entry point of the project shares: the same --help, and an exit that waits until
 * stdout and stderr are flushed (process.exit right after a large write to a pipe loses everything past the
 * pipe's buffer, 64 KiB on Linux).
 */
import { readFileSync } from "fs";

/**
 * A file's text, or stdin's for "-". Stdin is read as a stream: once a module has touched process.stdin (the Pulumi
 * SDK does), fd 0 is non-blocking and readFileSync(0) fails with EAGAIN on a pipe.
 */
export async function readInput(file: string): Promise<string> {
  if (file !== "-") return readFileSync(file, "utf8");
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString("utf8");
}

/** A command line that cannot be followed: printed as one line, without a stack trace. */
export class UsageError extends Error {}

/** `--name value` from argv, or undefined when absent; a flag given without its value is refused. */
export function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith("--")) throw new UsageError(`--${name} needs a value`);
  return v;
}

/** True for `--help`, `-h` or `help` anywhere before a `--`. */
export function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "--help" || a === "-h" || a === "help");
}

/** The usage text of a script: its leading doc comment, without the comment markers. */
export function usageOf(file: string): string {
  const head = readFileSync(file, "utf8").split("*/")[0];
  return `${head
    .replace(/^#!.*\n/, "")
    .replace(/^\/\*\*\n/, "")
    .replace(/^ \* ?/gm, "")
    .trimEnd()}\n`;
}

/** Prints the usage when asked for help; the caller then stops (exitAfterFlush(0)). */
export function printHelp(argv: string[], file: string): boolean {
  if (!wantsHelp(argv)) return false;
  process.stdout.write(usageOf(file));
  return true;
}

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => (stream.writableLength === 0 ? resolve() : stream.write("", () => resolve())));
}

/** Sets the exit code and exits once everything written so far has reached stdout and stderr. */
export function exitAfterFlush(code: number): void {
  process.exitCode = code;
  void Promise.all([flushed(process.stdout), flushed(process.stderr)]).then(() => process.exit(code));
}
