/**
 * Pulumi's secrets as plain data: how the runtime passes them (to mocks, in registrations) and how a state file
 * holds them (`pulumi stack export --show-secrets`). The one place in this project that knows the marker.
 */

/**
 * The key every special value carries, and its value for a secret: the SDK's `runtime.specialSigKey` and
 * `specialSecretSig` (secrets.test.ts holds them equal). Written out so that the operator tools (audit, recover) do
 * not load the SDK: loading it makes stdin non-blocking, and `--state -` then failed with EAGAIN.
 */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** The runtime's form: `{sig, value}`. A state file's: `{sig, plaintext: <JSON text>}`. */
export type WrappedSecret = { [SECRET_SIG: string]: unknown; value?: unknown; plaintext?: string };

export function isSecret(v: unknown): v is WrappedSecret {
  return v !== null && typeof v === "object" && !Array.isArray(v) && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE;
}

/** The value inside one secret, in either form. */
export function secretValue(v: WrappedSecret): unknown {
  return typeof v.plaintext === "string" ? JSON.parse(v.plaintext) : v.value;
}

/** A deep copy with every secret, in either form and at any depth, replaced by its value. */
export function unwrapSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (isSecret(v)) return unwrapSecrets(secretValue(v));
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  return v;
}

/** A secret in the runtime's form (what a mock returns), or in a state file's (what `stack import` encrypts). */
export function wrapSecret(value: unknown, form: "runtime" | "state" = "runtime"): WrappedSecret {
  return form === "state" ? { [SECRET_SIG]: SECRET_VALUE, plaintext: JSON.stringify(value) } : { [SECRET_SIG]: SECRET_VALUE, value };
}
