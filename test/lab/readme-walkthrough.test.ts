/**
 * The README's lab walkthrough, run as written: the commands of its "Try it locally" code block, in order,
 * from the repository root, so the documentation cannot drift from what the lab does. Each command must
 * exit 0 (the block itself marks the one that fails by design with `|| echo`).
 */
import { readFileSync, existsSync, rmSync } from "fs";
import * as path from "path";
import { describeLab } from "./guard";
import { REPO_ROOT, layout } from "../../lab/layout";
import { runAsync, RunResult } from "../../lab/sh";
import { lab } from "./support";

/** The first ```sh block after the heading, one command per line, comments and blanks dropped. */
export function walkthroughCommands(readme: string, heading = "## Try it locally: the lab"): string[] {
  const at = readme.indexOf(heading);
  if (at < 0) throw new Error(`README has no "${heading}" section`);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error(`README's "${heading}" section has no sh code block`);
  return block[1]
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** A command without its trailing `# comment` (none of the block's commands has a # inside quotes). */
const bare = (command: string) => command.replace(/\s+#.*$/, "");
/** What a command printed, less npm's own "> package@version script" header. */
const printed = (r: RunResult | undefined) =>
  (r?.stdout ?? "")
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("> "))
    .join("\n");

describeLab("lab: the README walkthrough runs as written", () => {
  const commands = walkthroughCommands(readFileSync(path.join(REPO_ROOT, "README.md"), "utf8"));
  const results: { command: string; r: RunResult }[] = [];
  const dev = lab("dev");

  beforeAll(async () => {
    await dev.down();
    for (const command of commands) {
      const r = await runAsync(["bash", "-o", "pipefail", "-c", `cd ${JSON.stringify(REPO_ROOT)} && ${command}`], { timeoutMs: 300_000 });
      results.push({ command, r });
      if (r.code !== 0) break;
    }
  }, 1_200_000);
  afterAll(async () => {
    await dev.down();
    for (const f of ["/root/alice.ovpn", "/root/alice.log", "/root/alice.pid"]) rmSync(f, { force: true });
  });

  it("has the commands the walkthrough promises", () => {
    expect(bare(commands[0])).toBe("npm run lab -- up");
    expect(bare(commands[commands.length - 1])).toBe("npm run lab -- down");
  });

  it("every command exits 0", () => {
    expect(results.map(({ command, r }) => ({ command, code: r.code, err: r.code === 0 ? "" : r.stderr.slice(-800) }))).toEqual(
      commands.map((command) => ({ command, code: 0, err: "" })),
    );
  });

  it("prints what the README says it prints", () => {
    const out = (prefix: string, nth = 0) => printed(results.filter((x) => bare(x.command).startsWith(prefix))[nth]?.r);
    // pulumi's own summary: the first up creates the fleet, the second changes nothing.
    expect(out("npm run lab -- up")).toMatch(/Resources:\s+\+ \d+ created/);
    expect(out("npm run lab -- up")).toContain("lab stack dev: up.");
    expect(out("npm run lab -- status").split("\n")[0]).toMatch(/^app-1 .* ACTIVE sshd \d+$/);
    expect(out("npm run lab -- exec app-1")).toBe("ok");
    expect(out("npm run lab -- exec eng1 -- curl")).toContain("no route from outside");
    expect(out("npm run lab -- exec eng1 -- sh -c 'for")).toBe("ok");
    expect(out("npm run lab -- up", 1)).toMatch(/Resources:\s+\d+ unchanged\s*\n/);
    expect(out("npm run lab -- up", 1)).not.toMatch(/created|updated|replaced|deleted/);
    expect(out("npm run lab -- audit")).toMatch(/All \d+ checks on 6 hosts in sync\./);
    expect(out("npm run lab -- down")).toMatch(/lab stack dev: destroyed; 0 cloud objects purged after it/);
    expect(existsSync(layout("dev").dir)).toBe(false);
  });
});
