import * as pulumi from "@pulumi/pulumi";
import { FleetConfigError } from "./errors";
import { FleetConfig } from "./types";
import { parseFleetConfig } from "./validate";

export const CONFIG_KEYS = ["cloud", "network", "roles", "servers", "vpn", "firewall", "deploy", "appEnv"] as const;

/**
 * Reads the `fleet:*` keys as one object through pulumi.Config (structured values come back parsed).
 * Keys the schema does not know are listed too, so a typo is an error rather than silently ignored.
 */
export function readRawConfig(namespace = "fleet"): Record<string, unknown> {
  const config = new pulumi.Config(namespace);
  const raw: Record<string, unknown> = {};
  const present = Object.keys(pulumi.runtime.allConfig())
    .filter((k) => k.startsWith(`${namespace}:`))
    .map((k) => k.slice(namespace.length + 1));
  for (const key of present) {
    if (key === "appEnv") continue; // a secret, read on its own with getSecretObject
    const text = config.get(key);
    try {
      raw[key] = text === undefined ? undefined : JSON.parse(text);
    } catch {
      raw[key] = text;
    }
  }
  return raw;
}

/**
 * Reads and validates the stack config. Problems end the program with one clean
 * message (a RunError prints no stack trace) before any resource is registered.
 */
export function loadFleetConfig(namespace = "fleet"): FleetConfig {
  const raw = readRawConfig(namespace);
  const unknown = Object.keys(raw).filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k));
  try {
    if (unknown.length > 0) {
      throw new FleetConfigError(unknown.map((k) => `${namespace}:${k}: unknown config key (known: ${CONFIG_KEYS.join(", ")})`));
    }
    return parseFleetConfig(raw);
  } catch (e) {
    if (e instanceof FleetConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
}
