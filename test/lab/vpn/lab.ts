/**
 * A self-contained OpenVPN lab for test/lab/vpn/gateway.test.ts and bench/vpn.ts: a gateway and a private server that are
 * lab hosts (systemd, their own disk: test/lab/support/host-net.ts) and engineer laptops as plain namespaces, on a
 * "public" and a "private" bridge; a PKI made with openssl in the shape @pulumi/tls makes it; and helpers that run
 * the real repo scripts inside the gateway through the bundle loader, exactly as the VpnGateway component does.
 */
import { spawn, ChildProcess } from "child_process";
import { X509Certificate } from "crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as path from "path";
import { remoteScript } from "../../../components/remote/bundle";
import { AllowEntry, renderGatewayBundle, ServerConfigInput, tlsCryptV2ServerKeyFrom, VPN_PATHS } from "../../../components/vpn/render";
import { hostArgv } from "../../../lab/hosts";
import { inNs, must, run, RunResult } from "../../../lab/sh";
import { HostNet, NetHost } from "../support/host-net";

export const PUBLIC = { gw: "198.51.100.1", prefix: 24 };
export const PRIVATE = { cidr: "10.99.0.0/24", gw: "10.99.0.1", app: "10.99.0.10", prefix: 24 };
export const VPN_SUBNET = "10.99.8.0/24";
export const VPN_GW = "10.99.8.1";
export const SERVER_NAME = "fleet-vpn";

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return;
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// ---------- PKI (openssl, same key type and extensions as components/vpn/pki.ts) ----------

export interface Issued {
  certPem: string;
  keyPem: string;
  fingerprint: string;
}

export interface TestCa {
  dir: string;
  certPem: string;
  keyPem: string;
  issue(cn: string, use: "serverAuth" | "clientAuth"): Issued;
}

function openssl(args: string[], cwd: string): void {
  must(["bash", "-c", 'cd "$1" && shift && exec openssl "$@"', "openssl", cwd, ...args]);
}

export function makeCa(dir: string, cn: string): TestCa {
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"], dir);
  openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-subj",
      `/CN=${cn}`,
      "-days",
      "2",
      "-sha256",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
      "-addext",
      "subjectKeyIdentifier=hash",
      "-out",
      "ca.crt",
    ],
    dir,
  );
  let serial = 1;
  return {
    dir,
    certPem: readFileSync(path.join(dir, "ca.crt"), "utf8"),
    keyPem: readFileSync(path.join(dir, "ca.key"), "utf8"),
    issue(leafCn, use) {
      const base = `${leafCn}-${serial}`;
      writeFileSync(path.join(dir, `${base}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=${use}\n`);
      openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${base}.key`], dir);
      openssl(["req", "-new", "-key", `${base}.key`, "-subj", `/CN=${leafCn}`, "-out", `${base}.csr`], dir);
      openssl(
        [
          "x509",
          "-req",
          "-in",
          `${base}.csr`,
          "-CA",
          "ca.crt",
          "-CAkey",
          "ca.key",
          "-set_serial",
          String(serial++),
          "-days",
          "2",
          "-sha256",
          "-extfile",
          `${base}.ext`,
          "-out",
          `${base}.crt`,
        ],
        dir,
      );
      const certPem = readFileSync(path.join(dir, `${base}.crt`), "utf8");
      return { certPem, keyPem: readFileSync(path.join(dir, `${base}.key`), "utf8"), fingerprint: new X509Certificate(certPem).fingerprint256 };
    },
  };
}

// ---------- topology ----------

export interface Lab {
  net: HostNet;
  dir: string;
  gw: NetHost;
  app: NetHost;
  laptops: Record<string, { ns: string; ip: string }>;
  children: ChildProcess[];
}

/** Boots the gateway (public and private NIC) and a private server, and wires the laptops on the public side. */
export async function createLab(laptopNames: string[]): Promise<Lab> {
  const net = new HostNet("v", ["pub", "priv"]);
  try {
    const [gw, app] = await Promise.all([
      net.host(
        "gw",
        [
          { bridge: "pub", cidr: `${PUBLIC.gw}/${PUBLIC.prefix}`, name: "pub0" },
          { bridge: "priv", cidr: `${PRIVATE.gw}/${PRIVATE.prefix}`, name: "priv0" },
        ],
        { routes: [] },
      ),
      // Like every private server: the VPN subnet is routed via the gateway, no NAT.
      net.host("app", [{ bridge: "priv", cidr: `${PRIVATE.app}/${PRIVATE.prefix}`, name: "priv0" }], { routes: [{ to: VPN_SUBNET, via: PRIVATE.gw }] }),
    ]);
    const laptops: Lab["laptops"] = {};
    laptopNames.forEach((n, i) => {
      const ip = `198.51.100.${11 + i}`;
      laptops[n] = { ns: net.namespace(n.slice(0, 8), [{ bridge: "pub", cidr: `${ip}/${PUBLIC.prefix}`, name: "wan0" }], []), ip };
    });
    return { net, dir: net.dir, gw, app, laptops, children: [] };
  } catch (e) {
    await net.destroy();
    throw e;
  }
}

export async function destroyLab(lab: Lab): Promise<void> {
  for (const c of lab.children) {
    if (c.exitCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }
  // The laptops' openvpn daemons.
  for (const pidFile of run(["find", lab.dir, "-maxdepth", "1", "-name", "*.pid", "-type", "f"]).stdout.split("\n").filter(Boolean)) {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    if (pid > 0) run(["kill", "-KILL", String(pid)]);
  }
  await lab.net.destroy();
}

/** Starts a long-running process in a laptop's namespace, or inside a host, and remembers it for cleanup. */
export function spawnIn(lab: Lab, where: string | NetHost, argv: string[]): ChildProcess {
  const full = typeof where === "string" ? inNs(where, argv) : hostArgv(where, argv);
  const c = spawn(full[0], full.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  c.stdout?.resume();
  c.stderr?.resume();
  lab.children.push(c);
  return c;
}

// ---------- gateway ----------

export interface GatewaySetup {
  ca: TestCa;
  server: Issued;
  tlsCryptV2ServerKey: string;
  serverInput: ServerConfigInput;
}

export function gatewaySetup(ca: TestCa, serverOverrides: Partial<ServerConfigInput> = {}): GatewaySetup {
  return {
    ca,
    server: ca.issue(SERVER_NAME, "serverAuth"),
    tlsCryptV2ServerKey: tlsCryptV2ServerKeyFrom(ca.keyPem),
    serverInput: { proto: "udp", port: 1194, subnet: VPN_SUBNET, privateCidrs: [PRIVATE.cidr], ...serverOverrides },
  };
}

/** Runs components/vpn/vpn-configure.sh inside the gateway via the bundle loader. */
export function configureGateway(lab: Lab, g: GatewaySetup, engineers: AllowEntry[]): RunResult {
  const files = {
    ...renderGatewayBundle({
      server: g.serverInput,
      caCertPem: g.ca.certPem,
      serverCertPem: g.server.certPem,
      serverKeyPem: g.server.keyPem,
      tlsCryptV2ServerKey: g.tlsCryptV2ServerKey,
      engineers,
    }),
    "vpn-verify.sh": remoteScript("vpn-verify"),
  };
  return lab.net.runScript(lab.gw, "vpn-configure", files);
}

/** A file of the gateway's, read from outside (its disk; /run is the host's own tmpfs, so not from there). */
export function gwFile(lab: Lab, p: string): string {
  return path.join(lab.gw.root, VPN_PATHS.configDir, p);
}

/** The daemon's PID inside the gateway (systemd's MainPID of openvpn-server@fleet). */
export function gatewayPid(lab: Lab): number | undefined {
  const r = lab.net.exec(lab.gw, ["systemctl", "show", "-p", "MainPID", "--value", "openvpn-server@fleet"]);
  const pid = Number(r.stdout.trim());
  return pid > 0 ? pid : undefined;
}

/** What the daemon logged, from the gateway's journal. */
export function gatewayLog(lab: Lab): string {
  return lab.net.exec(lab.gw, ["journalctl", "-u", "openvpn-server@fleet", "-o", "cat", "--no-pager"]).stdout;
}

/** Sends one management command over the unix socket inside the gateway and returns the reply (up to END/SUCCESS/ERROR). */
const MANAGEMENT = `
import socket, sys, re
s = socket.socket(socket.AF_UNIX); s.settimeout(float(sys.argv[3])); s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\\n").encode()); buf = ""
while not re.search(r"^(END|SUCCESS:.*|ERROR:.*)\\r?$", buf, re.M):
    d = s.recv(65536)
    if not d: break
    buf += d.decode()
s.sendall(b"quit\\n"); s.close(); sys.stdout.write(buf)
`;

export async function management(lab: Lab, cmd: string, timeoutMs = 5000): Promise<string> {
  const r = await lab.net.execAsync(lab.gw, ["python3", "-c", MANAGEMENT, `${VPN_PATHS.runDir}/fleet.sock`, cmd, String(timeoutMs / 1000)]);
  if (r.code !== 0) throw new Error(`management '${cmd}' failed: ${r.stderr.trim()}`);
  return r.stdout.replace(/^>INFO:.*\r?\n/m, "");
}

/** `status 2` over the management socket: CN -> "connected since" (epoch). */
export async function connectedClients(lab: Lab): Promise<Record<string, string>> {
  const clients: Record<string, string> = {};
  for (const line of (await management(lab, "status 2")).split(/\r?\n/)) {
    const f = line.split(",");
    if (f[0] === "CLIENT_LIST") clients[f[1]] = f[8];
  }
  return clients;
}

// ---------- clients ----------

export interface VpnClient {
  name: string;
  ns: string;
  log: string;
  pidFile: string;
}

/** Starts `openvpn --config <profile>` as a daemon in the laptop's namespace. */
export function startClient(lab: Lab, laptop: string, profile: string, tag = laptop): VpnClient {
  const ns = lab.laptops[laptop].ns;
  const base = path.join(lab.dir, `client-${tag}-${Date.now()}`);
  writeFileSync(`${base}.ovpn`, profile, { mode: 0o600 });
  const c: VpnClient = { name: tag, ns, log: `${base}.log`, pidFile: `${base}.pid` };
  must(inNs(ns, ["openvpn", "--daemon", `fleet-client-${tag}`, "--writepid", c.pidFile, "--log", c.log, "--config", `${base}.ovpn`]));
  return c;
}

export function clientLog(c: VpnClient): string {
  return existsSync(c.log) ? readFileSync(c.log, "utf8") : "";
}

export function clientConnected(c: VpnClient): boolean {
  return clientLog(c).includes("Initialization Sequence Completed");
}

export async function waitConnected(c: VpnClient, timeoutMs = 20_000): Promise<void> {
  await waitFor(`${c.name}'s tunnel`, () => clientConnected(c), timeoutMs).catch((e) => {
    throw new Error(`${e.message}\n--- ${c.name} log ---\n${clientLog(c).slice(-3000)}`);
  });
}

export function stopClient(c: VpnClient): void {
  if (!existsSync(c.pidFile)) return;
  const pid = readFileSync(c.pidFile, "utf8").trim();
  run(["kill", "-TERM", pid]);
  rmSync(c.pidFile, { force: true });
}

/** TCP connect from a namespace; returns the first bytes the server sends (or "" on failure). */
export function tcpBanner(ns: string, host: string, port: number, timeoutS = 3): string {
  const r = run(
    inNs(ns, ["timeout", String(timeoutS), "bash", "-c", 'exec 3<>"/dev/tcp/$1/$2" && head -c 16 <&3', "probe", host, String(port)]),
    undefined,
    (timeoutS + 5) * 1000,
  );
  return r.code === 0 ? r.stdout : "";
}
