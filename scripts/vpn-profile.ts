/**
 * npm run vpn:profile -- ENGINEER [--out FILE] [--stack NAME | --from-json FILE] [--help]
 *
 * Writes one engineer's OpenVPN profile to a file only its owner can read (mode 0600); default
 * ENGINEER.ovpn. It holds the engineer's private key, so it refuses a path inside a git work tree
 * that git would not ignore (the project's .gitignore covers *.ovpn).
 *
 *   --stack NAME      read the `vpnProfiles` stack output with
 *                     `pulumi stack output vpnProfiles --show-secrets --json [--stack NAME]`
 *   --from-json FILE  read the same map (engineer -> profile) from a JSON file, or - for stdin,
 *                     e.g. `npm run -s lab -- outputs --json --show-secrets | jq .vpnProfiles`
 */
import { RunResult, runSync } from "./process";
import { closeSync, fchmodSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "fs";
import * as path from "path";
import { z } from "zod";
import { exitAfterFlush, printHelp } from "./cli-support";

export class ProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProfileError";
  }
}

const profilesSchema = z.record(z.string(), z.string().min(1));

export function parseProfiles(json: string, source: string): Record<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new ProfileError(`${source}: not JSON (${(e as Error).message})`);
  }
  const r = profilesSchema.safeParse(raw);
  if (!r.success) throw new ProfileError(`${source}: expected a JSON object mapping engineer name -> profile text`);
  return r.data;
}

/**
 * Writes profiles[name] to outPath with mode 0600. The file is created fresh (O_EXCL, 0600)
 * next to the target and renamed over it, so an existing world-readable file never keeps its mode
 * and a reader never sees half a key.
 */
export function writeProfile(profiles: Record<string, string>, name: string, outPath: string): void {
  const profile = Object.prototype.hasOwnProperty.call(profiles, name) ? profiles[name] : undefined;
  if (profile === undefined) {
    const known = Object.keys(profiles).sort();
    throw new ProfileError(`no VPN profile for engineer ${JSON.stringify(name)}; known engineers: ${known.length ? known.join(", ") : "(none)"}`);
  }
  refuseTrackedPath(outPath);
  const tmp = path.join(path.dirname(outPath), `.${path.basename(outPath)}.${process.pid}.tmp`);
  const fd = openSync(tmp, "wx", 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, profile);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, outPath);
}

/** A private key must not land where `git add .` would pick it up. */
export function refuseTrackedPath(outPath: string): void {
  const dir = path.dirname(path.resolve(outPath));
  const inTree = runSync(["git", "-C", dir, "rev-parse", "--is-inside-work-tree"]);
  if (inTree.code !== 0 || inTree.stdout.trim() !== "true") return;
  if (runSync(["git", "-C", dir, "check-ignore", "-q", path.resolve(outPath)]).code === 0) return;
  throw new ProfileError(
    `refusing to write a private key to ${outPath}: it is inside a git work tree and not ignored; ` +
      `write it outside (e.g. --out ~/alice.ovpn) or to a path .gitignore covers (*.ovpn)`,
  );
}

export interface CliArgs {
  name: string;
  out: string;
  stack?: string;
  fromJson?: string;
}

export function parseArgs(argv: string[]): CliArgs {
  const rest = [...argv];
  let name: string | undefined;
  const opts: Partial<CliArgs> = {};
  while (rest.length > 0) {
    const a = rest.shift()!;
    const value = () => {
      const v = rest.shift();
      if (v === undefined || (v.startsWith("--") && v !== "-")) throw new ProfileError(`${a} needs a value`);
      return v;
    };
    if (a === "--out") opts.out = value();
    else if (a === "--stack") opts.stack = value();
    else if (a === "--from-json") opts.fromJson = value();
    else if (a.startsWith("--")) throw new ProfileError(`unknown option ${a}`);
    else if (name === undefined) name = a;
    else throw new ProfileError(`unexpected argument ${a}`);
  }
  if (!name) throw new ProfileError("usage: npm run vpn:profile -- <engineer> [--out FILE] [--stack NAME | --from-json FILE]");
  if (opts.stack && opts.fromJson) throw new ProfileError("--stack and --from-json exclude each other");
  return { name, out: opts.out ?? `${name}.ovpn`, stack: opts.stack, fromJson: opts.fromJson };
}

/** The secret stack output, via the Pulumi CLI (needs a logged-in CLI and the stack's passphrase). */
function profilesFromStack(stack: string | undefined): Record<string, string> {
  const argv = ["stack", "output", "vpnProfiles", "--show-secrets", "--json", ...(stack ? ["--stack", stack] : [])];
  let r: RunResult;
  try {
    r = runSync(["pulumi", ...argv], { timeoutMs: 0 });
  } catch (e) {
    throw new ProfileError(`cannot run the pulumi CLI (${(e as Error).message}); use --from-json FILE instead`);
  }
  if (r.code !== 0) throw new ProfileError(`pulumi ${argv.join(" ")} failed: ${r.stderr.trim()}`);
  return parseProfiles(r.stdout, "pulumi stack output vpnProfiles");
}

export function main(argv: string[]): string {
  const args = parseArgs(argv);
  const fromFile = (f: string) => parseProfiles(readFileSync(f === "-" ? 0 : f, "utf8"), f === "-" ? "stdin" : f);
  const profiles = args.fromJson ? fromFile(args.fromJson) : profilesFromStack(args.stack);
  writeProfile(profiles, args.name, args.out);
  return `wrote ${args.out} (mode 0600) for ${args.name}; hand it over privately, it contains their key`;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  if (printHelp(argv, __filename)) exitAfterFlush(0);
  else {
    try {
      console.log(main(argv));
      exitAfterFlush(0);
    } catch (e) {
      console.error(`vpn:profile: ${(e as Error).message}`);
      exitAfterFlush(1);
    }
  }
}
