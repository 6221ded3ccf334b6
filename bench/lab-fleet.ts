/**
 * npm run bench:lab-fleet -- [--servers 50] [--parallel N] [--keep] [--help]
 *
 * A generated fleet in the lab under the real CLI, providers and OpenStack, on hosts the lab's hypervisor boots:
 * `up` from empty, a no-op `up`, then `up` with one server added. Per run: wall time, remote commands (and which),
 * the machine's peak memory in use and its load, and what the time went to, from the engine's own events: how long
 * cloud resources, hosts' readiness and the other remote commands were in flight, and the most at once.
 */
import { readFileSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { layout } from "../lab/layout";
import { cloud } from "../lab/openstack";
import { countApiRequests } from "../lab/openstack/requests";
import { prepareRealStack, runPulumi } from "../lab/pulumi-cli";
import { eventErrors, eventSteps, labExecArgv, realDown, remoteRuns, Step } from "../lab/real-stack";
import { run } from "../lab/sh";
import { stackConfig } from "../test/unit/support/mocks";

const HELP = `Usage: npm run bench:lab-fleet -- [--servers 50] [--parallel N] [--keep]

A fleet of N servers (gw-1, then roles web, app, app, db in turn) in the lab, under the real CLI against the lab's
OpenStack: up from empty, a no-op up, and an up that adds one app server. Prints per run the wall time, the remote
commands, peak memory in use on the machine, and how long cloud resources, readiness and remote commands were in
flight. --parallel passes pulumi's --parallel (default: pulumi's own, 4 per core). --keep leaves the stack up
(npm run lab -- down --stack lf<N> removes it). Needs root, the toolchain and the lab's image; on demand, not in CI.`;

const ROLES = ["web", "app", "app", "db"];
const servers = (n: number) => [
  { name: "gw-1", role: "gateway" },
  ...Array.from({ length: n - 1 }, (_, i) => ({ name: `${ROLES[(i + 1) % 4]}-${i + 1}`, role: ROLES[(i + 1) % 4] })),
];

interface Timed {
  urn: string;
  type: string;
  name: string;
  start: number;
  end: number;
}

/** Each resource step's start (resourcePreEvent) and end (resOutputsEvent or resOpFailedEvent), in seconds. */
function timings(json: string): Timed[] {
  const open = new Map<string, number>();
  const out: Timed[] = [];
  for (const line of json.split("\n")) {
    if (!line.startsWith("{")) continue;
    const e = JSON.parse(line) as Record<string, { metadata?: { urn: string; op: string } } | number | undefined>;
    const t = Number(e.timestamp);
    const pre = e.resourcePreEvent as { metadata?: { urn: string; op: string } } | undefined;
    const done = (e.resOutputsEvent ?? e.resOpFailedEvent) as { metadata?: { urn: string; op: string } } | undefined;
    if (pre?.metadata && pre.metadata.op !== "same") open.set(pre.metadata.urn, t);
    if (done?.metadata && open.has(done.metadata.urn)) {
      const urn = done.metadata.urn;
      const parts = urn.split("::");
      out.push({ urn, type: parts[2].split("$").pop()!, name: parts[3], start: open.get(urn)!, end: t });
      open.delete(urn);
    }
  }
  return out;
}

/** Seconds during which at least one of the steps was in flight, and the most in flight at once. */
function busy(steps: Timed[]): { seconds: number; most: number } {
  const edges = steps.flatMap((s) => [
    [s.start, 1],
    [Math.max(s.end, s.start + 1), -1],
  ]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  let since = 0;
  let seconds = 0;
  for (const [t, d] of edges) {
    if (now === 0 && d > 0) since = t;
    now += d;
    most = Math.max(most, now);
    if (now === 0) seconds += t - since;
  }
  return { seconds, most };
}

/** Peak of memory in use on the machine (MemTotal − MemAvailable), sampled while `work` runs. */
async function withPeakMemory<T>(work: () => Promise<T>): Promise<[T, number]> {
  const inUse = () => {
    const m = readFileSync("/proc/meminfo", "utf8");
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(m)![1]);
    return (kb("MemTotal") - kb("MemAvailable")) / 1024;
  };
  let peak = inUse();
  const timer = setInterval(() => (peak = Math.max(peak, inUse())), 500);
  try {
    return [await work(), peak];
  } finally {
    clearInterval(timer);
  }
}

const GROUPS: [string, (t: Timed) => boolean][] = [
  ["cloud resources", (t) => t.type.startsWith("openstack:")],
  ["readiness (boot, cloud-init)", (t) => t.type === "command:remote:Command" && t.name.endsWith("-ready")],
  ["other remote commands", (t) => t.type === "command:remote:Command" && !t.name.endsWith("-ready")],
];

async function main(argv: string[]): Promise<void> {
  if (argv.includes("--help")) return void console.log(HELP);
  const arg = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const n = Number(arg("--servers") ?? 50);
  if (!Number.isInteger(n) || n < 2 || n > 200) throw new Error(`--servers: a whole number 2–200 (got ${arg("--servers")})`);
  const parallel = arg("--parallel");
  if (parallel !== undefined && !/^[1-9]\d*$/.test(parallel)) throw new Error(`--parallel: a whole number >= 1 (got ${parallel})`);
  const L = layout(`lf${n}`);
  const log = (l: string) => void (process.env.FLEET_LAB_VERBOSE ? process.stderr.write(l) : undefined);
  if ((await cloud("up", { log })) !== 0) throw new Error("the lab's OpenStack did not come up (npm run lab -- cloud up says why)");
  await realDown(L, log);

  const file = path.join(os.tmpdir(), `bench-lab-fleet-${n}.yaml`);
  const write = (list: { name: string; role: string }[]) =>
    writeFileSync(file, stringify({ config: { ...stackConfig(), "fleet:servers": list, "fleet:network": { cidr: "10.20.0.0/20" } } }));
  console.log(
    `bench:lab-fleet: ${n} servers on ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB${parallel ? `, --parallel ${parallel}` : ""}`,
  );

  const up = async (label: string, list: { name: string; role: string }[]) => {
    write(list);
    const env = await prepareRealStack(L, file, log);
    const requests = countApiRequests();
    const load0 = os.loadavg()[0];
    const t0 = Date.now();
    const [r, peak] = await withPeakMemory(() =>
      runPulumi(L, env, ["up", "--yes", "--skip-preview", "--json", ...(parallel ? ["--parallel", parallel] : [])], log),
    );
    const wall = (Date.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`${label} failed: ${eventErrors(r).slice(-3000)}`);
    const steps: Step[] = eventSteps(r.stdout);
    const ran = [...new Set(steps.filter((s) => s.type === "command:remote:Command" && s.op !== "same").map((s) => s.name))];
    const api = Object.values(requests()).reduce((a, b) => a + b, 0);
    const t = timings(r.stdout);
    const parts = GROUPS.map(([g, f]) => {
      const b = busy(t.filter(f));
      return `${g} ${b.seconds} s (at most ${b.most} at once)`;
    });
    console.log(
      `${label.padEnd(14)} ${wall.toFixed(1)} s; ${remoteRuns(steps)} remote commands; ${api} OpenStack requests; ` +
        `peak memory in use ${(peak / 1024).toFixed(1)} GiB; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`,
    );
    console.log(`${"".padEnd(14)} in flight: ${parts.join("; ")}`);
    return ran;
  };

  const fleet = servers(n);
  await up("up from empty", fleet);
  await up("no-op up", fleet);
  const added = { name: `app-${n}`, role: "app" };
  const ran = await up("add one server", [...fleet, added]);
  const others = ran.filter((name) => !name.includes(added.name));
  console.log(`${"".padEnd(14)} besides ${added.name}'s own: ${others.length ? others.sort().join(", ") : "nothing"}`);
  // The gateway's sshd drops new connections beyond MaxStartups' pending handshakes: did the fan-out reach it?
  const drops = run(labExecArgv(L, "gw-1", ["sh", "-c", "journalctl -u ssh --no-pager | grep -c 'MaxStartups' || true"]));
  console.log(`gateway sshd: ${drops.stdout.trim() || "0"} connections dropped past MaxStartups`);
  if (!argv.includes("--keep")) {
    const t0 = Date.now();
    await realDown(L, log);
    console.log(`down           ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(`bench:lab-fleet: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
