import { keyPath } from "./errors";

/** A name the shell, systemd's EnvironmentFile= and the app's .env reader all accept. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

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
  }
  return problems;
}
