/**
 * Lab hosts on a test's own switch, for the suites that run one remote script at a time (firewall, VPN, deploy):
 * the same systemd hosts the lab hypervisor boots for Nova's servers (lab/hosts.ts: the lab image, systemd as PID 1,
 * cloud-init from a NoCloud seed, their own disk), wired straight to bridges in a switch namespace instead of to
 * Neutron's. Plain namespaces stand for what is not a server (a laptop, a sender on the Internet).
 * Scripts run inside a host through the bundle loader, as the command provider runs them over SSH.
 */
import { createHash } from "crypto";
import { mkdtempSync, rmSync } from "fs";
import * as path from "path";
import { scriptInvocation, ScriptOp } from "../../../components/remote/bundle";
import { bootHostWired, HostRecord, hostArgv, hostRoot, prepareHost, removeHost, stopHost } from "../../../lab/hosts";
import { inNs, LAB_PREFIX, must, run, runAsync, RunResult } from "../../../lab/sh";

export interface NicSpec {
  bridge: string;
  /** Address with prefix length, e.g. 10.0.0.10/16. */
  cidr: string;
  /** Interface name inside (default eth<i>). */
  name?: string;
}

export interface RouteSpec {
  to: string;
  /** Omitted: on-link through the first NIC. */
  via?: string;
}

export interface NetHost extends HostRecord {
  /** First NIC's address. */
  ip: string;
  /** The host's filesystem as seen from outside (its overlay root). */
  root: string;
}

const SAFE = /^[A-Za-z0-9:./_-]+$/;
const safe = (what: string, v: string) => {
  if (!SAFE.test(v)) throw new Error(`host net: unusable ${what} ${JSON.stringify(v)}`);
  return v;
};

/** A locally administered unicast MAC, fixed for a name. */
function macOf(name: string): string {
  const h = createHash("sha256").update(name).digest();
  return ["02", ...[0, 1, 2, 3, 4].map((i) => h[i].toString(16).padStart(2, "0"))].join(":");
}

export class HostNet {
  readonly id = `${process.pid % 100000}`;
  readonly dir: string;
  readonly sw: string;
  readonly hosts = new Map<string, NetHost>();
  private readonly namespaces: string[] = [];
  private ports = 0;

  constructor(
    private readonly tag: string,
    bridges: string[] = ["br0"],
  ) {
    this.dir = mkdtempSync(`/tmp/fl-${tag}-`);
    this.sw = `${LAB_PREFIX}${tag}${this.id}-sw`;
    run(["ip", "netns", "del", this.sw]);
    must(["ip", "netns", "add", this.sw]);
    for (const b of bridges) {
      must(inNs(this.sw, ["ip", "link", "add", safe("bridge", b), "type", "bridge"]));
      must(inNs(this.sw, ["ip", "link", "set", b, "up"]));
    }
  }

  private nsName(name: string): string {
    return `${LAB_PREFIX}${this.tag}${this.id}-${name}`.slice(0, 60);
  }

  /** Lines that (re)make namespace `ns` with its NICs plugged into the switch's bridges and its routes. */
  private wireLines(ns: string, nics: NicSpec[], routes: RouteSpec[]): string[] {
    const lines = [
      "set -eu",
      `ns=${safe("namespace", ns)}`,
      'for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done',
      'ip netns del "$ns" 2>/dev/null || true',
      'ip netns add "$ns"',
      'ip -n "$ns" link set lo up',
    ];
    nics.forEach((n, i) => {
      const port = `p${this.ports++}`;
      const ifname = safe("interface", n.name ?? `eth${i}`);
      lines.push(
        `ip -n ${this.sw} link del ${port} 2>/dev/null || true`,
        `ip -n ${this.sw} link add ${port} type veth peer name ${ifname} netns "$ns"`,
        // A NIC keeps its MAC across reboots, as a VM's does: peers' ARP caches stay right.
        `ip -n "$ns" link set ${ifname} address ${macOf(`${ns}/${ifname}`)}`,
        `ip -n ${this.sw} link set ${port} master ${safe("bridge", n.bridge)} up`,
        `ip -n "$ns" addr add ${safe("address", n.cidr)} dev ${ifname}`,
        `ip -n "$ns" link set ${ifname} up`,
      );
    });
    const first = nics[0]?.name ?? "eth0";
    for (const r of routes) lines.push(`ip -n "$ns" route add ${safe("route", r.to)} ${r.via ? `via ${safe("gateway", r.via)}` : `dev ${first}`}`);
    return lines;
  }

  /** A plain namespace on the switch: not a server, just somewhere packets come from. Default route on-link. */
  namespace(name: string, nics: NicSpec[], routes: RouteSpec[] = [{ to: "default" }]): string {
    const ns = this.nsName(name);
    must(["bash", "-c", this.wireLines(ns, nics, routes).join("\n")]);
    this.namespaces.push(ns);
    return ns;
  }

  /**
   * Boots a lab host on the switch (a few seconds: systemd, cloud-init, sshd). Its NICs are wired anew before every
   * boot, in a fresh network namespace, as the hypervisor does: a reboot keeps the disk and loses kernel state.
   */
  async host(name: string, nics: NicSpec[], opts: { routes?: RouteSpec[]; userData?: string } = {}): Promise<NetHost> {
    const ns = this.nsName(name);
    const rec: NetHost = {
      name,
      role: "",
      netns: ns,
      index: this.hosts.size,
      privateCidrs: nics.map((n) => n.cidr),
      anchorPid: 0,
      dir: path.join(this.dir, name),
      ip: nics[0].cidr.split("/")[0],
      root: "",
    };
    rec.root = hostRoot(rec);
    this.hosts.set(name, rec);
    const wire = `${this.wireLines(ns, nics, opts.routes ?? [{ to: "default" }]).join("\n")}\n`;
    const wireFile = prepareHost(rec, opts.userData ?? "#cloud-config\n{}\n", `i-${this.tag}-${name}`, wire);
    must(["bash", wireFile]);
    await bootHostWired(rec, wireFile);
    return rec;
  }

  get(name: string): NetHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no lab host ${name}`);
    return h;
  }

  /** Runs argv inside the host (its mount, pid and network namespaces, as root). */
  exec(h: NetHost, argv: string[], input?: string, timeoutMs = 120_000): RunResult {
    return run(hostArgv(h, argv), input, timeoutMs);
  }

  execAsync(h: NetHost, argv: string[], input?: string, timeoutMs = 120_000): Promise<RunResult> {
    return runAsync(hostArgv(h, argv), { input, timeoutMs });
  }

  /** A remote script (components/<concept>/<script>.sh) through the constant loader with its bundle on stdin, as scriptCommand runs it. */
  runScript(h: NetHost, script: string, files: Record<string, string>, op: ScriptOp = "create"): RunResult {
    const s = scriptInvocation(script, files, op);
    return this.exec(h, ["bash", "-c", s.command], s.stdin);
  }

  runScriptAsync(h: NetHost, script: string, files: Record<string, string>, op: ScriptOp = "create"): Promise<RunResult> {
    const s = scriptInvocation(script, files, op);
    return this.execAsync(h, ["bash", "-c", s.command], s.stdin);
  }

  /** Off, then on: every process and all kernel state gone, the disk kept; only the host's boot path restores. */
  async reboot(h: NetHost): Promise<void> {
    await stopHost(h);
    const wireFile = path.join(h.dir, "wire.sh");
    must(["bash", wireFile]);
    await bootHostWired(h, wireFile);
  }

  async destroy(): Promise<void> {
    for (const h of this.hosts.values()) await removeHost(h);
    for (const ns of this.namespaces) {
      for (const p of run(["ip", "netns", "pids", ns]).stdout.split("\n").filter(Boolean)) run(["kill", "-KILL", p]);
      run(["ip", "netns", "del", ns]);
    }
    run(["ip", "netns", "del", this.sw]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
