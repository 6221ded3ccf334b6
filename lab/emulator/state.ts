/**
 * The lab's stack state: per URN, the inputs a resource was made from and the
 * outputs it returned, so the next `up` can tell unchanged from changed
 * resources the way the engine does. Secrets are kept in the SDK's wire form
 * (the file is 0600 under .lab/, which is git-ignored).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "fs";
import * as path from "path";

export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface ResourceRecord {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  id?: string;
  /** Plain inputs (secrets unwrapped), for comparison. */
  inputs: Record<string, Json>;
  /** Outputs as returned to the SDK (secrets wrapped). */
  outputs: Record<string, Json>;
  /** Creation order; deletes run in reverse. */
  seq: number;
}

export interface LabState {
  version: 1;
  stack: string;
  seq: number;
  resources: Record<string, ResourceRecord>;
}

export function secret(value: Json): Json {
  return { [SECRET_SIG_KEY]: SECRET_SIG, value };
}

export function isSecretWrapper(v: unknown): v is { value: Json } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

/** Inputs as plain data: secret wrappers removed, undefined dropped, resources by URN. */
export function unwrap(v: unknown): Json {
  if (isSecretWrapper(v)) return unwrap(v.value);
  if (v === undefined || v === null) return null;
  if (Array.isArray(v)) return v.map(unwrap);
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    // A resource reference deserialised by the SDK: compare it by identity, not by its internals.
    if (typeof o.__pulumiResource === "boolean" || (o.urn !== undefined && typeof (o as { getProvider?: unknown }).getProvider === "function")) {
      return `resource:${String((o as { __name?: string }).__name ?? "")}`;
    }
    const out: Record<string, Json> = {};
    for (const k of Object.keys(o).sort()) {
      if (o[k] !== undefined) out[k] = unwrap(o[k]);
    }
    return out;
  }
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  return String(v);
}

/** Whether any secret wrapper appears inside v. */
export function containsSecret(v: unknown): boolean {
  if (isSecretWrapper(v)) return true;
  if (Array.isArray(v)) return v.some(containsSecret);
  if (typeof v === "object" && v !== null) return Object.values(v).some(containsSecret);
  return false;
}

function canonical(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => v[k] !== null)
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

export function sameInputs(a: Record<string, Json>, b: Record<string, Json>): boolean {
  return canonical(a) === canonical(b);
}

/** The input keys whose values differ, for the `~ replace` line. */
export function changedKeys(a: Record<string, Json>, b: Record<string, Json>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => canonical(a[k] ?? null) !== canonical(b[k] ?? null)).sort();
}

export function loadState(file: string, stack: string): LabState {
  if (!existsSync(file)) return { version: 1, stack, seq: 0, resources: {} };
  const s = JSON.parse(readFileSync(file, "utf8")) as LabState;
  if (s.version !== 1) throw new Error(`${file}: unknown lab state version ${s.version}`);
  return s;
}

export function saveState(file: string, state: LabState): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 1), { mode: 0o600 });
  renameSync(tmp, file);
}
