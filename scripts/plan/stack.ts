import { parseStackYaml, StackFileError } from "../../components/config/stack-yaml";
import { FleetConfig } from "../../components/config/types";
import { parseFleetConfig } from "../../components/config/validate";

/** A stack file's text, read for the plan: the `config:` map and the fleet config it validates to. */
export interface StackConfig {
  /** `ns:key` -> value, as in the file (objects stay objects); encrypted values are left out. */
  config: Record<string, unknown>;
  /** Keys whose values are encrypted (`secure:`); the plan never needs their values. */
  secretKeys: string[];
  fleet: FleetConfig;
}

export { StackFileError };

const isSecure = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v) && "secure" in v;

export function readStackText(text: string, where: string, project = "fleet"): StackConfig {
  const raw = parseStackYaml(text, where);
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
    if (ns === project) fleetRaw[name] = value;
  }
  return { config, secretKeys: secretKeys.sort(), fleet: parseFleetConfig(fleetRaw) };
}
