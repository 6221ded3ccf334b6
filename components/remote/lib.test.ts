/** lib.sh's fleet_lock, run by bash as the remote scripts run it: the one lock design on hosts. */
import { spawn } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import * as os from "os";
import * as path from "path";
import { runSync } from "../../scripts/process";
import { remoteScriptPath } from "./bundle";

const LIB = path.join(__dirname, "..", "..", remoteScriptPath("lib"));
const dir = mkdtempSync(path.join(os.tmpdir(), "fleet-lock-"));
const lock = path.join(dir, "deploy.lock");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// `bash -c SCRIPT _ LIB LOCK WAIT`: data as arguments, never spliced into the script.
const locked = (body: string) => `. "$1"; fleet_lock "$2" "$3" "deploy of shop on app-1" "who=alice release=v1"; ${body}`;

describe("fleet_lock", () => {
  it("refuses a second run while the first holds it, naming the holder, and lets go when the holder exits", async () => {
    // The first run holds the lock until its stdin closes, which the test does once the second run has tried.
    const first = spawn("bash", ["-c", locked("echo held; cat >/dev/null"), "_", LIB, lock, "0"], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    first.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => first.on("close", resolve));
    // It holds the lock once it printed (fleet_lock returned before the echo).
    await new Promise<void>((resolve) => first.stdout.once("data", () => resolve()));
    const second = runSync(["bash", "-c", locked("echo second"), "_", LIB, lock, "0"]);
    first.stdin.end();
    await exited;
    expect(out).toBe("held\n");
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^fleet: deploy of shop on app-1 is locked by another run: pid=\d+ host=\S+ since=\S+Z who=alice release=v1/);
    expect(runSync(["bash", "-c", locked("echo third"), "_", LIB, lock, "0"]).stdout).toBe("third\n");
  });

  it("is let go when its holder is killed: never stale", () => {
    const r = runSync(["bash", "-c", `(${locked("kill -KILL $BASHPID")}) ; . "$1"; fleet_lock "$2" 0 "x"; echo free`, "_", LIB, lock, "0"]);
    expect(r.stdout).toBe("free\n");
  });
});
