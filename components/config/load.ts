import * as pulumi from "@pulumi/pulumi";
import { FleetConfigError } from "./errors";
import { FleetConfig } from "./types";
import { parseFleetConfig } from "./validate";

export const CONFIG_KEYS = ["cloud", "network", "roles", "servers", "vpn", "firewall", "deploy", "appEnv"] as const;

/** Reads the `fleet:*` keys as one object; a value that is not JSON is kept as the string it is. */
export function readRawConfig(namespace = "fleet"): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    const [ns, key] = fullKey.split(":");
    if (ns !== namespace) continue;
    try {
      raw[key] = JSON.parse(value);
    } catch {
      raw[key] = value;
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
    // appEnv is a secret read on its own (getSecretObject), not part of the structural config.
    const { appEnv: _secret, ...structural } = raw;
    void _secret;
    return parseFleetConfig(structural);
  } catch (e) {
    if (e instanceof FleetConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
}
