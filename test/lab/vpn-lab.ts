/**
 * A self-contained OpenVPN lab for test/lab/vpn.test.ts and bench/vpn.ts:
 * namespaces `fl-v*-<id>` around one switch namespace holding a "public" and a "private" bridge,
 * a PKI made with openssl in the shape @pulumi/tls makes it, and helpers that run the real
 * repo scripts through the bundle loader, exactly as the VpnGateway component does.
 */
import { spawn, ChildProcess } from "child_process";
import { X509Certificate } from "crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { createConnection } from "net";
import * as path from "path";
import { encodeBundle, loader, remoteScript } from "../../components/remote/bundle";
import { AllowEntry, renderGatewayBundle, ServerConfigInput, tlsCryptV2ServerKeyFrom, vpnPaths } from "../../components/vpn/render";
import { inNs, LAB_PREFIX, must, run, RunResult } from "../../lab/sh";

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
  id: string;
  dir: string;
  sw: string;
  gw: string;
  app: string;
  laptops: Record<string, { ns: string; ip: string }>;
  /** Where the gateway keeps /etc, /run and /var/log (lab /etc is shared with the machine). */
  gwPrefix: string;
  children: ChildProcess[];
}

function veth(sw: string, bridge: string, port: string, ns: string, ifname: string, cidr: string): void {
  must(inNs(sw, ["ip", "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns]));
  must(inNs(sw, ["ip", "link", "set", port, "master", bridge, "up"]));
  must(inNs(ns, ["ip", "addr", "add", cidr, "dev", ifname]));
  must(inNs(ns, ["ip", "link", "set", ifname, "up"]));
}

export function createLab(laptopNames: string[]): Lab {
  const id = String(process.pid % 100000);
  const ns = (t: string) => `${LAB_PREFIX}v${t}-${id}`;
  const dir = mkdtempSync("/tmp/fl-vpn-");
  // The tls-verify script runs as nobody and must traverse into the gateway's prefix.
  chmodSync(dir, 0o755);
  const lab: Lab = {
    id,
    dir,
    sw: ns("sw"),
    gw: ns("gw"),
    app: ns("app"),
    laptops: {},
    gwPrefix: path.join(dir, "gw"),
    children: [],
  };
  laptopNames.forEach((n, i) => (lab.laptops[n] = { ns: ns(n.slice(0, 6)), ip: `198.51.100.${11 + i}` }));
  const all = [lab.sw, lab.gw, lab.app, ...Object.values(lab.laptops).map((l) => l.ns)];
  for (const n of all) {
    run(["ip", "netns", "del", n]);
    must(["ip", "netns", "add", n]);
    must(inNs(n, ["ip", "link", "set", "lo", "up"]));
  }
  for (const br of ["pub", "priv"]) {
    must(inNs(lab.sw, ["ip", "link", "add", br, "type", "bridge"]));
    must(inNs(lab.sw, ["ip", "link", "set", br, "up"]));
  }
  veth(lab.sw, "pub", "gw-pub", lab.gw, "pub0", `${PUBLIC.gw}/${PUBLIC.prefix}`);
  veth(lab.sw, "priv", "gw-priv", lab.gw, "priv0", `${PRIVATE.gw}/${PRIVATE.prefix}`);
  veth(lab.sw, "priv", "app", lab.app, "priv0", `${PRIVATE.app}/${PRIVATE.prefix}`);
  // Like every private server: the VPN subnet is routed via the gateway, no NAT.
  must(inNs(lab.app, ["ip", "route", "add", VPN_SUBNET, "via", PRIVATE.gw]));
  Object.entries(lab.laptops).forEach(([name, l]) => veth(lab.sw, "pub", `l-${name.slice(0, 8)}`, l.ns, "wan0", `${l.ip}/${PUBLIC.prefix}`));
  return lab;
}

export function destroyLab(lab: Lab): void {
  for (const c of lab.children) {
    if (c.exitCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }
  for (const pidFile of listPidFiles(lab)) {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    if (pid > 0) run(["kill", "-KILL", String(pid)]);
  }
  for (const n of [lab.sw, lab.gw, lab.app, ...Object.values(lab.laptops).map((l) => l.ns)]) run(["ip", "netns", "del", n]);
  rmSync(lab.dir, { recursive: true, force: true });
}

function listPidFiles(lab: Lab): string[] {
  const out = run(["find", lab.dir, "-name", "*.pid", "-type", "f"])
    .stdout.split("\n")
    .filter((l) => l !== "");
  return out;
}

/** Starts a long-running process in a namespace and remembers it for cleanup. */
export function spawnIn(lab: Lab, ns: string, argv: string[]): ChildProcess {
  const c = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
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

/** Runs scripts/remote/vpn-configure.sh in the gateway namespace via the bundle loader. */
export function configureGateway(lab: Lab, g: GatewaySetup, engineers: AllowEntry[]): RunResult {
  const files = {
    ...renderGatewayBundle({
      server: g.serverInput,
      caCertPem: g.ca.certPem,
      serverCertPem: g.server.certPem,
      serverKeyPem: g.server.keyPem,
      tlsCryptV2ServerKey: g.tlsCryptV2ServerKey,
      engineers,
      rootPrefix: lab.gwPrefix,
    }),
    "main.sh": remoteScript("vpn-configure"),
    "lib.sh": remoteScript("lib"),
    "vpn-verify.sh": remoteScript("vpn-verify"),
    "vpn-boot.sh": remoteScript("vpn-boot"),
  };
  return run(inNs(lab.gw, ["bash", "-c", loader("create")]), encodeBundle(files));
}

export function gwPaths(lab: Lab) {
  return vpnPaths(lab.gwPrefix);
}

export function gatewayPid(lab: Lab): number | undefined {
  const f = path.join(gwPaths(lab).runDir, "fleet.pid");
  return existsSync(f) ? Number(readFileSync(f, "utf8").trim()) : undefined;
}

export function gatewayLog(lab: Lab): string {
  const f = gwPaths(lab).logFile;
  return existsSync(f) ? readFileSync(f, "utf8") : "";
}

/** Sends one management command over the unix socket and returns the reply (up to END/SUCCESS/ERROR). */
export function management(lab: Lab, cmd: string, timeoutMs = 5000): Promise<string> {
  const sock = path.join(gwPaths(lab).runDir, "fleet.sock");
  return new Promise((resolve, reject) => {
    let buf = "";
    const s = createConnection(sock);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`management '${cmd}' timed out; got: ${buf}`));
    }, timeoutMs);
    s.on("connect", () => s.write(`${cmd}\n`));
    s.on("data", (d) => {
      buf += d.toString("utf8");
      if (/^(END|SUCCESS:.*|ERROR:.*)\r?$/m.test(buf)) {
        clearTimeout(timer);
        s.end("quit\n");
        resolve(buf.replace(/^>INFO:.*\r?\n/m, ""));
      }
    });
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
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
