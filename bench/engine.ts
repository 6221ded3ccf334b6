/**
 * npm run bench:engine -- [--sizes 10,100,1000] [--help]
 *
 * `pulumi preview` of generated fleets under the real CLI and providers, against the lab's OpenStack, and of a bare
 * program (bench/engine-bare) that registers exactly as many resources of each type, with constant inputs, under
 * the same engine in the same run. First a preview of each at the smallest size, shown apart: the first after a
 * change pays for compiling the TypeScript. Per size: wall time, the Node program's own lifetime, resources, peak memory
 * (VmHWM) of the CLI and of the Node program, and the time per resource of the program over the bare one, on a
 * line ending in `<ratio>× bare`. Then t(1000)/t(100) of both where both sizes ran.
 */
import { spawn } from "child_process";
import { createReadStream, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { createInterface } from "readline";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { layout, REPO_ROOT } from "../lab/layout";
import { countApiRequests } from "../lab/openstack/requests";
import { GrpcSummary, summariseGrpcLog } from "./grpc-log";
import { prepareRealStack, pulumiArgv, realStack } from "../lab/pulumi-cli";
import { stackConfig } from "../test/unit/support/mocks";

const HELP = `Usage: npm run bench:engine -- [--sizes 10,100,1000] [--calls]

pulumi preview of generated fleets (gw-1, then roles web, app, app, db in turn) under the real CLI against the
lab's OpenStack, against a bare program that registers as many resources of each type, in the same run.
Each is previewed once first at the smallest size, shown apart: the first preview after a change pays for
compiling the program's TypeScript.
--calls  then previews each once more, recording the engine's gRPC traffic (PULUMI_DEBUG_GRPC) and the cloud's
         access logs: registrations, provider calls and invokes, the dependency URNs the engine was sent, and the
         OpenStack API requests, per server; how long building and registering took, and the longest chain of
         resources that wait for each other. (Recording slows a run: these are not timed.)
Needs the toolchain (npm run toolchain) and root (the lab cloud); starts the cloud if it is not running.`;

const ROLES = ["web", "app", "app", "db"];

/** The dev stack with n servers, on a network that holds them. */
function fleetConfig(n: number): Record<string, unknown> {
  const servers = [{ name: "gw-1", role: "gateway" }];
  for (let i = 1; i < n; i++) servers.push({ name: `${ROLES[i % ROLES.length]}-${i}`, role: ROLES[i % ROLES.length] });
  return { ...stackConfig(), "fleet:servers": servers, "fleet:network": { cidr: "10.20.0.0/20" } };
}

interface Run {
  wallMs: number;
  /** From the Node program's first sighting to its last (sampled every 50 ms). */
  programMs: number;
  resources: number;
  counts: Record<string, number>;
  cliPeakMiB: number;
  programPeakMiB: number;
}

/** pid → [parent pid, command line] for every process. */
function processTable(): Map<number, [number, string]> {
  const out = new Map<number, [number, string]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.set(Number(e), [ppid, readFileSync(`/proc/${e}/cmdline`, "utf8").replace(/\0/g, " ")]);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
const peakKiB = (pid: number) => {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
};

/** `pulumi preview --json` of a prepared stack, watched from outside: its time, steps and memory. */
function preview(stack: string, env: Record<string, string>, cwd?: string): Promise<Run> {
  const argv = pulumiArgv(realStack(layout(stack)), ["preview", "--json", ...(cwd ? ["--cwd", cwd] : [])]);
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const p = spawn(argv[0], argv.slice(1), { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let cli = 0;
    let prog = 0;
    let first = 0;
    let last = 0;
    // Peaks are the kernel's (VmHWM), read while the processes live; sampling only finds them.
    const sample = setInterval(() => {
      const table = processTable();
      const tree = new Set([p.pid!]);
      for (let grew = true; grew;) {
        grew = false;
        for (const [pid, [ppid]] of table) {
          if (tree.has(ppid) && !tree.has(pid)) {
            tree.add(pid);
            grew = true;
          }
        }
      }
      for (const pid of tree) {
        const cmd = table.get(pid)?.[1] ?? "";
        if (/(^|\/)pulumi (preview|--)/.test(cmd) || (pid === p.pid && cmd.includes("pulumi"))) cli = Math.max(cli, peakKiB(pid));
        if (cmd.includes("@pulumi/pulumi/cmd/run")) {
          prog = Math.max(prog, peakKiB(pid));
          first ||= Date.now();
          last = Date.now();
        }
      }
    }, 50);
    p.on("error", reject);
    p.on("close", (code) => {
      clearInterval(sample);
      if (code !== 0) return reject(new Error(`pulumi preview of ${stack} failed (${code}): ${(stderr || stdout).slice(-2000)}`));
      const steps = (JSON.parse(stdout) as { steps: { op: string; urn: string }[] }).steps;
      const counts: Record<string, number> = {};
      for (const s of steps) {
        const type = s.urn.split("::")[2].split("$").pop()!;
        if (type.startsWith("pulumi:")) continue; // the stack and the default providers: both programs have them
        counts[type] = (counts[type] ?? 0) + 1;
      }
      resolve({
        wallMs: Date.now() - t0,
        programMs: last - first,
        resources: Object.values(counts).reduce((a, b) => a + b, 0),
        counts,
        cliPeakMiB: cli / 1024,
        programPeakMiB: prog / 1024,
      });
    });
  });
}

type Calls = GrpcSummary & { openstack: Record<string, number> };

/** One more preview with the engine's gRPC log on: what the program and the providers asked, and of the cloud. */
async function calls(stack: string, env: Record<string, string>, cwd?: string): Promise<Calls> {
  const log = path.join(layout(stack).dir, "grpc.jsonl");
  rmSync(log, { force: true });
  const requests = countApiRequests();
  await preview(stack, { ...env, PULUMI_DEBUG_GRPC: log }, cwd);
  const summary = summariseGrpcLog(createInterface({ input: createReadStream(log) }));
  const out = { ...(await summary), openstack: requests() };
  rmSync(log, { force: true });
  return out;
}

function describeCalls(c: Calls, servers: number): string {
  const list = (m: Record<string, number>) =>
    Object.entries(m)
      .filter(([, v]) => v > 0)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none";
  const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  const per = (n: number) => (n / servers).toFixed(1);
  return (
    `${c.registrations} registrations, ${c.dependencyUrns} dependency URNs (${(c.dependencyUrns / c.registrations).toFixed(1)} each); ` +
    `provider calls ${sum(c.provider)} (${per(sum(c.provider))}/server: ${list(c.provider)}); invokes ${list(c.invokes)}; ` +
    `OpenStack requests ${sum(c.openstack)} (${per(sum(c.openstack))}/server: ${list(c.openstack)}); ` +
    `building ${s2(c.loadMs)} (from the stack's registration to the next answer), registering ${s2(c.registerMs)}; ` +
    `longest dependency chain ${c.chain.length}: ${c.chain.join(" → ")}`
  );
}

async function stackFor(stack: string, config: Record<string, unknown>): Promise<Record<string, string>> {
  const L = layout(stack);
  mkdirSync(L.dir, { recursive: true });
  const file = path.join(L.dir, "bench.yaml");
  writeFileSync(file, stringify({ config }));
  return prepareRealStack(L, file, () => undefined);
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const s2 = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(argv: string[]): Promise<void> {
  if (argv.includes("--help")) return void console.log(HELP);
  const withCalls = argv.includes("--calls");
  const i = argv.indexOf("--sizes");
  const sizes = (i >= 0 ? argv[i + 1] : "10,100,1000").split(",").map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 4000)) throw new Error(`--sizes: whole numbers 2–4000, comma separated (got ${argv[i + 1]})`);
  console.log(`bench:engine on ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}: pulumi preview, program vs bare`);
  const rows: { n: number; prog: Run; bare: Run }[] = [];
  // The first preview after a change to a program pays for compiling its TypeScript (Pulumi's ts-node caches the
  // result): shown once, and kept out of the ratios, which compare the work per resource.
  {
    const n = Math.min(...sizes);
    const config = fleetConfig(n);
    const prog = await preview(`bep${n}`, await stackFor(`bep${n}`, config));
    const bare = await preview(`beb${n}`, await stackFor(`beb${n}`, { ...config, "bench:counts": prog.counts }), path.join(REPO_ROOT, "bench", "engine-bare"));
    console.log(
      `first preview (${n} servers; includes compiling, if the program changed since its last run): program ${s(prog.wallMs)}, bare ${s(bare.wallMs)}`,
    );
  }
  for (const n of sizes) {
    const config = fleetConfig(n);
    const prog = await preview(`bep${n}`, await stackFor(`bep${n}`, config));
    const bareEnv = await stackFor(`beb${n}`, { ...config, "bench:counts": prog.counts });
    const bare = await preview(`beb${n}`, bareEnv, path.join(REPO_ROOT, "bench", "engine-bare"));
    rows.push({ n, prog, bare });
    const ratio = prog.wallMs / prog.resources / (bare.wallMs / bare.resources);
    console.log(
      `${String(n).padStart(5)} servers: program ${s(prog.wallMs)} (node ${s(prog.programMs)}, ${prog.resources} resources, CLI ${prog.cliPeakMiB.toFixed(0)} MiB, node ${prog.programPeakMiB.toFixed(0)} MiB)` +
        ` | bare ${s(bare.wallMs)} (node ${s(bare.programMs)}, ${bare.resources} resources, CLI ${bare.cliPeakMiB.toFixed(0)} MiB, node ${bare.programPeakMiB.toFixed(0)} MiB)` +
        ` | per resource ${ratio.toFixed(2)}× bare`,
    );
    if (withCalls) {
      console.log(`        calls, program: ${describeCalls(await calls(`bep${n}`, await stackFor(`bep${n}`, config)), n)}`);
      console.log(`        calls, bare:    ${describeCalls(await calls(`beb${n}`, bareEnv, path.join(REPO_ROOT, "bench", "engine-bare")), n)}`);
    }
  }
  const at = (n: number) => rows.find((r) => r.n === n);
  const [a, b] = [at(100), at(1000)];
  if (a && b) {
    console.log(
      `t(1000)/t(100): program ${(b.prog.wallMs / a.prog.wallMs).toFixed(2)}, bare ${(b.bare.wallMs / a.bare.wallMs).toFixed(2)} (goal: program <= 10.5)`,
    );
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(`bench:engine: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
