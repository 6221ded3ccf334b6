import { stackFileConfig, StackFileError } from "../../components/config/stack-yaml";
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

export function readStackText(text: string, where: string, project = "fleet"): StackConfig {
  const { values, encryptedKeys } = stackFileConfig(text, where, project);
  const fleetRaw = Object.fromEntries(
    Object.entries(values)
      .filter(([k]) => k.startsWith(`${project}:`))
      .map(([k, v]) => [k.slice(project.length + 1), v]),
  );
  return { config: values, secretKeys: encryptedKeys, fleet: parseFleetConfig(fleetRaw) };
}
