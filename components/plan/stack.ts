import { parse } from "yaml";
import { CONFIG_KEYS } from "../config/load";
import { FleetConfig } from "../config/types";
import { parseFleetConfig } from "../config/validate";

/** A stack file's text, read for the plan: the `config:` map and the fleet config it validates to. */
export interface StackConfig {
  /** `ns:key` -> value, as in the file (objects stay objects); encrypted values are left out. */
  config: Record<string, unknown>;
  /** Keys whose values are encrypted (`secure:`); the plan never needs their values. */
  secretKeys: string[];
  fleet: FleetConfig;
}

export class StackFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StackFileError";
  }
}

const isSecure = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v) && "secure" in v;

export function readStackText(text: string, where: string, project = "fleet"): StackConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new StackFileError(`${where}: not valid YAML: ${(e as Error).message}`);
  }
  const raw = ((doc as { config?: unknown } | null)?.config ?? {}) as Record<string, unknown>;
  if (typeof raw !== "object" || Array.isArray(raw)) throw new StackFileError(`${where}: config: must be a map of keys to values`);
  const config: Record<string, unknown> = {};
  const secretKeys: string[] = [];
  const fleetRaw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const full = key.includes(":") ? key : `${project}:${key}`;
    if (isSecure(value)) {
      secretKeys.push(full);
      continue;
    }
    config[full] = value;
    const [ns, name] = full.split(":");
    if (ns === project && name !== "appEnv") fleetRaw[name] = value;
  }
  const unknown = Object.keys(fleetRaw).filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new StackFileError(`${where}: unknown config keys ${unknown.map((k) => `${project}:${k}`).join(", ")}`);
  return { config, secretKeys: secretKeys.sort(), fleet: parseFleetConfig(fleetRaw) };
}
