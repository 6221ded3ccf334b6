/**
 * Reads a Pulumi stack file (`Pulumi.<stack>.yaml`) into the flat config map the
 * SDK takes (`ns:key` -> string; objects JSON-encoded, as the CLI passes them).
 */
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";
import { REPO_ROOT } from "./layout";

export class StackFileError extends Error {}

export function projectName(root = REPO_ROOT): string {
  const file = path.join(root, "Pulumi.yaml");
  if (!existsSync(file)) return "fleet";
  const doc = parse(readFileSync(file, "utf8")) as { name?: string } | null;
  return doc?.name ?? "fleet";
}

export function stackFilePath(stack: string, override?: string): string {
  return override ?? process.env.FLEET_LAB_CONFIG ?? path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);
}

export function readStackConfig(file: string, project: string): Record<string, string> {
  if (!existsSync(file)) throw new StackFileError(`stack file ${file} not found (create it, or pass --config-file FILE)`);
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new StackFileError(`${file}: not valid YAML: ${(e as Error).message}`);
  }
  const config = ((doc as { config?: Record<string, unknown> } | null)?.config ?? {}) as Record<string, unknown>;
  return flattenConfig(config, project, file);
}

export function flattenConfig(config: Record<string, unknown>, project: string, where = "config"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    const full = key.includes(":") ? key : `${project}:${key}`;
    if (value !== null && typeof value === "object" && !Array.isArray(value) && "secure" in value) {
      throw new StackFileError(`${where}: ${full} is an encrypted secret; the lab cannot decrypt it: give a plain value in a lab stack file`);
    }
    out[full] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return out;
}
