/**
 * The lab itself, under the real engine: a gateway and two private servers of the fleet program, brought up by the
 * real `pulumi` against the lab's OpenStack, whose hypervisor boots a host per Nova server. Checked from outside:
 * the lab CLI, real SSH with the stack's pinned host keys, the hosts' own files and kernel state, Nova's API.
 */
import { spawnSync } from "child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { describeLab } from "./guard";
import { fromStackFile, lab, LabUp } from "./support";
import { REPO_ROOT } from "../../lab/layout";
import { projectObjects } from "../../lab/openstack";
import { changedNames, stackGuests } from "../../lab/real-stack";
import { netnsList } from "../../lab/sh";
import { processAlive } from "../../lab/hosts";
import { PreviewSummary } from "../../scripts/plan/preview";

const SERVERS = [
  { name: "gw-1", role: "gateway" },
  { name: "app-1", role: "app" },
  { name: "db-1", role: "db" },
];
// The dev stack with fewer servers and no app deploy (its git remote is not reachable from the lab).
const config = (servers = SERVERS) => fromStackFile("Pulumi.dev.yaml", { "fleet:servers": servers, "fleet:deploy": undefined });
const labCli = (...args: string[]) =>
  spawnSync(path.join(REPO_ROOT, "node_modules", ".bin", "tsx"), [path.join(REPO_ROOT, "lab", "cli.ts"), ...args], { encoding: "utf8" });

describeLab("lab: the fleet program on the lab's OpenStack (a gateway and two private servers)", () => {
  const t = lab("labp");
  let first: LabUp;

  beforeAll(async () => {
    await t.down();
    t.laptops();
    first = await t.up(config());
  }, 600_000);
  afterAll(() => t.down(), 300_000);

  it("makes one ACTIVE Nova server and one running host per server, the gateway alone with a public address", () => {
    // By name, as the stack's `servers` output lists them.
    expect(first.hosts.map((h) => [h.name, h.role, h.status, h.running, h.sshdPid !== null])).toEqual([
      ["app-1", "app", "ACTIVE", true, true],
      ["db-1", "db", "ACTIVE", true, true],
      ["gw-1", "gateway", "ACTIVE", true, true],
    ]);
    expect(first.host("gw-1").publicIp).toMatch(/^198\.51\.100\./);
    expect(first.host("gw-1").publicIp).toBe(first.outputs.gatewayAddress);
    expect([first.host("app-1").publicIp, first.host("db-1").publicIp]).toEqual([null, null]);
  });

  it("status --json from the lab CLI lists the same servers, the operator and the laptops", () => {
    const r = labCli("status", "--stack", "labp", "--json");
    expect(r.status).toBe(0);
    const entries = JSON.parse(r.stdout) as { name: string; kind: string; netns: string; privateIp: string | null; running: boolean }[];
    expect(entries.map((e) => [e.name, e.kind, e.running])).toEqual([
      ["app-1", "server", true],
      ["db-1", "server", true],
      ["gw-1", "server", true],
      ["operator", "operator", true],
      ["eng1", "laptop", true],
      ["eng2", "laptop", true],
    ]);
    expect(entries.find((e) => e.name === "db-1")).toMatchObject({ netns: first.host("db-1").netns, privateIp: first.host("db-1").privateIp });
  });

  it("reaches every server with the host key the stack pins, private ones through the gateway, and refuses a wrong key", async () => {
    for (const s of SERVERS) {
      const c = await t.connection(s.name);
      expect(c.hostKey?.trim()).toBe(String(first.outputs.servers[s.name].hostKey).trim());
      expect(s.role === "gateway" ? c.proxy : c.proxy?.host).toBe(s.role === "gateway" ? undefined : first.host("gw-1").publicIp);
      const r = await t.ssh(c, "hostname; cat /etc/fleet/role; cloud-init status");
      expect({ s: s.name, out: r.stdout, code: r.code }).toEqual({ s: s.name, out: `${s.name}\n${s.role}\nstatus: done\n`, code: 0 });
    }
    const app = await t.connection("app-1");
    const db = await t.connection("db-1");
    const wrongTarget = await t.ssh({ ...db, hostKey: app.hostKey }, "true");
    expect(wrongTarget.code).toBe(255);
    expect(wrongTarget.stderr).toMatch(/Host key verification failed|IDENTIFICATION HAS CHANGED/);
    const wrongJump = await t.ssh({ ...db, proxy: { ...db.proxy!, hostKey: app.hostKey } }, "true");
    expect(wrongJump.code).toBe(255);
  });

  it("keeps private servers off the lab's Internet: no direct SSH from the operator, the gateway's from a laptop", async () => {
    const direct = await t.ssh({ ...(await t.connection("app-1")), proxy: undefined, dialErrorLimit: 1 }, "true");
    expect(direct.code).toBe(255);
    const fromLaptop = await t.exec("eng1", ["timeout", "3", "bash", "-c", 'exec 3<>"/dev/tcp/$1/22" && head -c 7 <&3', "probe", first.host("gw-1").publicIp!]);
    // The dev stack lets only adminCidrs (203.0.113.0/24, the laptops included) reach the gateway's SSH.
    expect(fromLaptop.stdout).toBe("SSH-2.0");
  });

  it("gives every host its own files: nothing written on one host shows on another or on the machine", async () => {
    const dirs = ["/etc", "/srv", "/root", "/var/lib/fleet", "/tmp", "/home", "/opt", "/var/log"];
    const mark = `lab-private-${process.pid}`;
    const w = await t.exec("app-1", ["sh", "-c", 'for d in "$@"; do echo x > "$d/$0"; done', mark, ...dirs]);
    expect(w.code).toBe(0);
    for (const other of ["gw-1", "db-1"]) {
      const r = await t.exec(other, ["sh", "-c", 'for d in "$@"; do [ ! -e "$d/$0" ] || echo "$d"; done', mark, ...dirs]);
      expect({ other, leaked: r.stdout }).toEqual({ other, leaked: "" });
    }
    expect(dirs.filter((d) => existsSync(path.join(d, mark)))).toEqual([]);
  });

  it("a hard reboot through Nova: processes, kernel state and /tmp gone, disk and pinned host key kept", async () => {
    const before = first.host("app-1");
    await t.exec("app-1", ["sh", "-c", "touch /tmp/volatile /var/lib/fleet/kept; ip route add 10.66.0.0/24 dev lo"]);
    const r0 = labCli("reboot", "--stack", "labp", "app-1");
    expect([r0.status, r0.stderr]).toEqual([0, ""]);
    const after = t.hosts(first.outputs).find((h) => h.name === "app-1")!;
    expect(after.status).toBe("ACTIVE");
    expect(after.sshdPid).not.toBe(before.sshdPid);
    const r = await t.ssh(await t.connection("app-1"), "ls /var/lib/fleet/kept; ls /tmp/volatile 2>&1 | grep -c 'No such'; ip route | grep -c 10.66 || true");
    expect(r.stdout).toBe("/var/lib/fleet/kept\n1\n0\n");
  });

  it("runs no remote command on a second up, and keeps keys and outputs", async () => {
    const again = await t.up(config());
    expect(again.remoteRuns).toBe(0);
    expect(changedNames(again.steps)).toEqual([]);
    expect(again.outputs).toEqual(first.outputs);
  });

  it("removing a server: the real preview lists exactly what the up then changes, and npm run plan reports it", async () => {
    await t.prepare(config(SERVERS.slice(0, 2)));
    const preview = await t.pulumi(["preview", "--json"]);
    expect(preview.code).toBe(0);
    const file = path.join(t.L.dir, "preview.json");
    writeFileSync(file, preview.stdout);
    const out = mkdtempSync(path.join(os.tmpdir(), "plan-"));
    const r = spawnSync(
      path.join(REPO_ROOT, "node_modules", ".bin", "tsx"),
      [
        path.join(REPO_ROOT, "scripts", "plan.ts"),
        "--stack",
        "labp",
        // The config the lab just wrote for the stack (support's configFile), the one the preview ran with.
        "--config-file",
        path.join(path.dirname(t.L.dir), "configs", "Pulumi.labp.yaml"),
        "--preview",
        file,
        "--out",
        out,
      ],
      { encoding: "utf8" },
    );
    expect([r.status, r.stderr]).toEqual([0, ""]);
    const planned = JSON.parse(readFileSync(path.join(out, "plan.json"), "utf8")) as { preview: PreviewSummary };
    rmSync(out, { recursive: true, force: true });
    expect(planned.preview.changes).toContainEqual({ op: "delete", type: "openstack:compute/instance:Instance", name: "db-1" });

    const db = stackGuests(t.L)["db-1"];
    const smaller = await t.up(config(SERVERS.slice(0, 2)));
    // What the engine did is what the preview said, resource by resource (by type and name: a server's component,
    // port and instance share its name).
    const did = [...new Set(smaller.steps.filter((s) => s.op !== "same").map((s) => `${s.type} ${s.name}`))].sort();
    expect(did).toEqual(planned.preview.changes.map((c) => `${c.type} ${c.name}`).sort());
    expect(changedNames(smaller.steps, "openstack:compute/instance:Instance")).toEqual(["db-1"]);
    expect(
      projectObjects("lab-labp")
        .servers.map((s) => s.name)
        .sort(),
    ).toEqual(["app-1", "gw-1"]);
    expect(projectObjects("lab-labp").ports.filter((p) => p.deviceOwner.startsWith("compute:")).length).toBe(2);
    expect(netnsList()).not.toContain(db.netns);
    expect(existsSync(db.dir)).toBe(false);
  });

  it("down leaves nothing behind: no host, namespace, process, cloud object or file of the stack; twice is fine", async () => {
    const guests = Object.values(stackGuests(t.L));
    const pids = guests.flatMap((g) => spawnSync("ip", ["netns", "pids", g.netns], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number));
    expect(pids.length).toBeGreaterThan(4);
    const r = labCli("down", "--stack", "labp");
    expect(r.status).toBe(0);
    const leftovers = () => ({
      namespaces: netnsList().filter((n) => guests.some((g) => g.netns === n) || n.startsWith("fl-labp-")),
      processes: pids.filter(processAlive),
      guestDirs: guests.filter((g) => existsSync(g.dir)).map((g) => g.dir),
      cloud: ((o) =>
        [...o.servers, ...o.ports, ...o.floatingIps, ...o.networks, ...o.subnets, ...o.routers, ...o.securityGroups.filter((g) => g.name !== "default")]
          .length)(projectObjects("lab-labp")),
      dir: existsSync(t.L.dir),
    });
    expect(leftovers()).toEqual({ namespaces: [], processes: [], guestDirs: [], cloud: 0, dir: false });
    expect(r.stdout).toMatch(/lab stack labp: destroyed/);
    const again = labCli("down", "--stack", "labp");
    expect([again.status, again.stdout]).toEqual([0, expect.stringMatching(/lab stack labp: does not exist .*nothing to destroy/)]);
    expect(leftovers()).toEqual({ namespaces: [], processes: [], guestDirs: [], cloud: 0, dir: false });
  });
});
