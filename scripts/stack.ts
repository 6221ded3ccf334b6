/** Reads a stack's config offline (Pulumi.<stack>.yaml), validated like `pulumi up` would. */
import { parseFleetConfig } from "../components/config/validate";
import { FleetConfig } from "../components/config/types";
import { FleetConfigError } from "../components/config/errors";
import { rawConfigFrom } from "../components/config/load";
import { encryptedNote } from "../components/config/stack-yaml";
import { readStackConfig, stackFilePath, projectName } from "./stack-file";
import { exitAfterFlush, printHelp } from "./cli-support";

export { flag } from "./cli-support";

export function rawConfigOf(stack: string, file?: string): Record<string, unknown> {
  const project = projectName();
  const where = stackFilePath(stack, file);
  const read = readStackConfig(where, project);
  const note = encryptedNote(where, read.encryptedKeys);
  if (note) console.error(note);
  return rawConfigFrom(read.flat, project);
}

export function fleetConfigOf(stack: string, file?: string): FleetConfig {
  return parseFleetConfig(rawConfigOf(stack, file));
}

/**
 * Runs a CLI main: `--help` prints the script's doc comment, config errors print as one clean message
 * (exit 1), and the process exits only once its output is flushed.
 */
export function runCli(file: string, main: (argv: string[]) => void | number | Promise<void | number>): void {
  const argv = process.argv.slice(2);
  if (printHelp(argv, file)) return exitAfterFlush(0);
  Promise.resolve()
    .then(() => main(argv))
    .then(
      (code) => exitAfterFlush(typeof code === "number" ? code : 0),
      (e: unknown) => {
        const msg = e instanceof FleetConfigError || e instanceof Error ? e.message : String(e);
        console.error(`error: ${msg}`);
        exitAfterFlush(1);
      },
    );
}
