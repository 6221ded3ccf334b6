/**
 * A small firewall lab for test/lab/firewall/*.test.ts: lab hosts (systemd, their own disk and kernel state;
 * test/lab/support/host-net.ts) and plain sender namespaces on one bridge, python listeners/probers, and the real
 * repo scripts run inside each host through the bundle loader exactly as the Firewall component runs them over SSH.
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { applyFiles, confirmFiles } from "../../../components/firewall/bundle-files";
import { connectivityMatrix, MatrixEntry, policyPorts } from "../../../components/firewall/matrix";
import { FirewallInput, HostFirewall } from "../../../components/firewall/render";
import { Proto } from "../../../components/model";
import { inNs, must, RunResult, runAsync } from "../../../lab/sh";
import { HostNet, NetHost } from "../support/host-net";

export interface FwNode {
  name: string;
  ns: string;
  ip: string;
  /** Absent for a plain sender namespace. */
  host?: NetHost;
}

/** Where the firewall scripts keep their files on a host (the defaults of firewall-apply.sh). */
export const FW_ETC = "/etc/iptables";
export const FW_STATE = "/var/lib/fleet/firewall";

export interface Target {
  ip: string;
  proto: Proto;
  port: number;
}

export const LISTENER = `
import socket, sys, threading
def tcp(p):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", p)); s.listen(64)
    def serve(c):
        try:
            while True:
                d = c.recv(4096)
                if not d: break
                c.sendall(d)
        except OSError: pass
        c.close()
    def loop():
        while True:
            c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
def udp(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", p))
    def loop():
        while True:
            d, a = s.recvfrom(2048); s.sendto(d, a)
    threading.Thread(target=loop, daemon=True).start()
for spec in sys.argv[1:]:
    proto, port = spec.split("/")
    try: (tcp if proto == "tcp" else udp)(int(port))
    except OSError as e:
        # A port the host itself serves (sshd on 22) answers probes already.
        if e.errno != 98: raise
print("ready", flush=True)
threading.Event().wait()
`;

export const PROBER = `
import json, socket, sys, threading
targets = json.load(sys.stdin); out = [False] * len(targets); T = float(sys.argv[1])
def probe(i, t):
    try:
        if t["proto"] == "tcp":
            socket.create_connection((t["ip"], t["port"]), timeout=T).close(); out[i] = True
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(T); s.connect((t["ip"], t["port"]))
            s.send(b"probe"); out[i] = s.recv(64) == b"probe"
    except OSError:
        out[i] = False
ths = [threading.Thread(target=probe, args=(i, t)) for i, t in enumerate(targets)]
[t.start() for t in ths]; [t.join() for t in ths]
print(json.dumps(out))
`;

/** Long-lived TCP client: each stdin line is sent and its echo printed, to watch one connection live on. */
export const CLIENT = `
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print("connected", flush=True)
for line in sys.stdin:
    c.sendall(line.encode())
    print("echo " + c.recv(4096).decode().strip(), flush=True)
`;

export class FirewallLab {
  readonly net = new HostNet("fw");
  readonly nodes = new Map<string, FwNode>();
  private readonly children: ChildProcess[] = [];

  /** A booted lab host on the bridge; every other address is on-link, so replies need no router. */
  async addHost(name: string, cidr: string): Promise<FwNode> {
    const host = await this.net.host(name, [{ bridge: "br0", cidr }]);
    const node: FwNode = { name, ns: host.netns, ip: host.ip, host };
    this.nodes.set(name, node);
    return node;
  }

  /** A plain namespace on the bridge: a sender that is not a server (the VPN subnet, the Internet, the operator). */
  addSender(name: string, cidr: string): FwNode {
    const node: FwNode = { name, ns: this.net.namespace(name, [{ bridge: "br0", cidr }]), ip: cidr.split("/")[0] };
    this.nodes.set(name, node);
    return node;
  }

  node(name: string): FwNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no lab node ${name}`);
    return n;
  }

  private hostOf(node: FwNode): NetHost {
    if (!node.host) throw new Error(`${node.name} is a sender, not a host`);
    return node.host;
  }

  /** A file on the host's disk, read from outside. */
  file(node: FwNode, p: string): string {
    return path.join(this.hostOf(node).root, p);
  }

  apply(node: FwNode, fw: HostFirewall, timeoutSeconds: number): RunResult {
    return this.net.runScript(this.hostOf(node), "firewall-apply", applyFiles(fw, timeoutSeconds));
  }

  confirm(node: FwNode, hash: string, armId: string): RunResult {
    return this.net.runScript(this.hostOf(node), "firewall-confirm", confirmFiles(hash, armId));
  }

  /** Apply then confirm, as the component's two commands do; throws with the scripts' stderr on failure. */
  applyAndConfirm(node: FwNode, fw: HostFirewall, timeoutSeconds = 30): string {
    const a = this.apply(node, fw, timeoutSeconds);
    if (a.code !== 0) throw new Error(`apply on ${node.name} failed: ${a.stderr}`);
    const c = this.confirm(node, fw.hash, a.stdout);
    if (c.code !== 0) throw new Error(`confirm on ${node.name} failed: ${c.stderr}`);
    return a.stdout.trim();
  }

  /** Off and on again: kernel state and listeners gone; the host's boot path restores what it saved. */
  reboot(node: FwNode): Promise<void> {
    return this.net.reboot(this.hostOf(node));
  }

  async listen(node: FwNode, ports: { proto: Proto; port: number }[]): Promise<void> {
    const child = spawn("ip", ["netns", "exec", node.ns, "python3", "-c", LISTENER, ...ports.map((p) => `${p.proto}/${p.port}`)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      let err = "";
      child.stderr.on("data", (b: Buffer) => (err += b.toString()));
      child.stdout.on("data", (b: Buffer) => b.toString().includes("ready") && resolve());
      child.on("exit", (code) => reject(new Error(`listener in ${node.name} exited ${code}: ${err}`)));
    });
  }

  /** Parallel probes from a node: true = the connection / UDP echo got through. */
  async probe(from: FwNode, targets: Target[], timeoutSeconds = 1.5): Promise<boolean[]> {
    const r = await runAsync(inNs(from.ns, ["python3", "-c", PROBER, String(timeoutSeconds)]), { input: JSON.stringify(targets) });
    if (r.code !== 0) throw new Error(`prober in ${from.name} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as boolean[];
  }

  /** Opens one TCP connection and returns a function that round-trips a line over it. */
  async connect(from: FwNode, ip: string, port: number): Promise<(line: string) => Promise<string>> {
    const child = spawn("ip", ["netns", "exec", from.ns, "python3", "-u", "-c", CLIENT, ip, String(port)], { stdio: ["pipe", "pipe", "pipe"] });
    this.children.push(child);
    const next = lineReader(child.stdout);
    const first = await next(6000);
    if (first !== "connected") throw new Error(`client ${from.name} -> ${ip}:${port} did not connect: ${first}`);
    return async (line: string) => {
      child.stdin.write(`${line}\n`);
      return next(5000);
    };
  }

  /** What we own in a node's kernel state, comparable across apply/revert/boot (no counters, no comments). */
  ownedState(node: FwNode): string {
    const rules = (cmd: string) =>
      must(inNs(node.ns, [cmd]))
        .split("\n")
        .filter((l) => /^(-A |:INPUT|:FORWARD|:OUTPUT|:FLEET|\*)/.test(l) && !l.startsWith(":DOCKER"))
        .map((l) => l.replace(/\[\d+:\d+\]/, ""))
        .join("\n");
    const sets = must(inNs(node.ns, ["ipset", "save"]))
      .split("\n")
      .filter((l) => l.startsWith("add "))
      .sort()
      .join("\n");
    return `${rules("iptables-save")}\n--\n${rules("ip6tables-save")}\n--\n${sets}`;
  }

  async destroy(): Promise<void> {
    for (const c of this.children) c.kill("SIGKILL");
    await this.net.destroy();
  }
}

/** Ports no policy names: every probe to them must fail. */
export const OUTSIDE_PORTS: { proto: Proto; port: number }[] = [
  { proto: "tcp", port: 5433 },
  { proto: "tcp", port: 9999 },
  { proto: "udp", port: 9999 },
];

export interface ObservedMatrix {
  /** The computed entries that were probed, with `allowed` replaced by what the probes saw. */
  observed: MatrixEntry[];
  /** The computed entries, restricted to the probed cells. */
  expected: MatrixEntry[];
  /** from>to cells nobody could probe (a single-host role does not probe itself). */
  unprobed: string[];
  /** Cells where hosts of one role disagreed. */
  mixed: string[];
  /** Probes to OUTSIDE_PORTS that got through. */
  outsideOpen: string[];
}

/**
 * Probes from every host (as its role) and from the extra senders (vpn/public/admin nodes) to every
 * other host on every policy port plus OUTSIDE_PORTS, and folds the results into matrix cells.
 */
export async function observeMatrix(lab: FirewallLab, input: FirewallInput, extraSenders: { node: FwNode; as: string }[]): Promise<ObservedMatrix> {
  const computed = connectivityMatrix(input);
  const ports = [...policyPorts(input), ...OUTSIDE_PORTS];
  const senders = [...input.hosts.map((h) => ({ node: lab.node(h.name), as: h.role })), ...extraSenders];
  const cells = new Map<string, boolean[]>();
  await Promise.all(
    senders.map(async (s) => {
      const targets = input.hosts.filter((d) => d.name !== s.node.name).flatMap((d) => ports.map((p) => ({ ip: d.privateIp, ...p, to: d.role })));
      const got = await lab.probe(s.node, targets);
      targets.forEach((t, i) => {
        const k = `${s.as}>${t.to}>${t.proto}/${t.port}`;
        cells.set(k, [...(cells.get(k) ?? []), got[i]]);
      });
    }),
  );
  // An entry stands for a run of ports (port..toPort): both ends were probed, and must agree.
  const key = (e: MatrixEntry) => `${e.from}>${e.to}>${e.proto}/${e.port}`;
  const seen = (e: MatrixEntry) => [...(cells.get(key(e)) ?? []), ...(cells.get(`${e.from}>${e.to}>${e.proto}/${e.toPort}`) ?? [])];
  const probed = computed.filter((e) => cells.has(key(e)));
  return {
    observed: probed.map((e) => ({ ...e, allowed: cells.get(key(e))![0] })),
    expected: probed,
    unprobed: [...new Set(computed.filter((e) => !cells.has(key(e))).map((e) => `${e.from}>${e.to}`))].sort(),
    mixed: probed.filter((e) => new Set(seen(e)).size > 1).map(key),
    outsideOpen: [...cells.entries()].filter(([k, v]) => OUTSIDE_PORTS.some((o) => k.endsWith(`>${o.proto}/${o.port}`)) && v.some((x) => x)).map(([k]) => k),
  };
}

/** Reads a child's stdout line by line: `next(ms)` resolves with the next line, or "(timeout)". */
export function lineReader(stream: NodeJS.ReadableStream): (ms: number) => Promise<string> {
  const lines: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  let buf = "";
  stream.on("data", (b: Buffer) => {
    buf += b.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  return (ms: number) =>
    new Promise<string>((resolve) => {
      const l = lines.shift();
      if (l !== undefined) return resolve(l);
      const timer = setTimeout(() => resolve("(timeout)"), ms);
      waiters.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
}
