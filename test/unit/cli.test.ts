/**
 * Every command-line entry point: the same --help (usage on stdout, exit 0, nothing run), and output that
 * survives a pipe at any size (a process that exits before stdout drains loses all past 64 KiB).
 */
import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.join(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

describe.each([
  ["lab", [TSX, "lab/cli.ts"], /^npm run lab -- <command>/],
  ["plan", [TSX, "scripts/plan.ts"], /^npm run plan -- /],
  ["matrix", [TSX, "scripts/matrix.ts"], /^npm run matrix -- /],
  ["audit", [TSX, "scripts/audit.ts"], /^npm run audit -- /],
  ["vpn:profile", [TSX, "scripts/vpn-profile.ts"], /^npm run vpn:profile -- ENGINEER/],
  ["toolchain", ["bash", "scripts/toolchain.sh"], /^Usage: npm run toolchain -- /],
  ["setup", ["bash", "scripts/setup.sh"], /^Usage: bash scripts\/setup.sh/],
  ["lab cloud", ["bash", "lab/openstack/cloud.sh"], /^Usage: bash lab\/openstack\/cloud.sh/],
])("%s --help", (_name, argv, usage) => {
  it.each(["--help", "-h"])("%s prints the usage and exits 0", (flag) => {
    const r = spawnSync(argv[0], [...argv.slice(1), flag], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
    expect(r.stdout).toMatch(usage);
  });
});

describe("piped output", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pipe-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a CLI's output through a pipe is as long as written (1 MiB), when it ends with exitAfterFlush as every CLI here does", () => {
    const script = path.join(dir, "big.ts");
    writeFileSync(
      script,
      `import { exitAfterFlush } from ${JSON.stringify(path.join(ROOT, "scripts", "cli-support"))};\nprocess.stdout.write("x".repeat(1_100_000));\nexitAfterFlush(0);\n`,
    );
    const r = spawnSync("bash", ["-o", "pipefail", "-c", `${TSX} ${script} | wc -c`], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(Number(r.stdout.trim())).toBe(1_100_000);
  });
});

describe("npm run audit without a stack record", () => {
  // PATH holds node and nothing else, so there is surely no Pulumi CLI.
  const bin = mkdtempSync(path.join(os.tmpdir(), "audit-path-"));
  symlinkSync(process.execPath, path.join(bin, "node"));
  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  it.each([
    [[], /^audit: could not run the pulumi CLI \(.*ENOENT\); pass --state FILE instead\n$/],
    [["--state", "/nonexistent/export.json"], /^audit: ENOENT: no such file or directory, open '\/nonexistent\/export\.json'\n$/],
  ])("%j exits 2 with one line, and no stack trace", (args, message) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), "scripts/audit.ts", ...args], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, PATH: bin },
    });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: "" });
    expect(r.stderr).toMatch(message);
  });
});

describe("the offline tools on a stack whose config has an encrypted value", () => {
  // As `pulumi config set --secret fleet:appEnv ...` leaves it in a real stack file.
  const dir = mkdtempSync(path.join(os.tmpdir(), "secret-stack-"));
  const file = path.join(dir, "Pulumi.real.yaml");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeAll(() => {
    const dev = readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8");
    writeFileSync(file, `${dev.trimEnd()}\n  fleet:appEnv:\n    secure: v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n`);
  });

  it.each([
    ["matrix", [TSX, "scripts/matrix.ts", "--config-file", file], /^from\s+to\s+22\/tcp/],
    ["plan", [TSX, "scripts/plan.ts", "--config-file", file, "--out", path.join(dir, "plan")], /^wrote .*plan\.md/],
  ])("npm run %s works, and says it went without the encrypted key", (_name, argv, out) => {
    const r = spawnSync(argv[0] as string, argv.slice(1) as string[], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(out);
    expect(r.stderr).toContain("fleet:appEnv is encrypted (secure:)");
  });
});

describe("a file given as - is read from stdin, however large", () => {
  // 2 MB through a pipe from node: readFileSync(0) failed with EAGAIN there once the SDK had made stdin non-blocking.
  const pad = "x".repeat(2_000_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "stdin-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("npm run plan -- --preview -", () => {
    const preview = JSON.stringify({ pad, steps: [{ op: "same", urn: "urn:pulumi:dev::fleet::pulumi:pulumi:Stack::fleet-dev" }] });
    const r = spawnSync(TSX, ["scripts/plan.ts", "--out", dir, "--preview", "-"], { cwd: ROOT, input: preview, encoding: "utf8", timeout: 120_000 });
    expect([r.status, r.stderr]).toEqual([0, ""]);
  });

  it("npm run audit -- --state -", () => {
    const state = JSON.stringify({ pad, deployment: { resources: [] } });
    const r = spawnSync(TSX, ["scripts/audit.ts", "--state", "-"], { cwd: ROOT, input: state, encoding: "utf8", timeout: 120_000 });
    // It read the whole record: what it says is about the record, not about reading it.
    expect([r.status, r.stderr]).toEqual([2, "audit: the state has no servers (no <host>-ready commands)\n"]);
  });
});
