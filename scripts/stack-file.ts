/**
 * Reads a Pulumi stack file (`Pulumi.<stack>.yaml`) into the flat config map the SDK takes (`ns:key` -> string;
 * objects JSON-encoded, as the CLI passes them): for the tools that read a stack offline (matrix, plan) and the lab.
 */
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";
import { parseStackYaml, StackFileError } from "../components/config/stack-yaml";

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

export function readStackConfig(file: string, project: string): Record<string, string> {
  if (!existsSync(file)) throw new StackFileError(`stack file ${file} not found`);
  return flattenConfig(parseStackYaml(readFileSync(file, "utf8"), file), project, file);
}

export function flattenConfig(config: Record<string, unknown>, project: string, where = "config"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    const full = key.includes(":") ? key : `${project}:${key}`;
    if (value !== null && typeof value === "object" && !Array.isArray(value) && "secure" in value) {
      throw new StackFileError(
        `${where}: ${full} is an encrypted secret; it cannot be decrypted offline: give a plain value in a stack file read offline (a lab stack, matrix, plan)`,
      );
    }
    out[full] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return out;
}
