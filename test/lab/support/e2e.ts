/**
 * Helpers for test/lab/fleet/e2e.test.ts: traffic from inside the hosts of a stack brought up
 * through the real program. The python listener/prober/client are the firewall lab's; the OpenVPN
 * client log/pid handling is the VPN lab's — only where they run (a lab stack's hosts) is new here.
 */
import { ChildProcess, spawn } from "child_process";
import { writeFileSync } from "fs";
import * as path from "path";
import { Proto } from "../../../components/model";
import { CLIENT, LISTENER, PROBER, lineReader } from "../firewall/lab";
import { VpnClient } from "../vpn/lab";
import { RunResult } from "../../../lab/sh";
import { StackLayout } from "../../../lab/layout";

/** What these helpers need of a lab (./index's Lab or ./real's RealLab). */
export interface LabHosts {
  readonly L: StackLayout;
  execArgv(host: string, argv: string[]): string[];
  exec(host: string, argv: string[], input?: string, timeoutMs?: number): Promise<RunResult>;
}

export interface PortSpec {
  proto: Proto;
  port: number;
}

export interface ProbeTarget extends PortSpec {
  ip: string;
}

/** Long-lived processes started in lab hosts, so a suite can end them (by pid) in afterAll. */
export class HostProcesses {
  private readonly children: ChildProcess[] = [];

  constructor(private readonly t: LabHosts) {}

  spawn(host: string, argv: string[], stdin: "ignore" | "pipe" = "ignore"): ChildProcess {
    const [cmd, ...args] = this.t.execArgv(host, argv);
    const child = spawn(cmd, args, { stdio: [stdin, "pipe", "pipe"] });
    this.children.push(child);
    return child;
  }

  /** Echo listeners (the firewall lab's) on the given ports; ports something already listens on (sshd, the app, openvpn) are skipped. */
  async listen(host: string, ports: PortSpec[]): Promise<PortSpec[]> {
    const busy = new Set<string>();
    for (const proto of ["tcp", "udp"] as const) {
      const r = await this.t.exec(host, ["ss", "-Hln", proto === "tcp" ? "-t" : "-u"]);
      for (const line of r.stdout.split("\n")) {
        const m = /:(\d+)\s/.exec(line.split(/\s+/).slice(3, 4).join("") + " ");
        if (m) busy.add(`${proto}/${m[1]}`);
      }
    }
    const free = ports.filter((p) => !busy.has(`${p.proto}/${p.port}`));
    const child = this.spawn(host, ["python3", "-c", LISTENER, ...free.map((p) => `${p.proto}/${p.port}`)]);
    await new Promise<void>((resolve, reject) => {
      let err = "";
      child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
      child.stdout!.on("data", (b: Buffer) => b.toString().includes("ready") && resolve());
      child.on("exit", (code) => reject(new Error(`listener in ${host} exited ${code}: ${err}`)));
    });
    return free;
  }

  /** One TCP connection from `host`, kept open; the returned function round-trips a line over it ("(timeout)" if no echo). */
  async connect(host: string, ip: string, port: number): Promise<(line: string) => Promise<string>> {
    const child = this.spawn(host, ["python3", "-u", "-c", CLIENT, ip, String(port)], "pipe");
    const next = lineReader(child.stdout!);
    const first = await next(6000);
    if (first !== "connected") throw new Error(`client ${host} -> ${ip}:${port} did not connect: ${first}`);
    return async (line: string) => {
      if (child.exitCode !== null || !child.stdin!.writable) return "(closed)";
      child.stdin!.write(`${line}\n`);
      return next(5000);
    };
  }

  killAll(): void {
    for (const c of this.children) if (c.exitCode === null) c.kill("SIGKILL");
  }
}

/** Parallel probes (the firewall lab's prober) from inside a lab host or laptop: true = connected / UDP echo came back. */
export async function probeFrom(t: LabHosts, host: string, targets: ProbeTarget[], timeoutSeconds = 1.5): Promise<boolean[]> {
  if (targets.length === 0) return [];
  const r = await t.exec(host, ["python3", "-c", PROBER, String(timeoutSeconds)], JSON.stringify(targets), 60_000);
  if (r.code !== 0) throw new Error(`prober in ${host} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as boolean[];
}

/** `openvpn --config profile` as a daemon in a laptop namespace, with the VPN lab's log/pid layout (so its waitConnected/stopClient apply). */
export async function startVpnClient(t: LabHosts, laptop: "eng1" | "eng2", profileFile: string, tag: string): Promise<VpnClient> {
  const base = path.join(path.dirname(profileFile), `client-${tag}-${Date.now()}`);
  const c: VpnClient = { name: tag, ns: t.L.laptopNs(laptop), log: `${base}.log`, pidFile: `${base}.pid` };
  writeFileSync(c.log, "", { mode: 0o600 });
  const r = await t.exec(laptop, ["openvpn", "--daemon", `fleet-client-${tag}`, "--writepid", c.pidFile, "--log", c.log, "--config", profileFile]);
  if (r.code !== 0) throw new Error(`openvpn in ${laptop} did not start (${r.code}): ${r.stderr}`);
  return c;
}

/** Kernel firewall state comparable across a reboot: iptables/ip6tables-save without counters or comments, and the ipsets without their hash seeds. */
export async function firewallState(t: LabHosts, host: string): Promise<string> {
  const out: string[] = [];
  for (const argv of [["iptables-save"], ["ip6tables-save"], ["ipset", "save"]]) {
    const r = await t.exec(host, argv);
    if (r.code !== 0) throw new Error(`${argv[0]} in ${host} failed: ${r.stderr}`);
    const lines = r.stdout
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"))
      // Counters and a set's random hash seed (initval) are not state we own.
      .map((l) => l.replace(/\[\d+:\d+\]/g, "[0:0]").replace(/ initval 0x[0-9a-f]+/, ""));
    out.push(`== ${argv.join(" ")}`, ...(argv[0] === "ipset" ? lines.sort() : lines));
  }
  return out.join("\n");
}
