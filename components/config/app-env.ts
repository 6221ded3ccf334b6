import { keyPath } from "./errors";

/** A name the shell, systemd's EnvironmentFile= and the app's .env reader all accept. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * What Linux lets a process carry (include/uapi/linux/binfmts.h): one `KEY=value` string of at most MAX_ARG_STRLEN
 * (32 pages, 131072 bytes with its NUL), and all of argv and envp within ARG_MAX (a quarter of the 8 MiB default
 * stack, 2 MiB). The app's environment gets the larger part of that; the rest is left for PATH, the command and what
 * systemd adds.
 */
export const MAX_ENV_ENTRY_BYTES = 131071;
export const MAX_ENV_TOTAL_BYTES = 1536 * 1024;

/**
 * Checks `fleet:appEnv`, the app's secret environment. Messages name the key and say what is wrong with the
 * value, but never show a value: it is a secret.
 */
export function appEnvProblems(value: unknown): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return [
      `fleet:appEnv: must be a map of variable names to text, set with \`pulumi config set --secret --path 'appEnv.NAME' VALUE\` (got ${
        Array.isArray(value) ? "a list" : typeof value
      })`,
    ];
  }
  const problems: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const key = keyPath(["appEnv", k]);
    if (!ENV_NAME.test(k)) problems.push(`${key}: ${JSON.stringify(k)} is not a valid variable name (letters, digits and _, not starting with a digit)`);
    else if (k === "PORT") problems.push(`${key}: PORT is set from fleet:deploy.port; remove it from fleet:appEnv`);
    if (typeof v !== "string") {
      problems.push(
        `${key}: must be text (got ${v === null ? "null" : typeof v}); quote the value, e.g. pulumi config set --secret --path '${key.slice(6)}' "..."`,
      );
    } else if (/[\n\r\0]/.test(v)) problems.push(`${key}: the value contains a line break or NUL, which a .env file cannot hold`);
    else if (entryBytes(k, v) > MAX_ENV_ENTRY_BYTES) {
      problems.push(
        `${key}: the value is ${Buffer.byteLength(v)} bytes; Linux passes one variable of at most ${MAX_ENV_ENTRY_BYTES} bytes with its name ` +
          `(MAX_ARG_STRLEN): ship larger data as a file with the release, not in the environment`,
      );
    }
  }
  const total = Object.entries(value).reduce((n, [k, v]) => n + (typeof v === "string" ? entryBytes(k, v) + 1 : 0), 0);
  if (total > MAX_ENV_TOTAL_BYTES) {
    problems.push(
      `fleet:appEnv: ${total} bytes in all; a process's environment and arguments share ARG_MAX (2 MiB), so the app gets at most ` +
        `${MAX_ENV_TOTAL_BYTES} bytes: move the largest values into files`,
    );
  }
  return problems;
}

function entryBytes(k: string, v: string): number {
  return Buffer.byteLength(k) + 1 + Buffer.byteLength(v);
}
