import { createHash } from "crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import * as tar from "tar";
import { DeployConfigError } from "./errors";

export interface PackedDirectory {
  /** The tar archive, base64: it rides in the prepare bundle like any other file. */
  base64: string;
  sha256: string;
  bytes: number;
}

/** Above this the bundle (and Pulumi state) gets heavy: use an artifact URL instead. */
export const MAX_LOCAL_BYTES = 16 * 1024 * 1024;

const SKIP = new Set([".git", "node_modules", "__pycache__", ".DS_Store"]);

function listFiles(root: string, rel = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(root, rel)).sort()) {
    if (SKIP.has(name)) continue;
    const p = rel === "" ? name : `${rel}/${name}`;
    const st = statSync(path.join(root, p));
    if (st.isDirectory()) out.push(...listFiles(root, p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/**
 * Packs a local directory the way `fab deploy` shipped code: the same tree gives the same bytes
 * (sorted entries, fixed mtime, no owner names), so the release name and the command's trigger
 * change only when the code does.
 */
export function packDirectory(dir: string): PackedDirectory {
  const root = path.resolve(dir);
  let files: string[];
  try {
    files = listFiles(root);
  } catch (e) {
    throw new DeployConfigError(`deploy source.local.path: cannot read ${JSON.stringify(dir)}: ${(e as Error).message}`);
  }
  if (files.length === 0) throw new DeployConfigError(`deploy source.local.path: ${JSON.stringify(dir)} has no files`);
  const tmp = mkdtempSync(path.join(tmpdir(), "fleet-pack-"));
  try {
    const file = path.join(tmp, "release.tar");
    tar.create({ sync: true, file, cwd: root, portable: true, mtime: new Date(0), noDirRecurse: true }, files);
    const data = readFileSync(file);
    if (data.length > MAX_LOCAL_BYTES) {
      throw new DeployConfigError(
        `deploy source.local.path: ${JSON.stringify(dir)} packs to ${data.length} bytes (limit ${MAX_LOCAL_BYTES}); use an artifact URL`,
      );
    }
    return { base64: data.toString("base64"), sha256: createHash("sha256").update(data).digest("hex"), bytes: data.length };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
