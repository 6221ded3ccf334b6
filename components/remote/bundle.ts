import { createHash } from "crypto";
import { existsSync, readFileSync } from "fs";
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

/** scripts/remote at the package root: two levels up from the sources, three from the build (dist/components/remote). */
export const REMOTE_SCRIPTS_DIR =
  [path.join(__dirname, "..", "..", "scripts", "remote"), path.join(__dirname, "..", "..", "..", "scripts", "remote")].find((d) =>
    existsSync(path.join(d, "lib.sh")),
  ) ?? path.join(__dirname, "..", "..", "scripts", "remote");

/** Reads a repo script (scripts/remote/<name>.sh) to ship as a bundle's main.sh. */
export function remoteScript(name: string): string {
  return readFileSync(path.join(REMOTE_SCRIPTS_DIR, `${name}.sh`), "utf8");
}
