import { readFileSync } from "fs";
import * as path from "path";
import { parseFleetConfig } from "../../../components/config/validate";
import { FleetConfig } from "../../../components/config/types";
import { readStackText } from "../../../scripts/plan/stack";

export const DEV_FILE = path.join(__dirname, "..", "..", "..", "Pulumi.dev.yaml");

/** The dev stack's `fleet:*` values as plain objects, to edit one thing at a time. */
export function devRaw(): Record<string, any> {
  const { config } = readStackText(readFileSync(DEV_FILE, "utf8"), DEV_FILE);
  const raw: Record<string, any> = {};
  for (const [k, v] of Object.entries(config)) if (k.startsWith("fleet:")) raw[k.slice(6)] = structuredClone(v);
  return raw;
}

export function fleet(edit: (raw: Record<string, any>) => void = () => {}): FleetConfig {
  const raw = devRaw();
  edit(raw);
  return parseFleetConfig(raw);
}
