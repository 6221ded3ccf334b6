import { DeployConfigError } from "./errors";

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Renders shared/.env: sorted `KEY="value"` lines, double-quoted with \ " $ ` escaped.
 * systemd's EnvironmentFile= and the no-systemd fallback in deploy-activate.sh read the
 * same syntax, so one file serves both. The content is a secret: callers keep it in Outputs.
 */
export function renderDotenv(app: string, vars: Record<string, string>): string {
  return Object.keys(vars)
    .sort()
    .map((k) => {
      if (!KEY.test(k)) throw new DeployConfigError(`deploy ${app}: env key ${JSON.stringify(k)} is not a valid variable name`);
      const v = vars[k];
      if (typeof v !== "string") throw new DeployConfigError(`deploy ${app}: env ${k} must be a string`);
      // Never echo the value: it is a secret.
      if (/[\n\r\0]/.test(v)) throw new DeployConfigError(`deploy ${app}: env ${k} contains a line break or NUL`);
      return `${k}="${v.replace(/[\\"$`]/g, (c) => `\\${c}`)}"\n`;
    })
    .join("");
}
