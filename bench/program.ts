/**
 * npm run bench — evaluates the whole program (index.ts) under the mock runtime for fleets of
 * 10, 100 and 1000 servers, against a bare program that registers the same number of instances,
 * in the same process. Prints times, the ratio to the bare program, and t(1000)/t(100).
 */
import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import * as path from "path";
import { installMocks, registered, resetRegistered, setConfig, stackConfig } from "../test/unit/support/mocks";

// Internal but exported: resolves once every outstanding registration has been answered.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { waitForRPCs } = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> };

const ROOT = path.join(__dirname, "..");
const ROLES = ["web", "app", "app", "db"];

function fleetConfig(n: number): Record<string, unknown> {
  const dev = stackConfig();
  const servers = [{ name: "gw-1", role: "gateway" }];
  for (let i = 1; i < n; i++) servers.push({ name: `${ROLES[i % ROLES.length]}-${i}`, role: ROLES[i % ROLES.length] });
  return { ...dev, "fleet:servers": servers, "fleet:network": { cidr: "10.20.0.0/20" } };
}

function freshProgram(): void {
  for (const key of Object.keys(require.cache)) {
    if (key.startsWith(ROOT) && !key.includes("node_modules") && !key.includes(`${path.sep}bench${path.sep}`) && !key.includes(`${path.sep}test${path.sep}`)) {
      delete require.cache[key];
    }
  }
}

async function timeIt(run: () => unknown): Promise<number> {
  installMocks();
  resetRegistered();
  const t0 = process.hrtime.bigint();
  // The program's exports are a promise: it reads the stack's last outputs, then registers.
  await run();
  await waitForRPCs();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function program(n: number): Promise<number> {
  setConfig(fleetConfig(n));
  freshProgram();
  // A fresh require of index.ts is how the program runs again in one process.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return timeIt(() => require(path.join(ROOT, "index")));
}

async function bare(n: number): Promise<number> {
  return timeIt(() => {
    for (let i = 0; i < n; i++) new openstack.compute.Instance(`bare-${i}`, { name: `bare-${i}`, flavorName: "f", imageName: "i" });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_SIZES ?? "10,100,1000").split(",").map(Number);
  const reps = Number(process.env.BENCH_REPS ?? 3);
  await program(10); // warm up module loading and the JIT
  await bare(10);
  const rows: { n: number; prog: number; bare: number; resources: number }[] = [];
  for (const n of sizes) {
    const p: number[] = [];
    const b: number[] = [];
    let resources = 0;
    // The 1000-server program takes minutes under the mock runtime: one repetition there.
    for (let r = 0; r < (n >= 1000 ? 1 : reps); r++) {
      b.push(await bare(n));
      p.push(await program(n));
      resources = registered.length;
    }
    rows.push({ n, prog: median(p), bare: median(b), resources });
  }
  console.log("servers  resources  program(ms)  bare(ms)  program/bare  ms/resource: program  bare  ratio");
  for (const r of rows) {
    const perProg = r.prog / r.resources;
    const perBare = r.bare / r.n;
    console.log(
      [
        String(r.n).padStart(7),
        String(r.resources).padStart(9),
        r.prog.toFixed(0).padStart(11),
        r.bare.toFixed(0).padStart(8),
        (r.prog / r.bare).toFixed(2).padStart(12),
        perProg.toFixed(2).padStart(21),
        perBare.toFixed(2).padStart(5),
        (perProg / perBare).toFixed(2).padStart(6),
      ].join("  "),
    );
  }
  const t100 = rows.find((r) => r.n === 100);
  const t1000 = rows.find((r) => r.n === 1000);
  if (t100 && t1000) console.log(`t(1000)/t(100) = ${(t1000.prog / t100.prog).toFixed(2)} (linear would be 10; target <= 12)`);
  pulumi.log.info("done");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
