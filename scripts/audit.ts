/**
 * npm run audit -- [--stack NAME] [--state FILE|-] [--repair] [--json]
 *
 * Connects to every host of a stack with its pinned host keys and compares what each host really runs with what
 * the stack last applied: firewall rules and sets (as the kernel reports them), the gateway's OpenVPN config and
 * allow-list, the sshd configuration, and the deployed release and its health. One line per host and check,
 * `in sync` or `DRIFTED` with the reason; exits 1 when anything drifted, 2 when it could not audit.
 * Hosts are reached from this machine, private ones through the gateway, as `pulumi up` reaches them.
 *
 *   --stack NAME   the Pulumi stack (default: the selected one); its record comes from
 *                  `pulumi stack export --show-secrets`
 *   --state FILE   read that record from a file written by `pulumi stack export --show-secrets` (`-`: stdin)
 *   --repair       re-run the stack's own steps for what drifted (firewall apply + confirm from a new connection,
 *                  VPN configure; for sshd, the drop-in from the instance's user data, checked with sshd -t, then a
 *                  reload that keeps open sessions; deploy activate), then audit again
 *   --json         one JSON document instead of lines
 *
 * A lab stack: npm run lab -- audit [--stack NAME] [--repair] [--json]
 */
import { RunResult, runSync } from "./process";
import { mkdtempSync, rmSync } from "fs";
import * as os from "os";
import * as path from "path";
import { fromStackExport } from "./audit/checks";
import { auditFleet } from "./audit/run";
import { exitAfterFlush, printHelp, readInput } from "./cli-support";

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** The stack's record: the file given, or what the Pulumi CLI exports (secrets shown: the audit needs the keys). */
async function stackExport(argv: string[]): Promise<string> {
  const state = arg(argv, "--state");
  if (state !== undefined) return readInput(state);
  const stack = arg(argv, "--stack");
  let r: RunResult;
  try {
    r = runSync(["pulumi", "stack", "export", "--show-secrets", ...(stack ? ["--stack", stack] : [])], { timeoutMs: 0 });
  } catch (e) {
    throw new Error(`could not run the pulumi CLI (${(e as Error).message}); pass --state FILE instead`, { cause: e });
  }
  if (r.code !== 0) throw new Error(`pulumi stack export failed: ${r.stderr.trim()}`);
  return r.stdout;
}

async function main(argv: string[]): Promise<number> {
  if (printHelp(argv, __filename)) return 0;
  const resources = fromStackExport(JSON.parse(await stackExport(argv)));
  const tmpRoot = mkdtempSync(path.join(os.tmpdir(), "fleet-audit-"));
  try {
    return await auditFleet(resources, {
      tmpRoot,
      repair: argv.includes("--repair"),
      json: argv.includes("--json"),
      repairHint: "npm run audit -- --repair",
      write: (s) => process.stdout.write(s),
    });
  } finally {
    rmSync(tmpRoot, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(exitAfterFlush, (e: Error) => {
  process.stderr.write(`audit: ${e.message}\n`);
  exitAfterFlush(2);
});
