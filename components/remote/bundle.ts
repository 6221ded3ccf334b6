import { createHash } from "crypto";
import { existsSync, readdirSync, readFileSync } from "fs";
import * as path from "path";

/**
 * A bundle is how data reaches a remote script without ever being spliced into
 * a command line: one line per file, `<name> <base64 of content>`, sent on stdin.
 * The command string itself is the constant LOADER below.
 */
export type BundleFiles = Record<string, string>;

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function encodeBundle(files: BundleFiles): string {
  const names = Object.keys(files).sort();
  return names
    .map((name) => {
      if (!SAFE_NAME.test(name)) throw new Error(`bundle file name ${JSON.stringify(name)} is not a plain file name`);
      return `${name} ${Buffer.from(files[name], "utf8").toString("base64")}\n`;
    })
    .join("");
}

export function decodeBundle(text: string): BundleFiles {
  const out: BundleFiles = {};
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const [name, data = ""] = line.split(" ");
    out[name] = Buffer.from(data, "base64").toString("utf8");
  }
  return out;
}

/** Stable hash of a bundle: the trigger of a remote command. */
export function bundleHash(files: BundleFiles): string {
  return createHash("sha256").update(encodeBundle(files)).digest("hex");
}

/**
 * The only command string remote scripts are started with. It unpacks the
 * bundle from stdin into a private temp dir (mode 0700, files 0600) and runs
 * `main.sh <dir> <create|delete>`. Secrets therefore travel on stdin and land in a 0600 file.
 */
export type ScriptOp = "create" | "delete";

export function loader(op: ScriptOp): string {
  return (
    'bash -c \'set -eu; umask 077; d=$(mktemp -d /tmp/fleet.XXXXXXXX); trap "rm -rf -- \\"$d\\"" EXIT; ' +
    'while IFS=" " read -r n b; do case "$n" in ""|*/*|.*) echo "fleet: bad bundle entry" >&2; exit 2;; esac; ' +
    `printf %s "$b" | base64 -d >"$d/$n"; done; bash "$d/main.sh" "$d" ${op}'`
  );
}

/** A script's bundle: its data files, the script itself as main.sh, and lib.sh, which every script sources. */
export function scriptBundle(script: string, files: BundleFiles): BundleFiles {
  return { ...files, "main.sh": remoteScript(script), "lib.sh": remoteScript("lib") };
}

/**
 * How a remote script runs, wherever it runs (the command provider, the audit over SSH, a lab host): the constant
 * command, and the bundle for its stdin.
 */
export function scriptInvocation(script: string, files: BundleFiles, op: ScriptOp = "create"): { command: string; stdin: string } {
  return { command: loader(op), stdin: encodeBundle(scriptBundle(script, files)) };
}

/**
 * The components' folder: beside this one in the sources, and from the build (dist/components/remote) the package's
 * own components/ (the package ships the scripts there; tsc does not copy them).
 */
const COMPONENTS_DIR =
  [path.join(__dirname, ".."), path.join(__dirname, "..", "..", "..", "components")].find((d) => existsSync(path.join(d, "remote", "lib.sh"))) ??
  path.join(__dirname, "..");

/**
 * Every script that runs on a host lives in the folder of its concept (components/firewall/firewall-apply.sh,
 * components/remote/lib.sh): name → path, found once. Names are unique across the folders.
 */
let scripts: Map<string, string> | undefined;
function scriptIndex(): Map<string, string> {
  if (scripts) return scripts;
  scripts = new Map();
  for (const dir of readdirSync(COMPONENTS_DIR, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    for (const f of readdirSync(path.join(COMPONENTS_DIR, dir.name)).filter((n) => n.endsWith(".sh"))) {
      const name = f.slice(0, -3);
      const other = scripts.get(name);
      if (other) throw new Error(`two remote scripts named ${name}: ${other} and ${path.join(dir.name, f)}`);
      scripts.set(name, path.join(dir.name, f));
    }
  }
  return scripts;
}

/** The path of a remote script by name, relative to the package root (for messages and tests). */
export function remoteScriptPath(name: string): string {
  const rel = scriptIndex().get(name);
  if (!rel) throw new Error(`no remote script named ${name} in components/*/`);
  return path.join("components", rel);
}

/** Reads a remote script (components/<concept>/<name>.sh) to ship in a bundle or user data. */
export function remoteScript(name: string): string {
  return readFileSync(path.join(COMPONENTS_DIR, path.relative("components", remoteScriptPath(name))), "utf8");
}
