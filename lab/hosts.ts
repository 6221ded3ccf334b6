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
import { createHash } from "crypto";
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

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
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

/** A MAC that stays the host's across reboots and re-creations, like a Neutron port's (locally administered). */
function macFor(L: StackLayout, host: string, iface: string): string {
  const h = createHash("sha256").update(`${L.stack}/${host}/${iface}`).digest();
  return ["02", ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

/**
 * The host's "hardware" as a script: a fresh network namespace (so kernel state, iptables, ipsets, routes and
 * sysctls are gone) with its NICs, fixed MACs and addresses. The lab runs it before every boot, including a
 * reboot the host asks for itself (`systemctl reboot`: the supervisor runs it again before nspawn).
 */
function wireScript(L: StackLayout, rec: HostRecord): string {
  const lines = [
    "set -eu",
    `ns=${rec.netns}`,
    'for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done',
    'ip netns del "$ns" 2>/dev/null || true',
    'ip netns add "$ns"',
    'ip -n "$ns" link set lo up',
  ];
  const nic = (rootSide: string, inside: string, bridge: string, cidrs: string[]) => {
    lines.push(
      `ip link del ${rootSide} 2>/dev/null || true`,
      `ip link add ${rootSide} type veth peer name ${inside} netns "$ns"`,
      `ip link set ${rootSide} addrgenmode none`,
      `ip link set ${rootSide} master ${bridge} up`,
      `ip -n "$ns" link set ${inside} address ${macFor(L, rec.name, inside)}`,
      ...cidrs.map((c) => `ip -n "$ns" addr add ${c} dev ${inside}`),
      `ip -n "$ns" link set ${inside} up`,
    );
  };
  nic(L.veth(rec.index, "p"), "eth0", L.privBridge, rec.privateCidrs);
  if (rec.publicIp) nic(L.veth(rec.index, "u"), "eth1", L.pubBridge, [`${rec.publicIp}/${PUBLIC_PREFIX_LEN}`]);
  return `${lines.join("\n")}\n`;
}

function writeWire(L: StackLayout, rec: HostRecord): string {
  const file = path.join(rec.dir, "wire.sh");
  writeFileSync(file, wireScript(L, rec), { mode: 0o700 });
  return file;
}

/** Sets up a host: its wired network namespace and its disk, a copy-on-write view (overlayfs) of the lab image. */
export async function createHost(L: StackLayout, fabric: Fabric, spec: HostSpec): Promise<HostRecord> {
  if (/[,:\s]/.test(L.dir)) throw new LabHostError(`lab directory ${L.dir} must not contain commas, colons or spaces`);
  const dir = L.hostDir(spec.name);
  unmountHost(dir);
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
  must(["bash", writeWire(L, rec)]);
  for (const d of ["upper", "work", "root"]) mkdirSync(path.join(dir, d), { mode: 0o755 });
  must(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${labImage()},upperdir=${dir}/upper,workdir=${dir}/work`, `${dir}/root`]);
  fabric.hosts[spec.name] = rec;
  saveFabric(L, fabric);
  return rec;
}

/** The host's root filesystem, as the host sees it at `/`. */
export const hostRoot = (rec: HostRecord) => path.join(rec.dir, "root");

/**
 * The NoCloud seed cloud-init reads at first boot: exactly the user data the program gave the instance, and a
 * meta-data file with its instance id and hostname (cloud-init's NoCloud datasource: /var/lib/cloud/seed/nocloud).
 */
export function writeSeed(rec: HostRecord, userData: string, instanceId: string): void {
  const seed = path.join(hostRoot(rec), "var/lib/cloud/seed/nocloud");
  mkdirSync(seed, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(seed, "user-data"), userData, { mode: 0o600 });
  writeFileSync(path.join(seed, "meta-data"), `instance-id: ${instanceId}\nlocal-hostname: ${rec.name}\n`, { mode: 0o600 });
}

/**
 * Boots the host: systemd-nspawn runs the image's systemd as PID 1 in the host's network namespace
 * (--keep-unit --register=no: there is no host systemd or machined to ask; ../shared/research/lab-hosts.md).
 * A supervisor loop re-wires and boots again when the host reboots itself (nspawn exits 133 on reboot).
 */
export async function bootHost(L: StackLayout, rec: HostRecord): Promise<void> {
  await bootHostWired(rec, writeWire(L, rec));
}

/** bootHost for a host whose "hardware" is the script `wireFile` (the lab hypervisor's hosts, lab/hypervisor). */
export async function bootHostWired(rec: HostRecord, wireFile: string): Promise<void> {
  ensureNspawnRuntime();
  const nspawn = [
    "systemd-nspawn",
    "--quiet",
    "--keep-unit",
    "--register=no",
    "--boot",
    `--directory=${hostRoot(rec)}`,
    `--machine=${rec.name}`,
    `--network-namespace-path=/run/netns/${rec.netns}`,
    "--bind=/dev/net/tun",
    // iptables, ipset and OpenVPN need it; nspawn grants it only for networks it made itself.
    "--capability=CAP_NET_ADMIN",
    "--console=pipe",
  ];
  // /proc/sys/net writable, as on a VM (the gateway turns on forwarding); nspawn does this by itself only for a
  // network it creates (systemd-nspawn(1), $SYSTEMD_NSPAWN_API_VFS_WRITABLE).
  // Its own cgroup per host: with --keep-unit the container's systemd takes the caller's cgroup for its root, and
  // six of them sharing one tree undo each other's units (status 219/CGROUP).
  const cg = CGROUP_ROOTS.map((r) => `d=${r}/${rec.netns}; mkdir -p "$d" && echo $$ >"$d/cgroup.procs";`).join(" ");
  const supervisor = `${cg} export SYSTEMD_NSPAWN_API_VFS_WRITABLE=network; while :; do ${nspawn.map((a) => `'${a}'`).join(" ")} </dev/null; rc=$?; [ "$rc" -eq 133 ] || exit "$rc"; bash '${wireFile}'; done`;
  rec.anchorPid = spawnDetached(["bash", "-c", supervisor], path.join(rec.dir, "console.log"));
  await waitFor(
    `host ${rec.name} to boot and listen on SSH (see ${rec.dir}/console.log)`,
    async () => {
      if (!processAlive(rec.anchorPid)) throw new LabHostError(`host ${rec.name} stopped while booting: ${tail(path.join(rec.dir, "console.log"))}`);
      const pid = containerInit(rec);
      if (!pid) return false;
      const r = await runAsync(["nsenter", "-t", String(pid), "-n", "ss", "-Htln", "sport = :22"]);
      return r.stdout.trim() !== "";
    },
    120_000,
  );
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-8).join("\n");
  } catch {
    return "(no console log)";
  }
}

/** Where each host's cgroup lives, in the hierarchies systemd uses (this machine is hybrid: name=systemd and unified). */
const CGROUP_ROOTS = existsSync("/sys/fs/cgroup/cgroup.controllers")
  ? ["/sys/fs/cgroup/fleet-lab"] // cgroup v2 only (e.g. a CI runner with systemd): one hierarchy
  : ["/sys/fs/cgroup/systemd/fleet-lab", "/sys/fs/cgroup/unified/fleet-lab"].filter((d) => existsSync(path.dirname(d)));

function removeCgroups(rec: HostRecord): void {
  for (const r of CGROUP_ROOTS) {
    const d = `${r}/${rec.netns}`;
    if (!existsSync(d)) continue;
    // Children first (the container's own slices and scopes), deepest first; a busy one stays.
    const dirs = must(["find", d, "-depth", "-type", "d"]).split("\n").filter(Boolean);
    for (const x of dirs) run(["rmdir", x]);
  }
}

/** nspawn wants a private /run/systemd/nspawn where no host systemd made one (lab-hosts.md). */
function ensureNspawnRuntime(): void {
  const dir = "/run/systemd/nspawn";
  mkdirSync(dir, { recursive: true });
  if (
    !readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .some((l) => l.split(" ")[1] === dir)
  )
    must(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", dir]);
}

/** The image's rootfs (lab/image/build.sh builds it once, cached by its package list). */
export function labImage(): string {
  const dir = must(["bash", path.join(__dirname, "image", "build.sh"), "--print-dir"]).trim();
  if (!existsSync(path.join(dir, "..", "ready"))) {
    throw new LabHostError(`the lab's host image is not built: run bash lab/image/build.sh (it debootstraps Debian 12 once, a few minutes)`);
  }
  return dir;
}

/** PID (in the root namespace) of the container's init, the host's PID 1; 0 when the host is not running. */
export function containerInit(rec: HostRecord): number {
  const pids = run(["ip", "netns", "pids", rec.netns])
    .stdout.split("\n")
    .filter((p) => /^\d+$/.test(p));
  for (const p of pids) {
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1].trim().split(/\s+/);
      if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === "1") return Number(p);
    } catch {
      // gone meanwhile
    }
  }
  return 0;
}

/** The systemd-nspawn processes (in the root namespace) that run this host. */
function nspawnPids(rec: HostRecord): number[] {
  return run(["pgrep", "-f", "--", `--network-namespace-path=/run/netns/${rec.netns}`])
    .stdout.split("\n")
    .filter((p) => /^\d+$/.test(p))
    .map(Number);
}

/** Stops the host as a power-off would after a clean halt: SIGRTMIN+4 halts systemd; what is left is killed. */
export async function stopHost(rec: HostRecord): Promise<void> {
  // The supervisor first, so the halt is not taken for a reboot.
  if (rec.anchorPid && processAlive(rec.anchorPid)) run(["kill", "-KILL", String(rec.anchorPid)]);
  const init = containerInit(rec);
  // systemd powers off on SIGRTMIN+4, as `machinectl poweroff` asks it to; nspawn exits when it has.
  if (init) run(["kill", "-s", "SIGRTMIN+4", String(init)]);
  const gone = () => nspawnPids(rec).length === 0 && !processAlive(init);
  await waitFor(`host ${rec.name} to power off`, gone, 20_000).catch(() => undefined);
  for (const p of nspawnPids(rec)) run(["kill", "-KILL", String(p)]);
  killNetnsProcesses(rec.netns);
  // nspawn holds a lock on the directory until it has exited; the next boot needs it free.
  await waitFor(`systemd-nspawn of ${rec.name} to exit`, () => nspawnPids(rec).length === 0, 10_000);
  removeCgroups(rec);
}

/**
 * A reboot as the host sees it: every process gone, kernel state (addresses, routes, iptables, ipsets, sysctls)
 * fresh, the disk kept; then systemd boots again and only what the host's own boot path restores comes back.
 */
export async function powerCycle(L: StackLayout, fabric: Fabric, name: string): Promise<HostRecord> {
  const rec = fabric.hosts[name];
  if (!rec) throw new LabHostError(`no lab host ${name}`);
  await stopHost(rec);
  must(["bash", writeWire(L, rec)]);
  await bootHost(L, rec);
  saveFabric(L, fabric);
  return rec;
}

/** The public address sits on the host itself (eth1 on the public bridge), like a floating IP seen from outside. */
export function attachPublic(L: StackLayout, rec: HostRecord, ip: string): void {
  if (rec.publicIp === ip) return;
  if (rec.publicIp) detachPublic(L, rec);
  rec.publicIp = ip;
  const veth = L.veth(rec.index, "u");
  if (linkExists(veth)) run(["ip", "link", "del", veth]);
  must(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth1", "netns", rec.netns]);
  must(["ip", "link", "set", veth, "addrgenmode", "none"]);
  must(["ip", "link", "set", veth, "master", L.pubBridge, "up"]);
  must(inNs(rec.netns, ["ip", "link", "set", "eth1", "address", macFor(L, rec.name, "eth1")]));
  must(inNs(rec.netns, ["ip", "addr", "add", `${ip}/${PUBLIC_PREFIX_LEN}`, "dev", "eth1"]));
  must(inNs(rec.netns, ["ip", "link", "set", "eth1", "up"]));
  writeWire(L, rec);
}

export function detachPublic(L: StackLayout, rec: HostRecord): void {
  run(["ip", "link", "del", L.veth(rec.index, "u")]);
  delete rec.publicIp;
  writeWire(L, rec);
}

/** argv that runs inside the host (all its namespaces, as root, with a clean environment), like `machinectl shell`. */
export function hostArgv(rec: HostRecord, argv: string[]): string[] {
  const init = containerInit(rec);
  if (!init) throw new LabHostError(`lab host ${rec.name} is not running`);
  return [
    "nsenter",
    "-t",
    String(init),
    "-m",
    "-u",
    "-i",
    "-n",
    "-p",
    "-r",
    "-w",
    "env",
    "-i",
    ...Object.entries(CLEAN_ENV).map(([k, v]) => `${k}=${v}`),
    ...argv,
  ];
}

export function hostExec(rec: HostRecord, argv: string[], input?: string, timeoutMs?: number): Promise<RunResult> {
  return runAsync(hostArgv(rec, argv), { input, timeoutMs });
}

/** PID of the host's listening sshd (in the root namespace), if it runs. */
export function sshdPid(rec: HostRecord): number | null {
  const r = run(["ip", "netns", "exec", rec.netns, "ss", "-Htlnp", "sport = :22"]);
  const m = /pid=(\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : null;
}

export function unmountHost(dir: string): void {
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1])
    .filter((m) => m !== undefined && (m === `${dir}/root` || m.startsWith(`${dir}/root/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) run(["umount", "-l", m]);
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

/** True when the host's systemd runs (false after a power-off or a manual kill). */
export function hostAlive(rec: HostRecord): boolean {
  return containerInit(rec) !== 0;
}

export function killNetnsProcesses(ns: string): void {
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

export async function destroyHost(L: StackLayout, fabric: Fabric, name: string): Promise<void> {
  const rec = fabric.hosts[name];
  const ns = rec?.netns ?? L.hostNs(name);
  if (rec) await stopHost(rec);
  killNetnsProcesses(ns);
  unmountHost(L.hostDir(name));
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
  // Supervisors first (so nothing boots again), then the hosts' processes, then their disks.
  for (const rec of Object.values(loadFabric(L).hosts)) if (rec.anchorPid && processAlive(rec.anchorPid)) run(["kill", "-KILL", String(rec.anchorPid)]);
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
  for (const rec of Object.values(loadFabric(L).hosts)) {
    unmountHost(rec.dir);
    removeCgroups(rec);
  }
  rmSync(L.dir, { recursive: true, force: true });
  return { namespaces, links };
}
