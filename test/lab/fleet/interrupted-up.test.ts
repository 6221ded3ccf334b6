/**
 * An interrupted `pulumi up` converges: the real CLI is stopped as a user or a CI timeout stops it (SIGINT, then,
 * as soon as the CLI acknowledges it, SIGKILL to the CLI and its providers), once while Nova is creating the servers
 * and once while the firewalls are being applied. After the recovery step the README documents (`npm run recover`, here through
 * `npm run lab -- recover`), the next `up` succeeds, and from outside: no duplicate or orphan server, port or
 * floating IP in the cloud, no pending operation in the state, and every host on the confirmed ruleset the stack
 * records (the drift audit).
 */
import { spawn } from "child_process";
import { describeLab } from "../guard";
import { fromStackFile, lab } from "../support";
import { projectObjects } from "../../../lab/openstack";
import { pulumiArgv, realStack, stackEnv } from "../../../lab/pulumi-cli";
import { recoverStack, stackExport } from "../../../lab/real-stack";
import { REPO_ROOT } from "../../../lab/layout";
import { waitFor } from "../../../lab/hosts";

const STACK = "intr";
const PROJECT = `lab-${STACK}`;
const SERVERS = [
  { name: "gw-1", role: "gateway" },
  { name: "web-1", role: "web" },
  { name: "app-1", role: "app" },
  { name: "db-1", role: "db" },
];
const config = (servers: object[]) =>
  fromStackFile("Pulumi.dev.yaml", { "fleet:servers": servers, "fleet:deploy": undefined, "fleet:firewall": { confirmTimeoutSeconds: 15 } });

/**
 * Runs `pulumi up` for the prepared stack and stops it the way a CI timeout does once `when` says so (given what the
 * CLI printed so far): SIGINT to the CLI, then, the moment it acknowledges that (pulumi prints "^C received;
 * cancelling", pkg/backend/cancellation_scope.go), SIGKILL to it and its plugins: the earliest a hard stop can come.
 */
async function interruptedUp(t: ReturnType<typeof lab>, when: (printed: string) => boolean): Promise<{ printed: string; killedAt: string }> {
  const env = stackEnv(t.L)!;
  const argv = pulumiArgv(realStack(t.L), ["up", "--yes", "--skip-preview"]);
  const p = spawn(argv[0], argv.slice(1), { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let printed = "";
  p.stdout.on("data", (d: Buffer) => (printed += d.toString()));
  p.stderr.on("data", (d: Buffer) => (printed += d.toString()));
  const exited = new Promise<void>((resolve) => p.on("close", () => resolve()));
  await waitFor(
    "the moment to interrupt pulumi up",
    () => {
      if (p.exitCode !== null) throw new Error(`pulumi up ended before the moment to interrupt it:\n${printed.slice(-3000)}`);
      return when(printed);
    },
    300_000,
  );
  const killedAt = printed
    .split("\n")
    .filter((l) => l.trim() !== "")
    .slice(-3)
    .join(" | ");
  process.kill(-p.pid!, "SIGINT");
  await waitFor("pulumi to acknowledge the interrupt", () => /\^C received; cancelling/.test(printed) || p.exitCode !== null, 30_000);
  try {
    process.kill(-p.pid!, "SIGKILL");
  } catch {
    // already gone
  }
  await exited;
  return { printed, killedAt };
}

/** Every server, port and floating IP of the project is one the state owns, and no server name is there twice. */
async function cloudMatchesState(t: ReturnType<typeof lab>): Promise<{ duplicates: string[]; orphans: string[]; pending: number }> {
  const objs = projectObjects(PROJECT);
  type R = { id?: string; type: string; outputs?: Record<string, unknown> };
  const doc = (await stackExport(t.L)) as unknown as { deployment: { resources?: R[]; pending_operations?: unknown[] } };
  const resources = doc.deployment.resources ?? [];
  const owned = (type: string, key: string) => new Set(resources.filter((r) => r.type === type).map((r) => String(r.outputs?.[key])));
  const servers = new Set(resources.filter((r) => r.type === "openstack:compute/instance:Instance").map((r) => r.id));
  const ports = owned("openstack:networking/port:Port", "name");
  const fips = owned("openstack:networking/floatingIp:FloatingIp", "address");
  const names = objs.servers.map((s) => s.name);
  const orphans = [
    ...objs.servers.filter((s) => !servers.has(s.id)).map((s) => `server ${s.name} ${s.id}`),
    ...objs.ports.filter((p) => (p.deviceOwner === "" || p.deviceOwner.startsWith("compute:")) && !ports.has(p.name)).map((p) => `port ${p.name}`),
    ...objs.floatingIps.filter((f) => !fips.has(f.address)).map((f) => `floating IP ${f.address}`),
  ];
  return { duplicates: names.filter((n, i) => names.indexOf(n) !== i), orphans, pending: (doc.deployment.pending_operations ?? []).length };
}

describeLab("lab: an interrupted pulumi up converges after the documented recovery", () => {
  const t = lab(STACK);
  beforeAll(async () => {
    await t.down();
  }, 300_000);
  afterAll(() => t.down(), 300_000);

  it("killed while Nova creates the servers: recover, then up, leaves no duplicate, orphan or pending create", async () => {
    await t.prepare(config(SERVERS));
    // Nova has servers of the stack, not all of them ACTIVE yet.
    const cut = await interruptedUp(t, () => {
      const servers = projectObjects(PROJECT).servers;
      return servers.length > 0 && servers.some((s) => s.status !== "ACTIVE");
    });
    expect(cut.killedAt).not.toMatch(/Resources:/);
    const recovered = await recoverStack(t.L);
    if (process.env.FLEET_LAB_VERBOSE) process.stderr.write(`recover after the cut at "${cut.killedAt}":\n${recovered.printed}`);
    expect({ code: recovered.code, printed: recovered.printed }).toEqual({ code: 0, printed: expect.stringMatching(/recovered: \d+ imported/) });
    const up = await t.up(config(SERVERS));
    expect(up.ok).toBe(true);
    // The adopted servers are the ones that stay: the up replaces and deletes none.
    expect(up.steps.filter((s) => s.type === "openstack:compute/instance:Instance" && /replace|delete/.test(s.op)).map((s) => `${s.op} ${s.name}`)).toEqual([]);
    expect(await cloudMatchesState(t)).toEqual({ duplicates: [], orphans: [], pending: 0 });
    expect(
      projectObjects(PROJECT)
        .servers.map((s) => s.name)
        .sort(),
    ).toEqual(SERVERS.map((s) => s.name).sort());
  }, 900_000);

  it("killed while the firewalls are applied (a server added): recover, then up, leaves every host on its confirmed ruleset", async () => {
    const more = [...SERVERS, { name: "app-2", role: "app" }];
    await t.prepare(config(more));
    const cut = await interruptedUp(t, (printed) => /-firewall\b.*(creating|updating|replacing)/.test(printed));
    expect(cut.killedAt).not.toMatch(/Resources:/);
    const recovered = await recoverStack(t.L);
    if (process.env.FLEET_LAB_VERBOSE) process.stderr.write(`recover after the cut at "${cut.killedAt}":\n${recovered.printed}`);
    expect(recovered.code).toBe(0);
    // t.up audits every host against the stack's record after a successful up (rules, sets, sshd, VPN): in sync.
    const up = await t.up(config(more));
    expect(up.ok).toBe(true);
    expect(await cloudMatchesState(t)).toEqual({ duplicates: [], orphans: [], pending: 0 });
  }, 900_000);
});
