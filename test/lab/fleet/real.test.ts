/**
 * The dev stack end to end under the real engine: the real `pulumi` CLI and the real command, tls and openstack
 * providers against the lab's real OpenStack, whose hypervisor (lab/hypervisor) boots a systemd host for each Nova
 * server on its Neutron ports; Neutron's own agents bridge, filter (security groups) and route them, floating IPs
 * included. Everything is checked from outside the program: the OpenStack API, the hosts, probes.
 */
import { execFileSync } from "child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { parse, stringify } from "yaml";
import * as path from "path";
import { describeLab } from "../guard";
import { layout, REPO_ROOT } from "../../../lab/layout";
import { cloud, cloudDir, projectObjects, purgeTenant } from "../../../lab/openstack";
import { prepareRealStack, runPulumi } from "../../../lab/pulumi-cli";
import { inNs, netnsList, runAsync } from "../../../lab/sh";
import { waitFor } from "../../../lab/hosts";
import { auditStack, eventErrors, eventSteps, remoteRuns, stackGuests } from "../../../lab/real-stack";

const STACK = "realfleet";
const L = layout(STACK);
const PROJECT = `lab-${STACK}`;
// Pulumi.dev.yaml, as a reader of it counts: 6 servers (gw-1; web-1, web-2 public; app-1, app-2; db-1), 4 roles,
// engineers alice and bob, a deploy to the two app servers.
const DEV_SERVERS = ["app-1", "app-2", "db-1", "gw-1", "web-1", "web-2"];
const FLAVORS: Record<string, string> = {
  "gw-1": "gp.0.1.2",
  "web-1": "gp.0.1.2",
  "web-2": "gp.0.1.2",
  "app-1": "gp.0.2.4",
  "app-2": "gp.0.2.4",
  "db-1": "gp.0.4.8",
};
const PUBLIC = ["gw-1", "web-1", "web-2"];
const typeOf = (urn: string) => urn.split("::")[2].split("$").pop()!;
const countTypes = (urns: string[]) => urns.map(typeOf).reduce<Record<string, number>>((m, t) => ({ ...m, [t]: (m[t] ?? 0) + 1 }), {});
const log = (l: string) => void (process.env.FLEET_LAB_VERBOSE ? process.stderr.write(l) : undefined);

/** The operations an `up --json` reports, by op, and how many remote commands ran. */
function operations(json: string): { ops: Record<string, number>; remote: number } {
  const steps = eventSteps(json);
  const ops: Record<string, number> = {};
  for (const s of steps) if (s.op !== "same") ops[s.op] = (ops[s.op] ?? 0) + 1;
  return { ops, remote: remoteRuns(steps) };
}
/** The directory of the host the hypervisor booted for a server (lab/hypervisor/cli.ts). */
const hostDir = (name: string) => stackGuests(L)[name].dir;

describeLab("the dev stack under the real engine, on hosts the lab's hypervisor boots for Nova", () => {
  let env: Record<string, string>;
  let first: { code: number; stdout: string; stderr: string };
  let planned: { code: number; stderr: string; steps: { op: string; urn: string }[] };
  const started = Date.now();
  let upSeconds = 0;

  beforeAll(async () => {
    expect(await cloud("up", { log })).toBe(0);
    purgeTenant(L.stack);
    if (existsSync(L.dir)) rmSync(L.dir, { recursive: true, force: true });
    env = await prepareRealStack(L, path.join(REPO_ROOT, "Pulumi.dev.yaml"), log);
    // package.json "main" is the library's build: with it present, Pulumi must still run index.ts.
    execFileSync("npm", ["run", "-s", "build"], { cwd: REPO_ROOT, stdio: "ignore" });
    const preview = await runPulumi(L, env, ["preview", "--json"], log);
    planned = {
      code: preview.code,
      stderr: preview.stderr,
      steps: preview.code === 0 ? (JSON.parse(preview.stdout) as { steps: { op: string; urn: string }[] }).steps : [],
    };
    const t0 = Date.now();
    first = await runPulumi(L, env, ["up", "--yes", "--skip-preview"], log);
    upSeconds = (Date.now() - t0) / 1000;
    console.log(
      `real pulumi up of the dev stack from empty: ${upSeconds.toFixed(1)} s (${((Date.now() - started) / 1000).toFixed(1)} s with the cloud and tenant)`,
    );
  });
  afterAll(async () => {
    await runPulumi(L, env, ["destroy", "--yes", "--skip-preview"], log).catch(() => undefined);
    purgeTenant(L.stack);
    rmSync(L.dir, { recursive: true, force: true });
  });

  it("after npm run build, pulumi preview runs the program (not the library) and plans the whole fleet", () => {
    expect(existsSync(path.join(REPO_ROOT, "dist", "components", "index.js"))).toBe(true);
    expect({ code: planned.code, errors: planned.stderr.match(/error.*/gi) ?? [] }).toEqual({ code: 0, errors: [] });
    expect([...new Set(planned.steps.map((s) => s.op))]).toEqual(["create"]);
    expect(countTypes(planned.steps.map((s) => s.urn))).toMatchObject({
      "openstack:compute/instance:Instance": 6,
      "openstack:networking/port:Port": 6,
      "openstack:networking/floatingIp:FloatingIp": 3,
      "openstack:networking/floatingIpAssociate:FloatingIpAssociate": 3,
      "openstack:networking/network:Network": 1,
      "openstack:networking/subnet:Subnet": 1,
      "openstack:networking/router:Router": 1,
      "openstack:networking/routerRoute:RouterRoute": 1,
      "openstack:networking/secGroup:SecGroup": 4,
      // per server: ready, firewall, confirm (18); the VPN's configure; prepare and activate on app-1 and app-2
      "command:remote:Command": 23,
      // an admin key, a host key per server, the VPN's CA, server and two engineers
      "tls:index/privateKey:PrivateKey": 11,
    });
    const instances = planned.steps.filter((s) => typeOf(s.urn) === "openstack:compute/instance:Instance").map((s) => s.urn.split("::").pop());
    expect(instances.sort()).toEqual(DEV_SERVERS);
  });

  it("up creates exactly what preview planned", () => {
    const created = [...first.stdout.matchAll(/^Resources:\n\s+\+ (\d+) created/gm)].map((m) => Number(m[1]));
    expect(created).toEqual([planned.steps.length]);
  });

  it("comes up: every resource created, every remote step run on a booted host", () => {
    expect({ code: first.code, tail: first.code === 0 ? "" : (first.stdout + first.stderr).slice(-3000) }).toEqual({ code: 0, tail: "" });
    const servers = projectObjects(PROJECT).servers;
    expect(servers.map((s) => [s.name, s.status])).toEqual(DEV_SERVERS.map((n) => [n, "ACTIVE"]));
  });

  it("made every server with its role's flavor and the image, on its port's address, seeded with its own user data", () => {
    const objs = projectObjects(PROJECT);
    for (const s of objs.servers) {
      expect({ name: s.name, flavor: s.flavor, image: s.image }).toEqual({ name: s.name, flavor: FLAVORS[s.name], image: "Ubuntu 24.04" });
      const port = objs.ports.find((p) => p.name.startsWith(`${s.name}-`) && p.deviceOwner === "compute:nova")!;
      expect(s.addresses.fleet[0]).toBe(port.fixedIps[0]);
      // The host booted for it got the user data Nova holds, byte for byte.
      expect(readFileSync(path.join(hostDir(s.name), "root", "var/lib/cloud/seed/nocloud/user-data"), "utf8")).toBe(s.userData);
    }
    const fixed = (name: string) => objs.servers.find((s) => s.name === name)!.addresses.fleet[0];
    expect(objs.floatingIps.map((f) => f.fixedIp).sort()).toEqual(PUBLIC.map(fixed).sort());
    expect(objs.routers).toEqual([{ name: "fleet", externalGateway: true, routes: [{ destination: "10.8.0.0/24", nexthop: fixed("gw-1") }] }]);
    expect(objs.securityGroups.map((g) => g.name)).toEqual(["default", "fleet-sg-app", "fleet-sg-db", "fleet-sg-gateway", "fleet-sg-web"]);
  });

  it("records in the state what Neutron holds: each port's addresses, each floating IP", async () => {
    const objs = projectObjects(PROJECT);
    const state = (
      JSON.parse((await runPulumi(L, env, ["stack", "export"])).stdout) as { deployment: { resources: { type: string; outputs?: Record<string, unknown> }[] } }
    ).deployment.resources;
    const ports = state.filter((r) => r.type === "openstack:networking/port:Port");
    expect(ports).toHaveLength(6);
    for (const p of ports) expect(p.outputs!.allFixedIps).toEqual(objs.ports.find((c) => c.name === p.outputs!.name)!.fixedIps);
    const fips = state.filter((r) => r.type === "openstack:networking/floatingIp:FloatingIp").map((r) => r.outputs!.address);
    expect(fips.sort()).toEqual(objs.floatingIps.map((f) => f.address).sort());
  });

  it("its outputs come from the hosts: the gateway admits alice and bob, each app host runs a release", async () => {
    const out = JSON.parse((await runPulumi(L, env, ["stack", "output", "--json", "--show-secrets"])).stdout) as Record<string, unknown>;
    expect(out.vpnAdmitted).toEqual(["alice", "bob"]);
    expect(Object.keys(out.revisions as object).sort()).toEqual(["app-1", "app-2"]);
    expect(Object.keys(out.firewallHashes as object).sort()).toEqual(DEV_SERVERS);
    // The gateway's address is the floating IP Neutron gave it.
    const fips = projectObjects(PROJECT).floatingIps.map((f) => f.address);
    expect(fips).toContain(out.gatewayAddress);
  });

  it("every host, audited over SSH with the stack's pinned keys from the operator's place, runs what the stack applied", async () => {
    let report = "";
    const code = await auditStack(L, { write: (t) => void (report += t) });
    expect({ code, report }).toEqual({ code: 0, report: expect.not.stringMatching(/DRIFTED/) as unknown as string });
  });

  it("Neutron's security groups are enforced outside the host: web-1 cannot reach db-1's 5432 even with db-1's own firewall open", async () => {
    const objs = projectObjects(PROJECT);
    const ip = (n: string) => objs.servers.find((s) => s.name === n)!.addresses.fleet[0];
    const ns = (n: string) => stackGuests(L)[n].netns;
    // db-1 listens on 5432 and its own firewall accepts everything: only the security group stands in the way.
    await runAsync(inNs(ns("db-1"), ["iptables", "-I", "INPUT", "1", "-j", "ACCEPT"]));
    // -k: one listener for both probes, so web-1's can only fail at the security group, never at a closed port.
    const listener = runAsync(inNs(ns("db-1"), ["timeout", "30", "nc", "-lk", "-p", "5432"]));
    await waitFor("db-1 to listen on 5432", async () => (await runAsync(inNs(ns("db-1"), ["ss", "-Htln", "sport = :5432"]))).stdout.trim() !== "");
    const fromApp = await runAsync(inNs(ns("app-1"), ["nc", "-z", "-w", "3", ip("db-1"), "5432"]));
    const fromWeb = await runAsync(inNs(ns("web-1"), ["nc", "-z", "-w", "3", ip("db-1"), "5432"]));
    await runAsync(inNs(ns("db-1"), ["iptables", "-D", "INPUT", "1"]));
    await runAsync(inNs(ns("db-1"), ["pkill", "-f", "nc -lk -p 5432"]));
    await listener.catch(() => undefined);
    expect({ app: fromApp.code, web: fromWeb.code }).toEqual({ app: 0, web: 1 });
  });

  it("a second up changes nothing and runs no remote command; preview expects no changes; refresh finds no drift", async () => {
    const preview = await runPulumi(L, env, ["preview", "--expect-no-changes"], log);
    expect(preview.code).toBe(0);
    const t0 = Date.now();
    const again = await runPulumi(L, env, ["up", "--yes", "--skip-preview", "--json"], log);
    console.log(`no-op real pulumi up: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(again.code).toBe(0);
    expect(operations(again.stdout)).toEqual({ ops: {}, remote: 0 });
    const refresh = await runPulumi(L, env, ["refresh", "--yes", "--skip-preview", "--expect-no-changes"], log);
    expect({ code: refresh.code, out: refresh.code === 0 ? "" : refresh.stdout.slice(-2000) }).toEqual({ code: 0, out: "" });
  });

  /** Non-"same" steps of an `up --json`, as "op name" (name: the last URN segment). */
  const changed = (json: string) =>
    eventSteps(json)
      .filter((s) => s.op !== "same")
      .map((s) => `${s.op} ${typeOf(s.urn).split(":").pop()} ${s.urn.split("::").pop()}`)
      .sort();

  it("an image change rebuilds the server in place: its steps run again on the wiped host, and nowhere else", async () => {
    const before = projectObjects(PROJECT).servers.find((s) => s.name === "app-2")!;
    const marker = path.join(hostDir("app-2"), "root", "root", "before-rebuild");
    writeFileSync(marker, "the old disk\n");
    const dev = parse(readFileSync(path.join(REPO_ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
    const servers = dev.config["fleet:servers"] as { name: string; image?: string }[];
    dev.config["fleet:servers"] = servers.map((s) => (s.name === "app-2" ? { ...s, image: "Debian 12" } : s));
    const file = path.join(L.dir, "rebuild.yaml");
    writeFileSync(file, stringify(dev));
    env = await prepareRealStack(L, file, log);
    const r = await runPulumi(L, env, ["up", "--yes", "--skip-preview", "--json"], log);
    expect({ code: r.code, err: r.code === 0 ? "" : eventErrors(r) }).toEqual({ code: 0, err: "" });
    const after = projectObjects(PROJECT).servers.find((s) => s.name === "app-2")!;
    expect({ id: after.id, image: after.image, status: after.status }).toEqual({ id: before.id, image: "Debian 12", status: "ACTIVE" });
    expect(existsSync(marker)).toBe(false);
    expect(
      changed(r.stdout)
        .filter((c) => !c.startsWith("update Instance "))
        .every((c) => /(app-2-|-app-2$)/.test(c)),
    ).toBe(true);
    expect(changed(r.stdout)).toEqual(
      expect.arrayContaining(["update Instance app-2", "create-replacement Command app-2-firewall", "create-replacement Command shop-activate-app-2"]),
    );
    const out = JSON.parse((await runPulumi(L, env, ["stack", "output", "--json", "--show-secrets"])).stdout) as { revisions: Record<string, string> };
    expect(Object.keys(out.revisions).sort()).toEqual(["app-1", "app-2"]);
  });

  it("a flavor change is Nova's resize: the same server, disk and address on the new flavor; no remote step runs", async () => {
    const objs = projectObjects(PROJECT);
    const before = objs.servers.find((s) => s.name === "app-1")!;
    const marker = path.join(hostDir("app-1"), "root", "root", "before-resize");
    writeFileSync(marker, "the same disk\n");
    const file = path.join(L.dir, "rebuild.yaml");
    const doc = parse(readFileSync(file, "utf8")) as { config: Record<string, unknown> };
    const servers = doc.config["fleet:servers"] as { name: string; flavor?: string }[];
    doc.config["fleet:servers"] = servers.map((s) => (s.name === "app-1" ? { ...s, flavor: "gp.0.4.8" } : s));
    const resized = path.join(L.dir, "resize.yaml");
    writeFileSync(resized, stringify(doc));
    env = await prepareRealStack(L, resized, log);
    const preview = await runPulumi(L, env, ["preview", "--json"], log);
    expect(preview.code).toBe(0);
    const planned = (JSON.parse(preview.stdout) as { steps: { op: string; urn: string }[] }).steps
      .filter((s) => s.op !== "same")
      .map((s) => `${s.op} ${typeOf(s.urn).split(":").pop()} ${s.urn.split("::").pop()}`);
    expect(planned).toEqual(["update Instance app-1"]);
    const r = await runPulumi(L, env, ["up", "--yes", "--skip-preview", "--json"], log);
    expect({ code: r.code, err: r.code === 0 ? "" : eventErrors(r) }).toEqual({ code: 0, err: "" });
    expect(changed(r.stdout)).toEqual(["update Instance app-1"]);
    expect(operations(r.stdout).remote).toBe(0);
    const after = projectObjects(PROJECT).servers.find((s) => s.name === "app-1")!;
    expect({ id: after.id, flavor: after.flavor, status: after.status, addresses: after.addresses }).toEqual({
      id: before.id,
      flavor: "gp.0.4.8",
      status: "ACTIVE",
      addresses: before.addresses,
    });
    // The disk came along (a resize keeps it), and the host booted again into its firewall and its app.
    expect(readFileSync(marker, "utf8")).toBe("the same disk\n");
    let report = "";
    const code = await auditStack(L, { write: (t) => void (report += t) });
    expect({ code, report }).toEqual({ code: 0, report: expect.not.stringMatching(/DRIFTED/) as unknown as string });
  });

  it("a replaced server keeps its port and address and comes back whole; nothing else runs", async () => {
    const objs = projectObjects(PROJECT);
    const before = objs.servers.find((s) => s.name === "app-1")!;
    const state = (JSON.parse((await runPulumi(L, env, ["stack", "export"])).stdout) as { deployment: { resources: { type: string; urn: string }[] } })
      .deployment.resources;
    const urn = state.find((x) => x.type === "openstack:compute/instance:Instance" && x.urn.endsWith("::app-1"))!.urn;
    const r = await runPulumi(L, env, ["up", "--yes", "--skip-preview", "--json", "--replace", urn], log);
    expect({ code: r.code, err: r.code === 0 ? "" : eventErrors(r) }).toEqual({ code: 0, err: "" });
    const after = projectObjects(PROJECT).servers.find((s) => s.name === "app-1")!;
    expect(after.id).not.toBe(before.id);
    expect(after.addresses).toEqual(before.addresses);
    expect(
      changed(r.stdout)
        .filter((c) => !/ Instance app-1$/.test(c))
        .every((c) => /(app-1-|-app-1$)/.test(c)),
    ).toBe(true);
    expect(changed(r.stdout)).toEqual(expect.arrayContaining(["delete-replaced Instance app-1", "create-replacement Command app-1-ready"]));
  });

  it("pulumi destroy leaves no host, namespace or OpenStack object of the stack", async () => {
    const r = await runPulumi(L, env, ["destroy", "--yes", "--skip-preview"], log);
    expect(r.code).toBe(0);
    const after = projectObjects(PROJECT);
    expect([after.servers, after.ports, after.floatingIps, after.networks, after.routers]).toEqual([[], [], [], [], []]);
    expect(after.securityGroups.map((g) => g.name)).toEqual(["default"]);
    expect(netnsList().filter((n) => n.startsWith("fl-vm-"))).toEqual([]);
    const hostsDir = path.join(cloudDir(), "hosts");
    expect(existsSync(hostsDir) ? readdirSync(hostsDir) : []).toEqual([]);
  });
});
