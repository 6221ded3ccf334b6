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

/** A stack file's config as an offline reader gets it (matrix, plan, the lab, the tests). */
export interface StackFileConfig {
  /** `ns:key` → value as written (objects stay objects). Encrypted values are left out. */
  values: Record<string, unknown>;
  /** The same as the CLI hands them to a program: strings as they are, anything else JSON-encoded. */
  flat: Record<string, string>;
  /**
   * Keys whose values are encrypted (`secure:`), sorted. Only `pulumi` with the stack's secrets provider can read
   * them, so every offline reader leaves them out and says which: the one rule for secrets here.
   */
  encryptedKeys: string[];
}

const isEncrypted = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v) && "secure" in v;

/** The `config:` map of a stack file's text, keys namespaced with the project where they lack one. */
export function stackFileConfig(text: string, where: string, project: string): StackFileConfig {
  const values: Record<string, unknown> = {};
  const encryptedKeys: string[] = [];
  for (const [key, value] of Object.entries(parseStackYaml(text, where))) {
    const full = key.includes(":") ? key : `${project}:${key}`;
    if (isEncrypted(value)) encryptedKeys.push(full);
    else values[full] = value;
  }
  return { values, flat: flattenConfigValues(values), encryptedKeys: encryptedKeys.sort() };
}

/** Config values as the CLI hands them to a program (`pulumi.runtime.setAllConfig`). */
export function flattenConfigValues(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

/** One line for a tool that read a stack file offline and had to leave its encrypted values out. */
export function encryptedNote(where: string, keys: string[]): string | undefined {
  if (keys.length === 0) return undefined;
  return `note: ${where}: ${keys.join(", ")} ${keys.length === 1 ? "is" : "are"} encrypted (secure:); only pulumi can read ${keys.length === 1 ? "it" : "them"}, so this run goes without`;
}
