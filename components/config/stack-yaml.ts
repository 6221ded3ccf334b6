import { parse } from "yaml";

/** A stack file that is not YAML, or whose `config:` is not a map. */
export class StackFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StackFileError";
  }
}

/**
 * The one reader of `Pulumi.<stack>.yaml` text in this project (the lab, the plan and the tests use it).
 * YAML 1.2 core schema, as the Pulumi CLI's Go reader (gopkg.in/yaml.v3) decodes untyped values: `yes`, `no`,
 * `on` and `off` are text, not booleans. Merge keys (`<<: *base`) are honoured, as yaml.v3 does.
 * Returns the `config:` map as written (keys may lack the project prefix).
 */
export function parseStackYaml(text: string, where: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parse(text, { version: "1.2", schema: "core", merge: true });
  } catch (e) {
    throw new StackFileError(`${where}: not valid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) throw new StackFileError(`${where}: must be a map with a config: key`);
  const config = (doc as { config?: unknown }).config ?? {};
  if (config === null || typeof config !== "object" || Array.isArray(config)) throw new StackFileError(`${where}: config: must be a map of keys to values`);
  return config as Record<string, unknown>;
}
