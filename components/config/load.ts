import * as pulumi from "@pulumi/pulumi";
import { FleetConfigError } from "./errors";
import { nearest } from "./messages";
import { FleetConfig } from "./types";
import { CONFIG_KEYS, parseFleetConfig } from "./validate";

export { CONFIG_KEYS };

/** Namespaces a stack of this program may set: ours, the providers', and the engine's own. */
export const KNOWN_NAMESPACES = ["fleet", "openstack", "tls", "command", "pulumi"] as const;

/**
 * Reads the `fleet:*` keys as one object through pulumi.Config (structured values come back parsed).
 * Every key is kept, unknown ones too, so a typo is an error rather than silently ignored; `appEnv` is
 * read for its shape only (its values are secrets and never appear in a message).
 */
export function readRawConfig(namespace = "fleet"): Record<string, unknown> {
  return rawConfigFrom(pulumi.runtime.allConfig(), namespace);
}

/** `ns:key` -> text (as the engine passes config) to the namespace's keys with structured values parsed. */
export function rawConfigFrom(flat: Record<string, string>, namespace = "fleet"): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [full, text] of Object.entries(flat)) {
    if (!full.startsWith(`${namespace}:`)) continue;
    try {
      raw[full.slice(namespace.length + 1)] = JSON.parse(text);
    } catch {
      raw[full.slice(namespace.length + 1)] = text;
    }
  }
  return raw;
}

/**
 * Keys in a namespace that is neither ours nor a provider's: almost always a typo (`flet:vpn`), which
 * would otherwise leave the stack without what the key meant to set.
 */
export function strayNamespaceWarnings(keys: string[], namespace = "fleet"): string[] {
  const known = new Set<string>([...KNOWN_NAMESPACES, namespace]);
  const out: string[] = [];
  for (const full of [...keys].sort()) {
    const i = full.indexOf(":");
    if (i < 0) continue;
    const ns = full.slice(0, i);
    if (known.has(ns)) continue;
    const hint = nearest(ns, [namespace]) ? `; did you mean ${namespace}:${full.slice(i + 1)}?` : "";
    out.push(`config key ${full} is in namespace "${ns}", which this program does not read${hint}`);
  }
  return out;
}

/**
 * Reads and validates the stack config. Problems end the program with one clean
 * message (a RunError prints no stack trace) before any resource is registered.
 */
export function loadFleetConfig(namespace = "fleet"): FleetConfig {
  for (const w of strayNamespaceWarnings(Object.keys(pulumi.runtime.allConfig()), namespace)) pulumi.log.warn(w);
  try {
    return parseFleetConfig(readRawConfig(namespace));
  } catch (e) {
    if (e instanceof FleetConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
}
