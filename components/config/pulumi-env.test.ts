import { spawnSync } from "child_process";
import fc from "fast-check";
import { MAX_ENV_STRING_BYTES, pulumiConfigBytes, pulumiConfigProblems } from "./pulumi-env";

/** Whether Linux starts a process with PULUMI_CONFIG set as the language host sets it for this config. */
function kernelAccepts(flat: Record<string, string>): boolean {
  const transformed = Object.fromEntries(Object.entries(flat).map(([k, v]) => [k.replace(":", ":config:"), v]));
  const json = JSON.stringify(transformed).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  const r = spawnSync("/bin/true", [], { env: { PULUMI_CONFIG: json } });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== "E2BIG") throw r.error;
  return !r.error;
}

/** A config of `bytes` bytes as pulumi passes it, its bulk in fleet:appEnv. */
function sized(bytes: number, filler = "x"): Record<string, string> {
  const base = { "fleet:vpn": '{"port":1194}', "fleet:appEnv": "" };
  const room = bytes - pulumiConfigBytes(base);
  return { ...base, "fleet:appEnv": filler.repeat(room / Buffer.byteLength(filler)) };
}

describe("the stack's config as pulumi passes it to the program (PULUMI_CONFIG)", () => {
  it.each([
    ["at the limit", MAX_ENV_STRING_BYTES, true],
    ["one byte over", MAX_ENV_STRING_BYTES + 1, false],
  ])("%s: what the kernel accepts is what the check accepts", (_what, bytes, fits) => {
    const flat = sized(bytes);
    expect(pulumiConfigBytes(flat)).toBe(bytes);
    expect(kernelAccepts(flat)).toBe(fits);
    expect(pulumiConfigProblems(flat).length === 0).toBe(fits);
  });

  it("counts the escapes Go's JSON adds (<, >, & become \\u003c...) and multi-byte characters", () => {
    fc.assert(
      fc.property(fc.constantFrom("<", "&", "é", "\u2028", '"', "a"), fc.integer({ min: -3, max: 3 }), (ch, delta) => {
        // As many of `ch` as fill the limit by the kernel's count (each escaped or multi-byte character costs the
        // same), then a few more or fewer: both sides of the limit.
        const per = pulumiConfigBytes({ "fleet:appEnv": ch.repeat(2) }) - pulumiConfigBytes({ "fleet:appEnv": ch });
        const fill = Math.floor((MAX_ENV_STRING_BYTES - pulumiConfigBytes({ "fleet:appEnv": "" })) / per);
        const flat = { "fleet:appEnv": ch.repeat(fill + delta) };
        expect(pulumiConfigProblems(flat).length === 0).toBe(kernelAccepts(flat));
        expect(kernelAccepts(flat)).toBe(delta <= 0);
      }),
      { numRuns: 30 },
    );
  });

  it("names the key that takes the room, its size and the limit, and says what to do", () => {
    const [problem] = pulumiConfigProblems(sized(MAX_ENV_STRING_BYTES + 10));
    expect(problem).toMatch(/^fleet:appEnv: the stack's config is 131081 bytes as pulumi passes it/);
    expect(problem).toContain("over Linux's 131071 (MAX_ARG_STRLEN)");
    expect(problem).toMatch(/Largest: fleet:appEnv \(\d+ bytes\), fleet:vpn \(13 bytes\)/);
  });
});
