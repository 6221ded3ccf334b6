/**
 * Lab hosts: one network namespace per server, wired to two bridges in the root
 * namespace (private, public) that carry no address, so the root namespace
 * cannot talk to, or route for, the lab. Each host also has its own mount and
 * UTS namespace, held open by an "anchor" process: /etc, /var, /opt and
 * /usr/local are overlays whose upper layer is the host's own directory, and
 * /root, /home, /srv, /var/log are the host's own directories, so two hosts
 * never see each other's files. sshd and everything it spawns live inside.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "fs";
import { spawn } from "child_process";
import * as path from "path";
import { LAPTOP_IPS, LAPTOPS, OPERATOR_IP, PUBLIC_PREFIX_LEN, StackLayout } from "./layout";
import { inNs, must, netnsList, run, runAsync, RunResult } from "./sh";

export interface HostRecord {
  name: string;
  role: string;
  netns: string;
  index: number;
  /** Addresses with prefix length, e.g. 10.0.0.10/24. */
  privateCidrs: string[];
  publicIp?: string;
  anchorPid: number;
  sshdPid?: number;
  dir: string;
  /** MACs of eth0/eth1, kept across reboots. */
  macs?: Record<string, string>;
}

export interface Fabric {
  stack: string;
  nextIndex: number;
  hosts: Record<string, HostRecord>;
}

export class LabHostError extends Error {}

const CLEAN_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  LANG: "C.UTF-8",
};

export function loadFabric(L: StackLayout): Fabric {
  if (!existsSync(L.hostsFile)) return { stack: L.stack, nextIndex: 1, hosts: {} };
  return JSON.parse(readFileSync(L.hostsFile, "utf8")) as Fabric;
}

export function saveFabric(L: StackLayout, f: Fabric): void {
  mkdirSync(L.dir, { recursive: true, mode: 0o700 });
  const tmp = `${L.hostsFile}.tmp`;
  writeFileSync(tmp, JSON.stringify(f, null, 2), { mode: 0o600 });
  renameSync(tmp, L.hostsFile);
}

function linkExists(name: string): boolean {
  return run(["ip", "link", "show", "dev", name]).code === 0;
}

/** A namespace with loopback up and one veth leg (eth0/eth1...) on `bridge`; returns the leg's MAC. */
function plugInto(ns: string, rootSide: string, inside: string, bridge: string, cidr: string, mac?: string): string {
  if (linkExists(rootSide)) run(["ip", "link", "del", rootSide]);
  must(["ip", "link", "add", rootSide, "type", "veth", "peer", "name", inside, "netns", ns]);
  // No address at all in the root namespace, not even an IPv6 link-local one.
  must(["ip", "link", "set", rootSide, "addrgenmode", "none"]);
  must(["ip", "link", "set", rootSide, "master", bridge, "up"]);
  // The same MAC after a reboot, like a real NIC: neighbours' ARP caches stay right.
  if (mac) must(inNs(ns, ["ip", "link", "set", inside, "address", mac]));
  must(inNs(ns, ["ip", "addr", "add", cidr, "dev", inside]));
  must(inNs(ns, ["ip", "link", "set", inside, "up"]));
  return must(inNs(ns, ["cat", `/sys/class/net/${inside}/address`])).trim();
}

function freshNetns(ns: string): void {
  if (netnsList().includes(ns)) killNetnsProcesses(ns);
  run(["ip", "netns", "del", ns]);
  must(["ip", "netns", "add", ns]);
  must(inNs(ns, ["ip", "link", "set", "lo", "up"]));
}

/** Bridges, the operator namespace (where the engine's SSH runs) and the engineer laptops. Idempotent. */
export function ensureFabric(L: StackLayout): void {
  for (const br of [L.privBridge, L.pubBridge]) {
    if (!linkExists(br)) {
      must(["ip", "link", "add", br, "type", "bridge"]);
      must(["ip", "link", "set", br, "addrgenmode", "none"]);
      must(["ip", "link", "set", br, "up"]);
    }
  }
  const outside: [string, string, string][] = [
    [L.operatorNs, `${L.linkPrefix}op`, OPERATOR_IP],
    ...LAPTOPS.map((l, i): [string, string, string] => [L.laptopNs(l), `${L.linkPrefix}e${i + 1}`, LAPTOP_IPS[l]]),
  ];
  const present = netnsList();
  for (const [ns, veth, ip] of outside) {
    if (present.includes(ns) && linkExists(veth)) continue;
    freshNetns(ns);
    plugInto(ns, veth, "eth0", L.pubBridge, `${ip}/${PUBLIC_PREFIX_LEN}`);
  }
}

export interface HostSpec {
  name: string;
  role: string;
  privateCidrs: string[];
  publicIp?: string;
}

/** The script the anchor runs: private mounts, hostname, then it just holds the namespaces open. */
const ANCHOR_SCRIPT = `set -eu
d=$1; h=$2
exec 3>"$3"
for x in etc var opt usrlocal; do mkdir -p "$d/upper/$x" "$d/work/$x"; done
ov() { mount -t overlay overlay -o "lowerdir=$1,upperdir=$d/upper/$2,workdir=$d/work/$2" "$1"; }
ov /etc etc; ov /var var; ov /opt opt; ov /usr/local usrlocal
for m in root home srv var/log; do mkdir -p "$d/fs/$m"; mount --bind "$d/fs/$m" "/$m"; done
chmod 700 /root
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/sshd /run/lock /run/cloud-init
chmod 0755 /run/sshd
hostname "$h"
printf '%s\\n' "$h" >/etc/hostname
grep -q "[[:space:]]$h\\$" /etc/hosts 2>/dev/null || printf '127.0.1.1 %s\\n' "$h" >>/etc/hosts
echo ready >&3
exec 3>&-
exec sleep infinity
`;

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new LabHostError(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function spawnDetached(argv: string[], logFile: string): number {
  const fd = openSync(logFile, "a", 0o600);
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ["ignore", fd, fd], env: CLEAN_ENV });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new LabHostError(`could not start ${argv.join(" ")}`);
  return child.pid;
}

export async function createHost(L: StackLayout, fabric: Fabric, spec: HostSpec): Promise<HostRecord> {
  if (/[,:\s]/.test(L.dir)) throw new LabHostError(`lab directory ${L.dir} must not contain commas, colons or spaces`);
  const dir = L.hostDir(spec.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const rec: HostRecord = {
    name: spec.name,
    role: spec.role,
    netns: L.hostNs(spec.name),
    index: fabric.nextIndex++,
    privateCidrs: spec.privateCidrs,
    publicIp: spec.publicIp,
    anchorPid: 0,
    dir,
  };
  wire(L, rec);
  await startAnchor(rec);
  fabric.hosts[spec.name] = rec;
  saveFabric(L, fabric);
  return rec;
}

/** A fresh network namespace with the host's addresses: what the kernel holds for a host, and loses on reboot. */
function wire(L: StackLayout, rec: HostRecord): void {
  freshNetns(rec.netns);
  rec.privateCidrs.forEach((cidr, i) => {
    if (i === 0) {
      rec.macs = { ...rec.macs, eth0: plugInto(rec.netns, L.veth(rec.index, "p"), "eth0", L.privBridge, cidr, rec.macs?.eth0) };
    } else must(inNs(rec.netns, ["ip", "addr", "add", cidr, "dev", "eth0"]));
  });
  if (rec.publicIp) {
    const ip = rec.publicIp;
    delete rec.publicIp;
    attachPublic(L, rec, ip);
  }
}

/** The process that holds the host's mount and UTS namespaces; its files persist in rec.dir. */
async function startAnchor(rec: HostRecord): Promise<void> {
  const ready = path.join(rec.dir, "anchor.ready");
  rmSync(ready, { force: true });
  rec.anchorPid = spawnDetached(
    ["ip", "netns", "exec", rec.netns, "unshare", "-m", "-u", "--propagation", "private", "sh", "-c", ANCHOR_SCRIPT, "anchor", rec.dir, rec.name, ready],
    path.join(rec.dir, "anchor.log"),
  );
  await waitFor(`host ${rec.name} mounts (see ${rec.dir}/anchor.log)`, () => existsSync(ready) && readFileSync(ready, "utf8").includes("ready"));
}

/**
 * A reboot as the host sees it: every process gone, kernel state (addresses,
 * routes, iptables, ipsets, sysctls) fresh, /run and /tmp empty, the disk kept.
 * The caller starts what boots (bootcmd, sshd).
 */
export async function powerCycle(L: StackLayout, fabric: Fabric, name: string): Promise<HostRecord> {
  const rec = fabric.hosts[name];
  if (!rec) throw new LabHostError(`no lab host ${name}`);
  killNetnsProcesses(rec.netns);
  run(["ip", "netns", "del", rec.netns]);
  delete rec.sshdPid;
  wire(L, rec);
  await startAnchor(rec);
  saveFabric(L, fabric);
  return rec;
}

/** The public address sits on the host itself (eth1 on the public bridge), like a floating IP seen from outside. */
export function attachPublic(L: StackLayout, rec: HostRecord, ip: string): void {
  if (rec.publicIp === ip) return;
  if (rec.publicIp) detachPublic(L, rec);
  rec.macs = { ...rec.macs, eth1: plugInto(rec.netns, L.veth(rec.index, "u"), "eth1", L.pubBridge, `${ip}/${PUBLIC_PREFIX_LEN}`, rec.macs?.eth1) };
  rec.publicIp = ip;
}

export function detachPublic(L: StackLayout, rec: HostRecord): void {
  run(["ip", "link", "del", L.veth(rec.index, "u")]);
  delete rec.publicIp;
}

/** argv that runs inside the host: its network, mount and UTS namespaces, as root, with a clean environment. */
export function hostArgv(rec: HostRecord, argv: string[]): string[] {
  return ["nsenter", "-t", String(rec.anchorPid), "-m", "-u", "-n", "--wd=/", "env", "-i", ...Object.entries(CLEAN_ENV).map(([k, v]) => `${k}=${v}`), ...argv];
}

export function hostExec(rec: HostRecord, argv: string[], input?: string, timeoutMs?: number): Promise<RunResult> {
  return runAsync(hostArgv(rec, argv), { input, timeoutMs });
}

export async function startSshd(rec: HostRecord): Promise<void> {
  const check = await hostExec(rec, ["/usr/sbin/sshd", "-t"]);
  if (check.code !== 0) throw new LabHostError(`host ${rec.name}: sshd rejects its configuration: ${check.stderr.trim()}`);
  if (rec.sshdPid && processAlive(rec.sshdPid)) run(["kill", String(rec.sshdPid)]);
  rec.sshdPid = spawnDetached(
    ["nsenter", "-t", String(rec.anchorPid), "-m", "-u", "-n", "--wd=/", "/usr/sbin/sshd", "-D", "-e", "-o", "PidFile=/run/sshd.pid"],
    path.join(rec.dir, "sshd.log"),
  );
  await waitFor(`sshd on ${rec.name} (see ${rec.dir}/sshd.log)`, async () => {
    if (!processAlive(rec.sshdPid!)) throw new LabHostError(`sshd on ${rec.name} exited: ${readFileSync(path.join(rec.dir, "sshd.log"), "utf8").trim()}`);
    const r = await runAsync(["nsenter", "-t", String(rec.anchorPid), "-n", "ss", "-Htln", "sport = :22"]);
    return r.stdout.trim() !== "";
  });
}

/** Running (a zombie waiting for init to reap it counts as gone). */
export function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** True when the host's anchor still holds its namespaces (false after a reboot or a manual kill). */
export function hostAlive(rec: HostRecord): boolean {
  if (!processAlive(rec.anchorPid)) return false;
  const r = run(["ip", "netns", "identify", String(rec.anchorPid)]);
  return r.stdout.trim() === rec.netns;
}

function killNetnsProcesses(ns: string): void {
  for (const sig of ["TERM", "KILL"]) {
    const pids = run(["ip", "netns", "pids", ns])
      .stdout.split("\n")
      .filter((p) => /^\d+$/.test(p));
    if (pids.length === 0) return;
    run(["kill", `-${sig}`, ...pids]);
    if (sig === "TERM") {
      const until = Date.now() + 2000;
      while (Date.now() < until && pids.some((p) => processAlive(Number(p)))) spawnSyncSleep(50);
    }
  }
}

function spawnSyncSleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function destroyHost(L: StackLayout, fabric: Fabric, name: string): void {
  const rec = fabric.hosts[name];
  const ns = rec?.netns ?? L.hostNs(name);
  killNetnsProcesses(ns);
  run(["ip", "netns", "del", ns]);
  if (rec) {
    run(["ip", "link", "del", L.veth(rec.index, "p")]);
    run(["ip", "link", "del", L.veth(rec.index, "u")]);
  }
  rmSync(L.hostDir(name), { recursive: true, force: true });
  delete fabric.hosts[name];
  saveFabric(L, fabric);
}

/** Every link of this stack in the root namespace, found by prefix. */
export function stackLinks(L: StackLayout): string[] {
  const out = must(["ip", "-o", "link", "show"]);
  return out
    .split("\n")
    .map((l) => l.split(": ")[1]?.split("@")[0])
    .filter((n): n is string => n !== undefined && n.startsWith(L.linkPrefix));
}

export function stackNamespaces(L: StackLayout): string[] {
  return netnsList().filter((n) => n.startsWith(L.nsPrefix));
}

/** Removes every namespace, process, link and file of the stack; safe to run twice and without state. */
export function teardown(L: StackLayout): { namespaces: string[]; links: string[] } {
  const namespaces = stackNamespaces(L);
  for (const ns of namespaces) {
    killNetnsProcesses(ns);
    run(["ip", "netns", "del", ns]);
  }
  const links = stackLinks(L);
  // Bridges last: deleting a veth's namespace already took most veths with it.
  for (const l of links.sort((a, b) => Number(a.endsWith("priv") || a.endsWith("pub")) - Number(b.endsWith("priv") || b.endsWith("pub")))) {
    run(["ip", "link", "del", l]);
  }
  rmSync(L.dir, { recursive: true, force: true });
  return { namespaces, links };
}
