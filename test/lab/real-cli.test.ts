/**
 * The real `pulumi` CLI (built by scripts/toolchain.sh), the real command, tls and openstack providers, and the
 * lab's real OpenStack (lab/openstack): what `pulumi preview`, `up` and `destroy` of the dev stack do, checked from
 * outside the program, through the OpenStack API. The lab boots no host for a Nova server yet, so the `up` stops at
 * the first SSH step; everything before it is the cloud's half of the fleet.
 */
import { execFileSync } from "child_process";
import { existsSync, rmSync } from "fs";
import * as path from "path";
import { describeLab } from "./guard";
import { layout, REPO_ROOT } from "../../lab/layout";
import { cloud, ProjectObjects, projectObjects, purgeTenant } from "../../lab/openstack";
import { prepareRealStack, runPulumi } from "../../lab/pulumi-cli";

const STACK = "real";
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

describeLab("the real pulumi CLI and providers against the lab's OpenStack (dev stack)", () => {
  let env: Record<string, string>;

  beforeAll(async () => {
    expect(await cloud("up", { log })).toBe(0);
    // Leftovers of an aborted run: its cloud objects and its state.
    purgeTenant(L.dir);
    if (existsSync(L.dir)) rmSync(L.dir, { recursive: true, force: true });
    env = await prepareRealStack(L, path.join(REPO_ROOT, "Pulumi.dev.yaml"), log);
  });
  afterAll(() => {
    purgeTenant(L.dir);
    rmSync(L.dir, { recursive: true, force: true });
  });

  it("after npm run build, pulumi preview runs the program (not the library) and plans the whole fleet", async () => {
    // package.json "main" is the library's build: with it present, Pulumi must still run index.ts.
    execFileSync("npm", ["run", "-s", "build"], { cwd: REPO_ROOT, stdio: "ignore" });
    expect(existsSync(path.join(REPO_ROOT, "dist", "components", "index.js"))).toBe(true);
    const r = await runPulumi(L, env, ["preview", "--json"], log);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as { steps: { op: string; urn: string }[] };
    expect([...new Set(plan.steps.map((s) => s.op))]).toEqual(["create"]);
    const types = countTypes(plan.steps.map((s) => s.urn));
    expect(types).toMatchObject({
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
    const instances = plan.steps.filter((s) => typeOf(s.urn) === "openstack:compute/instance:Instance").map((s) => s.urn.split("::").pop());
    expect(instances.sort()).toEqual(DEV_SERVERS);
  });

  describe("pulumi up, with no host behind the servers yet", () => {
    let up: { code: number; stdout: string; stderr: string };
    let cloudNow: ProjectObjects;
    let state: { type: string; urn: string; outputs?: Record<string, unknown> }[];

    beforeAll(async () => {
      up = await runPulumi(L, env, ["up", "--yes", "--skip-preview"], log);
      cloudNow = projectObjects(PROJECT);
      const exported = await runPulumi(L, env, ["stack", "export"]);
      state = (JSON.parse(exported.stdout) as { deployment: { resources: typeof state } }).deployment.resources;
    });

    it("fails only where it must dial SSH, and gives up on the unreachable hosts within about a minute", () => {
      expect(up.code).not.toBe(0);
      const failed = [...(up.stdout + up.stderr).matchAll(/^ {2}command:remote:Command \(([^)]+)\):\n {4}error:/gm)].map((m) => m[1]);
      expect(failed.sort()).toEqual(DEV_SERVERS.map((s) => `${s}-ready`));
      expect(up.stdout).not.toMatch(/^ {2}openstack:\S+ \([^)]+\):\n {4}error:/m);
      const duration = /Duration: (?:(\d+)m)?(\d+)s/.exec(up.stdout);
      expect(duration).not.toBeNull();
      const seconds = Number(duration![1] ?? 0) * 60 + Number(duration![2]);
      console.log(`pulumi up of the dev stack with no hosts: ${seconds} s until it gave up`);
      expect(seconds).toBeLessThan(150);
    });

    it("made every server ACTIVE with its role's flavor and the image, on its port's private address", () => {
      expect(cloudNow.servers.map((s) => s.name)).toEqual(DEV_SERVERS);
      for (const s of cloudNow.servers) {
        expect({ name: s.name, status: s.status, flavor: s.flavor, image: s.image }).toEqual({
          name: s.name,
          status: "ACTIVE",
          flavor: FLAVORS[s.name],
          image: "Ubuntu 24.04",
        });
        const port = cloudNow.ports.find((p) => p.name.startsWith(`${s.name}-`) && p.deviceOwner === "compute:nova")!;
        expect(s.addresses.fleet[0]).toBe(port.fixedIps[0]);
        // The user data Nova holds is the server's own cloud-config.
        expect(s.userData).toMatch(new RegExp(`^#cloud-config\\n[\\s\\S]*hostname: ${s.name}\\n`));
      }
    });

    it("gave floating IPs to exactly the gateway and the public role, and routes the VPN subnet via the gateway", () => {
      const fixed = (name: string) => cloudNow.servers.find((s) => s.name === name)!.addresses.fleet[0];
      expect(cloudNow.floatingIps.map((f) => f.fixedIp).sort()).toEqual(PUBLIC.map(fixed).sort());
      for (const f of cloudNow.floatingIps) expect(f.address).toMatch(/^198\.51\.100\.\d+$/);
      expect(cloudNow.routers).toEqual([{ name: "fleet", externalGateway: true, routes: [{ destination: "10.8.0.0/24", nexthop: fixed("gw-1") }] }]);
      expect(cloudNow.securityGroups.map((g) => g.name)).toEqual(["default", "fleet-sg-app", "fleet-sg-db", "fleet-sg-gateway", "fleet-sg-web"]);
    });

    it("records in the state what Neutron holds: each port's addresses, each floating IP", () => {
      const ports = state.filter((r) => r.type === "openstack:networking/port:Port");
      expect(ports).toHaveLength(6);
      for (const p of ports) {
        const inCloud = cloudNow.ports.find((c) => c.name === p.outputs!.name)!;
        expect(p.outputs!.allFixedIps).toEqual(inCloud.fixedIps);
      }
      const fips = state.filter((r) => r.type === "openstack:networking/floatingIp:FloatingIp").map((r) => r.outputs!.address);
      expect(fips.sort()).toEqual(cloudNow.floatingIps.map((f) => f.address).sort());
      expect(state.filter((r) => r.type === "command:remote:Command")).toEqual([]);
    });

    it("pulumi destroy leaves no server, port, floating IP, network, router or security group of the stack", async () => {
      const r = await runPulumi(L, env, ["destroy", "--yes", "--skip-preview"], log);
      expect(r.code).toBe(0);
      const after = projectObjects(PROJECT);
      expect({ ...after, securityGroups: after.securityGroups.map((g) => g.name) }).toEqual({
        servers: [],
        ports: [],
        floatingIps: [],
        networks: [],
        subnets: [],
        routers: [],
        securityGroups: ["default"],
      });
    });
  });
});
