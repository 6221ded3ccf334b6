/**
 * The lab hypervisor's hands, called by its Nova driver (fleet_lab_driver.py) inside nova-compute:
 *
 *   spawn       < {"id", "name", "userData", "nics": [{port, mac, devname, network, mtu, subnets}],
 *                  "disks": [{serial, file, device}], "powerOn"}
 *   destroy ID  power-off ID  power-on ID  reboot ID
 *   list        [{"id", "name", "running"}]
 *
 * A server is a systemd-nspawn host booted from the lab image (lab/hosts.ts) in its own network namespace
 * fl-vm-<id>, with one NIC per Neutron port: the MAC and fixed IPs of the port, its subnet's gateway as the default
 * route, as DHCP or a config drive would give them. The NIC's other end is the port's tap device (its devname) in the
 * cloud's namespace fl-os, where Neutron's Linux bridge agent plugs it into the network's bridge and filters it with
 * the port's security groups (the iptables firewall driver), and its L3 agent routes and NATs floating IPs.
 * The host's NoCloud seed holds the user data Nova holds, and meta-data with the server's id and name.
 * A Cinder volume mapped to the server (its file on the volume share) becomes a loop device, bound into the host as
 * /dev/disk/by-id/virtio-<first 20 characters of the volume id> (the name udev gives a virtio disk on KVM, from its
 * serial) and as the device Nova named (/dev/vdb).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { bootHostWired, containerInit, HostRecord, prepareHost, removeHost, stopHost } from "../hosts";
import { cloudDir, CLOUD_NS } from "../openstack";
import { must, run } from "../sh";

interface Subnet {
  cidr: string;
  ips: string[];
  gateway: string | null;
  routes: { cidr: string; via: string }[];
}
interface Nic {
  port: string;
  mac: string;
  devname: string;
  network: string;
  /** The network's bridge in fl-os (brq + network id), which the hypervisor plugs the tap into, as os-vif does. */
  bridge: string;
  mtu?: number | null;
  subnets: Subnet[];
}
/** A volume as a disk of the server: its serial (the volume id), the file that holds it, the device Nova named. */
export interface Disk {
  serial: string;
  file: string;
  device: string;
}
export interface ServerSpec {
  id: string;
  name: string;
  userData: string;
  nics: Nic[];
  disks?: Disk[];
  powerOn: boolean;
}
interface Guest extends HostRecord {
  id: string;
  nics: Nic[];
  disks?: Disk[];
}

const hostsDir = () => path.join(cloudDir(), "hosts");
const guestDir = (id: string) => path.join(hostsDir(), id);
const netnsOf = (id: string) => `fl-vm-${id.slice(0, 8)}`;
const SAFE = /^[A-Za-z0-9:./_-]+$/;

/** Every name the wire script uses: present, and made of characters a shell word needs no quoting for. */
function checkNic(n: Nic): void {
  for (const [k, v] of Object.entries({ devname: n.devname, bridge: n.bridge, mac: n.mac })) {
    if (typeof v !== "string" || !SAFE.test(v)) throw new Error(`port ${n.port}: ${k} ${JSON.stringify(v)} is missing or unusable`);
  }
}

function load(id: string): Guest | undefined {
  const f = path.join(guestDir(id), "guest.json");
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as Guest) : undefined;
}
function save(g: Guest): void {
  writeFileSync(path.join(g.dir, "guest.json"), JSON.stringify(g, null, 2), { mode: 0o600 });
}

/** The host's NICs as a script, run before every boot: a fresh network namespace, so kernel state starts clean. */
export function wireScript(netns: string, nics: Nic[]): string {
  for (const n of nics) {
    checkNic(n);
    for (const v of n.subnets.flatMap((s) => [s.cidr, ...s.ips])) if (!SAFE.test(v)) throw new Error(`port ${n.port}: unusable address ${JSON.stringify(v)}`);
  }
  const lines = [
    "set -eu",
    `ns=${netns}`,
    'for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done',
    'ip netns del "$ns" 2>/dev/null || true',
    'ip netns add "$ns"',
    'ip -n "$ns" link set lo up',
  ];
  let defaultRoute = false;
  nics.forEach((n, i) => {
    const eth = `eth${i}`;
    lines.push(
      `ip -n ${CLOUD_NS} link del ${n.devname} 2>/dev/null || true`,
      // The tap end stays in the cloud's namespace, where the Linux bridge agent finds it by its name.
      `ip -n ${CLOUD_NS} link add ${n.devname} type veth peer name ${eth} netns "$ns"`,
      `ip -n "$ns" link set ${eth} address ${n.mac}`,
      ...(n.mtu ? [`ip -n ${CLOUD_NS} link set ${n.devname} mtu ${n.mtu}`, `ip -n "$ns" link set ${eth} mtu ${n.mtu}`] : []),
      // Plugged into the network's bridge, made if missing (os-vif vif_plug_linux_bridge: ensure_bridge, then the
      // tap as a bridge port); the Linux bridge agent then applies the port's security groups to it.
      `ip -n ${CLOUD_NS} link show ${n.bridge} >/dev/null 2>&1 || ip -n ${CLOUD_NS} link add ${n.bridge} type bridge`,
      `ip -n ${CLOUD_NS} link set ${n.bridge} up`,
      `ip -n ${CLOUD_NS} link set ${n.devname} master ${n.bridge} up`,
    );
    for (const s of n.subnets) for (const ip of s.ips) lines.push(`ip -n "$ns" addr add ${ip}/${s.cidr.split("/")[1]} dev ${eth}`);
    lines.push(`ip -n "$ns" link set ${eth} up`);
    for (const s of n.subnets) {
      if (s.gateway && !defaultRoute && !s.cidr.includes(":")) {
        if (!SAFE.test(s.gateway)) throw new Error(`unsafe gateway ${s.gateway}`);
        lines.push(`ip -n "$ns" route add default via ${s.gateway} dev ${eth}`);
        defaultRoute = true;
      }
      for (const r of s.routes) lines.push(`ip -n "$ns" route add ${r.cidr} via ${r.via} dev ${eth}`);
    }
  });
  return `${lines.join("\n")}\n`;
}

/** The disk's loop device, attached if it is not yet (one per file, shared by every boot of the host). */
function loopOf(d: Disk): string {
  if (!SAFE.test(d.file) || !SAFE.test(d.device) || !/^[0-9a-f-]{20,36}$/.test(d.serial)) throw new Error(`unusable disk ${JSON.stringify(d)}`);
  if (!existsSync(d.file)) throw new Error(`volume ${d.serial}: its file ${d.file} is missing`);
  const have = must(["losetup", "--noheadings", "--output", "NAME", "--associated", d.file]).trim().split("\n")[0];
  return have || must(["losetup", "--find", "--show", d.file]).trim();
}
const deviceBinds = (g: Guest) =>
  (g.disks ?? []).flatMap((d) => {
    const node = loopOf(d);
    return [
      { node, as: `/dev/disk/by-id/virtio-${d.serial.slice(0, 20)}` },
      { node, as: d.device },
    ];
  });
function detachDisks(g: Guest | undefined): void {
  for (const d of g?.disks ?? []) {
    if (!existsSync(d.file)) continue;
    for (const loop of must(["losetup", "--noheadings", "--output", "NAME", "--associated", d.file]).trim().split("\n").filter(Boolean)) {
      run(["losetup", "--detach", loop]);
    }
  }
}

async function spawnGuest(spec: ServerSpec): Promise<void> {
  if (!/^[0-9a-f-]{36}$/.test(spec.id)) throw new Error(`not a server id: ${spec.id}`);
  if (load(spec.id)) await destroyGuest(spec.id);
  const dir = guestDir(spec.id);
  const g: Guest = {
    id: spec.id,
    name: spec.name,
    role: "",
    netns: netnsOf(spec.id),
    index: 0,
    privateCidrs: [],
    anchorPid: 0,
    dir,
    nics: spec.nics,
    disks: spec.disks ?? [],
  };
  prepareHost(g, spec.userData, spec.id, wireScript(g.netns, spec.nics));
  save(g);
  must(["bash", path.join(dir, "wire.sh")]);
  if (spec.powerOn) await powerOn(g, false);
}

/**
 * Powers the host on. A machine that was off comes back with no kernel state (routes, iptables, ipsets, sysctls):
 * its NICs are wired anew in a fresh network namespace first, unless spawn has just done so.
 */
async function powerOn(g: Guest, rewire = true): Promise<void> {
  if (containerInit(g)) return;
  if (rewire) must(["bash", path.join(g.dir, "wire.sh")]);
  await bootHostWired(g, path.join(g.dir, "wire.sh"), deviceBinds(g));
  save(g);
}

async function destroyGuest(id: string): Promise<void> {
  const g = load(id);
  if (g) await removeHost(g);
  // A host whose record was lost: its namespace and disk by their names.
  else await removeHost({ name: id, role: "", netns: netnsOf(id), index: 0, privateCidrs: [], anchorPid: 0, dir: guestDir(id) });
  // The volume outlives the server: only its loop device goes.
  detachDisks(g);
  for (const n of g?.nics ?? []) run(["ip", "-n", CLOUD_NS, "link", "del", n.devname]);
}

function list(): { id: string; name: string; running: boolean }[] {
  if (!existsSync(hostsDir())) return [];
  return readdirSync(hostsDir())
    .map((id) => load(id))
    .filter((g): g is Guest => g !== undefined)
    .map((g) => ({ id: g.id, name: g.name, running: containerInit(g) !== 0 }));
}

async function main(argv: string[]): Promise<void> {
  const [cmd, id] = argv;
  const guest = () => {
    const g = load(id ?? "");
    if (!g) throw new Error(`no lab host for server ${id}`);
    return g;
  };
  switch (cmd) {
    case "spawn":
      return spawnGuest(JSON.parse(readFileSync(0, "utf8")) as ServerSpec);
    case "destroy":
      return destroyGuest(id ?? "");
    case "power-off":
      return stopHost(guest());
    case "power-on":
      return powerOn(guest());
    case "reboot": {
      const g = guest();
      await stopHost(g);
      return powerOn(g);
    }
    case "list":
      process.stdout.write(JSON.stringify(list()));
      return;
    default:
      throw new Error("usage: cli.ts spawn|destroy ID|power-off ID|power-on ID|reboot ID|list");
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`lab hypervisor: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
