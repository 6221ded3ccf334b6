import { spawnSync } from "child_process";
import { existsSync, readdirSync } from "fs";
import { runAsync, RunResult } from "../scripts/ssh/run";

export { runAsync };
export type { RunResult };

/** Every lab object (netns, link, bridge, dir) carries this prefix, so it is recognisable and cleanable. */
export const LAB_PREFIX = "fl-";

/** Runs argv (no shell), returns code/stdout/stderr. */
export function run(argv: string[], input?: string, timeoutMs = 60_000): RunResult {
  const r = spawnSync(argv[0], argv.slice(1), { input, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${argv[0]}: ${r.error.message}`);
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Runs argv and throws with its stderr if it fails. */
export function must(argv: string[], input?: string, timeoutMs = 60_000): string {
  const r = run(argv, input, timeoutMs);
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${argv.join(" ")}\n${r.stderr.trim()}`);
  return r.stdout;
}

/** argv to run inside a network namespace. */
export function inNs(ns: string, argv: string[]): string[] {
  return ["ip", "netns", "exec", ns, ...argv];
}

/** Named network namespaces (the files `ip netns add` makes; `ip netns list` also asks each for its id, and
 *  complains on stderr about namespaces it cannot ask). */
export function netnsList(): string[] {
  return existsSync("/run/netns") ? readdirSync("/run/netns").sort() : [];
}

/** A throwaway namespace with loopback up; returns its name. */
export function tempNetns(tag: string): string {
  const name = `${LAB_PREFIX}t-${tag}-${process.pid}`.slice(0, 40);
  run(["ip", "netns", "del", name]);
  must(["ip", "netns", "add", name]);
  must(inNs(name, ["ip", "link", "set", "lo", "up"]));
  return name;
}

export function delNetns(name: string): void {
  run(["ip", "netns", "del", name]);
}

/** runAsync that throws with stderr on a non-zero exit. */
export async function mustAsync(argv: string[], input?: string): Promise<string> {
  const r = await runAsync(argv, { input });
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${argv.join(" ")}\n${r.stderr.trim()}`);
  return r.stdout;
}
