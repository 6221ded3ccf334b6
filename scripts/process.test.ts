import { runAsync, runSync } from "./process";

describe.each([
  ["runAsync", (argv: string[], o = {}) => runAsync(argv, o)],
  ["runSync", async (argv: string[], o = {}) => runSync(argv, o)],
])("%s", (_name, run) => {
  it("returns the exit code and both streams, and passes stdin", async () => {
    const r = await run(["sh", "-c", 'read -r x; echo "out:$x"; echo err >&2; exit 3'], { input: "in\n" });
    expect(r).toEqual({ code: 3, stdout: "out:in\n", stderr: "err\n" });
  });

  it("adds env to this process's environment and runs in cwd", async () => {
    const r = await run(["sh", "-c", 'echo "$FLEET_T $PWD ${PATH:+path}"'], { env: { FLEET_T: "x" }, cwd: "/tmp" });
    expect(r.stdout).toBe("x /tmp path\n");
  });

  it("stops a run past its timeout", async () => {
    const r = await run(["sleep", "5"], { timeoutMs: 200 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("sleep: stopped after 0.2 s (its time limit)");
  });

  it("names a program that cannot start", async () => {
    await expect(Promise.resolve().then(() => run(["/nonexistent/prog"]))).rejects.toThrow("/nonexistent/prog");
  });
});

it("runAsync streams output as it comes", async () => {
  const seen: string[] = [];
  await runAsync(["sh", "-c", "echo a; echo b >&2"], { onOutput: (t) => seen.push(t) });
  expect(seen.join("")).toMatch(/a\n/);
  expect(seen.join("")).toMatch(/b\n/);
});
