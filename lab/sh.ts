import { existsSync, readdirSync } from "fs";
import { runAsync, RunResult, runSync } from "../scripts/process";

export { runAsync, runSync };
export type { RunResult };

/** Every lab object (netns, link, bridge, dir) carries this prefix, so it is recognisable and cleanable. */
export const LAB_PREFIX = "fl-";

/** runSync (scripts/process.ts) in the lab's short form. */
export function run(argv: string[], input?: string, timeoutMs = 60_000): RunResult {
  return runSync(argv, { input, timeoutMs });
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
