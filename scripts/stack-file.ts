/**
 * Finds and reads a Pulumi stack file (`Pulumi.<stack>.yaml`) for the tools that read a stack offline (matrix,
 * plan) and the lab, through the one reader (components/config/stack-yaml.ts).
 */
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";
import { StackFileConfig, stackFileConfig, StackFileError } from "../components/config/stack-yaml";

const REPO_ROOT = path.resolve(__dirname, "..");

export { StackFileError };

export function projectName(root = REPO_ROOT): string {
  const file = path.join(root, "Pulumi.yaml");
  if (!existsSync(file)) return "fleet";
  const doc = parse(readFileSync(file, "utf8")) as { name?: string } | null;
  return doc?.name ?? "fleet";
}

/**
 * The stack file a command reads: `--config-file FILE` when given, else Pulumi.<stack>.yaml beside Pulumi.yaml.
 * A missing one is refused here, naming what was asked for.
 */
export function stackFilePath(stack: string, override?: string): string {
  if (override !== undefined) {
    if (!existsSync(override)) throw new StackFileError(`--config-file ${override}: no such file`);
    return override;
  }
  const file = path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);
  if (!existsSync(file)) throw new StackFileError(`stack ${stack}: ${file} not found (create it, or name a stack file with --config-file FILE)`);
  return file;
}

/** A stack file's config, read offline: encrypted values are left out and named (stackFileConfig). */
export function readStackConfig(file: string, project: string): StackFileConfig {
  if (!existsSync(file)) throw new StackFileError(`stack file ${file} not found`);
  return stackFileConfig(readFileSync(file, "utf8"), file, project);
}
