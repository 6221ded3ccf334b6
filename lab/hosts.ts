/**
 * The lab's hosts, as its hypervisor (lab/hypervisor) boots them for Nova's servers: a systemd Debian 12 container
 * (systemd-nspawn) on a copy-on-write view of the lab image, in the server's own network namespace, configured at
 * first boot by the real cloud-init from its NoCloud seed; and the ways in from outside (nsenter, its sshd's pid).
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "fs";
import { spawn } from "child_process";
import * as path from "path";
import { must, run, runAsync } from "./sh";

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

export class LabHostError extends Error {}

const CLEAN_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  LANG: "C.UTF-8",
};

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
 * A new host's disk at rec.dir: a copy-on-write view of the lab image at rec.dir/root (the image stays untouched),
 * seeded with its user data; `wire` is the script that gives it its NICs before every boot.
 */
export function prepareHost(rec: HostRecord, userData: string, instanceId: string, wire: string): string {
  rmSync(rec.dir, { recursive: true, force: true });
  mkdirSync(rec.dir, { recursive: true, mode: 0o700 });
  const wireFile = path.join(rec.dir, "wire.sh");
  writeFileSync(wireFile, wire, { mode: 0o700 });
  for (const d of ["upper", "work", "root"]) mkdirSync(path.join(rec.dir, d), { mode: 0o755 });
  must(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${labImage()},upperdir=${rec.dir}/upper,workdir=${rec.dir}/work`, hostRoot(rec)]);
  writeSeed(rec, userData, instanceId);
  return wireFile;
}

/** Powers a host off for good and removes its disk and network namespace (its veth ends go with the namespace). */
export async function removeHost(rec: HostRecord): Promise<void> {
  await stopHost(rec);
  killNetnsProcesses(rec.netns);
  unmountHost(rec.dir);
  run(["ip", "netns", "del", rec.netns]);
  rmSync(rec.dir, { recursive: true, force: true });
}

/**
 * Boots a host whose "hardware" is the script `wireFile` (the lab hypervisor's, lab/hypervisor): systemd-nspawn runs
 * the image's systemd as PID 1 in the host's network namespace (--keep-unit --register=no: there is no host systemd
 * or machined to ask; ../shared/research/lab-hosts.md). A supervisor loop re-wires and boots again when the host
 * reboots itself (nspawn exits 133 on reboot).
 */
export async function bootHostWired(rec: HostRecord, wireFile: string, devices: { node: string; as: string }[] = []): Promise<void> {
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
    // Disks beyond the root: a block device node of this machine under the name the guest's kernel would give it.
    ...devices.map((d) => `--bind=${d.node}:${d.as}`),
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
/**
 * Kernel limits a machine running many hosts needs. Each booted host's systemd takes about 7 inotify instances, and
 * the kernel's default of 128 per user (all hosts run as root) ran out at the 21st host of a 50-server lab fleet:
 * hosts then never finished booting. Only ever raised, as LXD's and Docker's guides for many containers do.
 */
const KERNEL_MINIMUMS: Record<string, number> = {
  "/proc/sys/fs/inotify/max_user_instances": 8192,
  "/proc/sys/fs/inotify/max_user_watches": 524288,
};

function ensureNspawnRuntime(): void {
  for (const [file, least] of Object.entries(KERNEL_MINIMUMS)) {
    if (Number(readFileSync(file, "utf8")) < least) writeFileSync(file, String(least));
  }
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
