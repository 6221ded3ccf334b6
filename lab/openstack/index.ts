/**
 * The lab's OpenStack: one real cloud per machine (Debian 12's Zed, lab/openstack/cloud.sh), in the network
 * namespace fl-os on its loopback. Each lab stack is a tenant of it, as a Rackspace Flex account is: its own
 * project and user, and the region, flavors, images and external network its config names.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "fs";
import { randomBytes } from "crypto";
import * as path from "path";
import { FleetConfig } from "../../components/config/types";
import { inNs, run, runAsync, RunResult } from "../sh";
import { runSync } from "../../scripts/process";

export const CLOUD_NS = "fl-os";
const HERE = __dirname;

/** The lab's stand-in for the internet's addresses that floating IPs come from (TEST-NET-2); TEST-NET-3 is the operator's. */
export const EXTERNAL = { cidr: "198.51.100.0/24", gateway: "198.51.100.1", poolStart: "198.51.100.10", poolEnd: "198.51.100.250" };
/** The services' own region; a stack's region gets the same endpoints. */
export const SERVICES_REGION = "RegionOne";

export class CloudError extends Error {}

export function cloudDir(): string {
  return process.env.FLEET_LAB_CLOUD_DIR ?? "/var/lib/fleet-lab/cloud";
}

/** Runs cloud.sh (up, down, status), streaming its lines to `log`; resolves with its exit code. */
export function cloud(cmd: "up" | "down" | "status", opts: { wipe?: boolean; log?: (line: string) => void } = {}): Promise<number> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l));
  const args = [path.join(HERE, "cloud.sh"), cmd, ...(opts.wipe ? ["--wipe"] : [])];
  return runAsync(["bash", ...args], { onOutput: log, timeoutMs: 0 }).then((r) => r.code);
}

/** The cloud answers when every service it started is running. */
export function cloudRunning(): boolean {
  return run(["bash", path.join(HERE, "cloud.sh"), "status"]).code === 0;
}

export interface Flavor {
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
}

/**
 * A flavor's size. Rackspace Flex names general-purpose flavors gp.<generation>.<vcpus>.<GiB of RAM>; the lab
 * sizes such a name as it reads, with 10 GiB of disk per vCPU (a bigger flavor never has a smaller disk, as Nova
 * checks on resize). Any other name gets the smallest size.
 */
export function flavorSize(name: string): Flavor {
  const m = /^gp\.\d+\.(\d+)\.(\d+)$/.exec(name);
  const vcpus = m ? Math.max(1, Number(m[1])) : 1;
  const ramGiB = m ? Math.max(1, Number(m[2])) : 1;
  return { name, vcpus, ram: ramGiB * 1024, disk: vcpus * 10 };
}

export interface TenantSpec {
  region: string;
  project: string;
  user: string;
  flavors: Flavor[];
  images: string[];
  externalNetwork: { name: string; cidr: string; gateway: string; poolStart: string; poolEnd: string };
}

/** What a lab stack needs from the cloud, from its validated config (pure). */
export function tenantSpec(stack: string, config: FleetConfig, region: string): TenantSpec {
  const flavors = new Set<string>([config.cloud.flavor]);
  const images = new Set<string>([config.cloud.image]);
  for (const r of Object.values(config.roles)) {
    if (r.flavor) flavors.add(r.flavor);
    if (r.image) images.add(r.image);
  }
  for (const s of config.servers) {
    flavors.add(s.flavor);
    images.add(s.image);
  }
  return {
    region,
    project: `lab-${stack}`,
    user: `lab-${stack}`,
    flavors: [...flavors].sort().map(flavorSize),
    images: [...images].sort(),
    externalNetwork: { name: config.cloud.externalNetwork, ...EXTERNAL },
  };
}

function adminPassword(): string {
  const f = path.join(cloudDir(), "secrets", "admin");
  if (!existsSync(f)) throw new CloudError("the lab's OpenStack was never started: npm run lab -- cloud up");
  return readFileSync(f, "utf8").trim();
}

/** Runs one of this folder's Python scripts in fl-os as the cloud's admin (the password in its environment). */
export function adminPython(script: string, args: string[], input = ""): RunResult {
  const argv = inNs(CLOUD_NS, ["/usr/bin/python3", path.resolve(HERE, script), ...args]);
  return runSync(argv, { input, timeoutMs: 300_000, env: adminEnv() });
}

export interface ProjectObjects {
  servers: { id: string; name: string; status: string; flavor: string; image: string; addresses: Record<string, string[]>; userData: string | null }[];
  ports: { name: string; fixedIps: string[]; mac: string; deviceOwner: string; deviceId: string; securityGroups: string[] }[];
  floatingIps: { address: string; fixedIp: string | null; portId: string | null }[];
  networks: string[];
  subnets: { name: string; cidr: string }[];
  routers: { name: string; externalGateway: boolean; routes: { destination: string; nexthop: string }[] }[];
  securityGroups: { name: string; rules: number }[];
  volumes: { id: string; name: string; status: string; size: number; attachedTo: string[] }[];
}

/** Everything a project holds in the cloud, as the OpenStack API reports it (project_objects.py). */
export function projectObjects(project: string): ProjectObjects {
  const r = adminPython("project_objects.py", [project]);
  if (r.code !== 0) throw new CloudError(`project_objects.py ${project}: ${r.stderr.trim().split("\n").slice(-5).join("\n")}`);
  return JSON.parse(r.stdout) as ProjectObjects;
}

/** OS_* for the cloud's admin (inside fl-os): what tests use to check the cloud from outside the program. */
export function adminEnv(): Record<string, string> {
  return {
    OS_AUTH_URL: "http://127.0.0.1:5000/v3",
    OS_IDENTITY_API_VERSION: "3",
    OS_USERNAME: "admin",
    OS_PASSWORD: adminPassword(),
    OS_PROJECT_NAME: "admin",
    OS_USER_DOMAIN_NAME: "Default",
    OS_PROJECT_DOMAIN_NAME: "Default",
    OS_REGION_NAME: SERVICES_REGION,
  };
}

/**
 * Makes the stack's tenant (idempotent) and returns the OS_* credentials its `pulumi` runs with: the provider
 * reads them as it reads a user's (README, "Quick start on a real cloud"), so no credential enters the stack file.
 * The user's password is made once, kept 0600 in the stack's lab directory.
 */
export function ensureTenant(spec: TenantSpec, stackDir: string): Record<string, string> {
  mkdirSync(stackDir, { recursive: true, mode: 0o700 });
  const pwFile = path.join(stackDir, "cloud-password");
  if (!existsSync(pwFile)) writeFileSync(pwFile, randomBytes(18).toString("base64url"), { mode: 0o600 });
  chmodSync(pwFile, 0o600);
  const password = readFileSync(pwFile, "utf8").trim();
  // The spec, password included, goes on stdin: never on a command line.
  const r = adminPython("catalogue.py", [SERVICES_REGION], JSON.stringify({ ...spec, password }));
  writeFileSync(path.join(stackDir, "tenant.json"), JSON.stringify({ project: spec.project, user: spec.user, region: spec.region }), { mode: 0o600 });
  if (r.code !== 0) throw new CloudError(`the lab cloud could not make stack ${spec.project}'s tenant:\n${r.stderr.trim().split("\n").slice(-8).join("\n")}`);
  return tenantEnv(stackDir)!;
}

export interface Tenant {
  project: string;
  user: string;
  region: string;
}

/** The tenant ensureTenant made for a stack (its tenant.json), or undefined if it never made one. */
export function tenantOf(stackDir: string): Tenant | undefined {
  const f = path.join(stackDir, "tenant.json");
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as Tenant) : undefined;
}

/** OS_* of a stack's tenant, as ensureTenant made it (undefined if it never did). */
export function tenantEnv(stackDir: string): Record<string, string> | undefined {
  const t = tenantOf(stackDir);
  const pwFile = path.join(stackDir, "cloud-password");
  if (!t || !existsSync(pwFile)) return undefined;
  return {
    OS_AUTH_URL: "http://127.0.0.1:5000/v3",
    OS_IDENTITY_API_VERSION: "3",
    OS_USERNAME: t.user,
    OS_PASSWORD: readFileSync(pwFile, "utf8").trim(),
    OS_PROJECT_NAME: t.project,
    OS_USER_DOMAIN_NAME: "Default",
    OS_PROJECT_DOMAIN_NAME: "Default",
    OS_REGION_NAME: t.region,
  };
}

/**
 * Deletes every object of a lab stack's project (`lab-<stack>`), as the cloud's admin, for what its state does not
 * hold (gone, or not destroyed). Needs nothing of the stack's lab directory. Resolves with how many objects there
 * were before and after; a stack that never had a tenant has none.
 */
export function purgeTenant(stack: string): { before: number; after: number } {
  if (!cloudRunning()) return { before: 0, after: 0 };
  const r = adminPython("purge.py", [`lab-${stack}`]);
  if (r.code !== 0) throw new CloudError(`purging lab-${stack}: ${r.stderr.trim().split("\n").slice(-5).join("\n")}`);
  return JSON.parse(r.stdout) as { before: number; after: number };
}
