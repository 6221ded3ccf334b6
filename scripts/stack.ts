/** Reads a stack's config offline (Pulumi.<stack>.yaml), validated like `pulumi up` would. */
import { parseFleetConfig } from "../components/config/validate";
import { FleetConfig } from "../components/config/types";
import { FleetConfigError } from "../components/config/errors";
import { readStackConfig, stackFilePath, projectName } from "../lab/stackfile";

export function rawConfigOf(stack: string, file?: string): Record<string, unknown> {
  const project = projectName();
  const flat = readStackConfig(stackFilePath(stack, file), project);
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flat)) {
    const [ns, key] = k.split(":");
    if (ns !== project || key === "appEnv") continue;
    try {
      raw[key] = JSON.parse(v);
    } catch {
      raw[key] = v;
    }
  }
  return raw;
}

export function fleetConfigOf(stack: string, file?: string): FleetConfig {
  return parseFleetConfig(rawConfigOf(stack, file));
}

/** `--name value` from argv. */
export function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Runs a CLI main; config errors print as one clean message, exit 1. */
export function runCli(main: () => void | Promise<void>): void {
  Promise.resolve()
    .then(main)
    .catch((e: unknown) => {
      const msg = e instanceof FleetConfigError || e instanceof Error ? e.message : String(e);
      console.error(`error: ${msg}`);
      process.exit(1);
    });
}
