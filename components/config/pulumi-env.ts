/**
 * How `pulumi up` hands a stack's config to this program: the Node.js language host puts all of it, decrypted, as
 * JSON in one environment variable, PULUMI_CONFIG, with keys as `<namespace>:config:<name>`
 * (pulumi-language-nodejs main.go, constructConfig; Go's json.Marshal, which escapes <, > and & as \u003c...).
 * Linux passes one environment string of at most MAX_ARG_STRLEN, 131072 bytes with its NUL
 * (include/uapi/linux/binfmts.h). A larger config never starts the program: the CLI says only
 * `fork/exec node: argument list too long`. So the tools that read a stack before pulumi does (npm run plan, the lab)
 * check it here and name the keys that take the room.
 */
export const MAX_ENV_STRING_BYTES = 131071;

/** Go's json.Marshal of a string map: JSON, with <, >, &, U+2028 and U+2029 escaped. */
function goJson(map: Record<string, string>): string {
  return JSON.stringify(map).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The bytes of `PULUMI_CONFIG=<json>` for a flat config (`ns:key` -> string, as the CLI holds it). */
export function pulumiConfigBytes(flat: Record<string, string>): number {
  const transformed: Record<string, string> = {};
  for (const [k, v] of Object.entries(flat)) {
    const i = k.indexOf(":");
    transformed[i < 0 ? k : `${k.slice(0, i)}:config:${k.slice(i + 1)}`] = v;
  }
  return Buffer.byteLength(`PULUMI_CONFIG=${goJson(transformed)}`);
}

/** Problems (none, or one naming the largest keys) with a flat config's size as pulumi passes it. */
export function pulumiConfigProblems(flat: Record<string, string>): string[] {
  const bytes = pulumiConfigBytes(flat);
  if (bytes <= MAX_ENV_STRING_BYTES) return [];
  const largest = Object.entries(flat)
    .map(([k, v]) => ({ k, n: Buffer.byteLength(v) }))
    .sort((a, b) => b.n - a.n)
    .slice(0, 3)
    .map(({ k, n }) => ({ k, n }));
  return [
    `${largest[0].k}: the stack's config is ${bytes} bytes as pulumi passes it to the program (all of it in one environment ` +
      `variable, PULUMI_CONFIG), over Linux's ${MAX_ENV_STRING_BYTES} (MAX_ARG_STRLEN); the program would not start. ` +
      `Largest: ${largest.map(({ k, n }) => `${k} (${n} bytes)`).join(", ")}. Ship large data as a file with the release instead.`,
  ];
}
