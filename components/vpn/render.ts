/**
 * Pure renderers for the OpenVPN gateway: server config, client profiles, the
 * fingerprint allow-list, ccd files and the data files of the vpn-configure bundle.
 * No Pulumi here: plain data in, byte-identical text out.
 */
import { addressAndMask, cidrsOverlap, isIpv4, networkProblem, parseCidr } from "../network/addressing";
import { Proto } from "../model";

export { tlsCryptV2ClientKeyFrom, tlsCryptV2ServerKeyFrom } from "./tlsCrypt";

export class VpnConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VpnConfigError";
  }
}

/** AEAD only: DCO needs it, and non-AEAD ciphers would need a separate `auth` digest. */
export type DataCipher = "AES-256-GCM" | "AES-128-GCM" | "CHACHA20-POLY1305";
export const AEAD_CIPHERS: readonly DataCipher[] = ["AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305"];
/** Order = preference; the first cipher both ends share wins. See bench/vpn.ts for the measurements. */
export const DEFAULT_CIPHERS: readonly DataCipher[] = ["AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305"];
export const TLS_GROUPS = "X25519:prime256v1:secp384r1";

/** Data-channel throughput knobs; each one is rendered only when set. */
export interface VpnTuning {
  /** Socket buffers in bytes, on both ends (the server pushes them too). */
  sndbuf?: number;
  rcvbuf?: number;
  /** Must be equal on both ends; rendered into server config and profile. */
  tunMtu?: number;
  /** tun device queue length, local to each end. */
  txqueuelen?: number;
  /** UDP only: skip poll() before writes. */
  fastIo?: boolean;
}

/**
 * Measured with bench/vpn.ts (2-core VM, no DCO, MTU 1500): ~170 Mbit/s untuned,
 * ~260 with 4 MiB socket buffers, ~330 with buffers + fast-io; the cipher made no
 * measurable difference and txqueuelen none. Buffers are capped by net.core.[rw]mem_max,
 * which vpn-configure.sh raises on the gateway. tun-mtu stays 1500: bigger only pays off
 * when the whole path carries jumbo frames, and fragmenting every packet is fragile.
 */
export const DEFAULT_TUNING: VpnTuning = { sndbuf: 4 << 20, rcvbuf: 4 << 20, fastIo: true };

/** Where the gateway keeps its files: Debian's openvpn-server@ unit reads its config and runs its socket here. */
export const VPN_PATHS = { configDir: "/etc/openvpn/server", runDir: "/run/openvpn-server" } as const;

/** The systemd instance name (openvpn-server@fleet) and the base name of every file. */
export const INSTANCE = "fleet";

export interface ServerConfigInput {
  proto: Proto;
  port: number;
  /** The VPN client subnet, e.g. 10.8.0.0/24. */
  subnet: string;
  /** The only routes pushed to clients (split tunnel). */
  privateCidrs: string[];
  /** Optional resolvers pushed with the 2.6 `dns` option, in priority order. */
  dns?: string[];
  ciphers?: readonly DataCipher[];
  tuning?: VpnTuning;
  maxClients?: number;
}

export interface ClientProfileInput {
  engineer: string;
  remoteHost: string;
  port: number;
  proto: Proto;
  /** CN of the server certificate; pinned with verify-x509-name. */
  serverName: string;
  caCertPem: string;
  certPem: string;
  keyPem: string;
  /** This engineer's tls-crypt-v2 client key (never the server key). */
  tlsCryptV2Key: string;
  ciphers?: readonly DataCipher[];
  tuning?: VpnTuning;
}

export interface AllowEntry {
  cn: string;
  /** SHA-256 of the client certificate, `AB:CD:…` (node's X509Certificate.fingerprint256). */
  fingerprint: string;
}

const ENGINEER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const FINGERPRINT = /^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/;
const HOST = /^[A-Za-z0-9.:-]+$/;

export function checkEngineerName(name: string): string {
  // DEFAULT is the ccd file OpenVPN applies to everyone; it must never be an engineer.
  if (!ENGINEER.test(name) || name === "DEFAULT") {
    throw new VpnConfigError(`vpn engineer name ${JSON.stringify(name)} is invalid: use letters, digits, '.', '_' or '-' (max 64), not DEFAULT`);
  }
  return name;
}

function checkNetwork(key: string, cidr: string): void {
  const problem = networkProblem(cidr);
  if (problem) throw new VpnConfigError(`${key} ${JSON.stringify(cidr)} ${problem}`);
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new VpnConfigError(`vpn.port ${port} is not a TCP/UDP port`);
}

function checkCiphers(ciphers: readonly DataCipher[]): string {
  if (ciphers.length === 0) throw new VpnConfigError("vpn data ciphers: the list is empty");
  for (const c of ciphers) {
    if (!AEAD_CIPHERS.includes(c)) throw new VpnConfigError(`vpn data cipher ${JSON.stringify(c)} is not an allowed AEAD cipher`);
  }
  return [...new Set(ciphers)].join(":");
}

function checkPositive(key: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v <= 0)) throw new VpnConfigError(`vpn tuning ${key} ${v} must be a positive integer`);
}

function tuningLines(t: VpnTuning, proto: Proto, push: boolean): string[] {
  checkPositive("sndbuf", t.sndbuf);
  checkPositive("rcvbuf", t.rcvbuf);
  checkPositive("txqueuelen", t.txqueuelen);
  if (t.tunMtu !== undefined && (!Number.isInteger(t.tunMtu) || t.tunMtu < 576 || t.tunMtu > 65535)) {
    throw new VpnConfigError(`vpn tuning tunMtu ${t.tunMtu} must be an integer in 576..65535`);
  }
  const out: string[] = [];
  if (t.tunMtu !== undefined) out.push(`tun-mtu ${t.tunMtu}`);
  if (t.txqueuelen !== undefined) out.push(`txqueuelen ${t.txqueuelen}`);
  if (t.sndbuf !== undefined) out.push(`sndbuf ${t.sndbuf}`);
  if (t.rcvbuf !== undefined) out.push(`rcvbuf ${t.rcvbuf}`);
  if (push && t.sndbuf !== undefined) out.push(`push "sndbuf ${t.sndbuf}"`);
  if (push && t.rcvbuf !== undefined) out.push(`push "rcvbuf ${t.rcvbuf}"`);
  if (t.fastIo && proto === "udp") out.push("fast-io");
  return out;
}

/** Options both ends must agree on; rendered identically into server config and profile. */
function cryptoLines(ciphers: readonly DataCipher[]): string[] {
  return ["tls-version-min 1.2", "tls-cert-profile preferred", `tls-groups ${TLS_GROUPS}`, `data-ciphers ${checkCiphers(ciphers)}`, "allow-compression no"];
}

const HEADER = "# Rendered by openstack-fleet (components/vpn/render.ts); changes here are overwritten.";

export function renderServerConfig(input: ServerConfigInput): string {
  checkPort(input.port);
  checkNetwork("vpn.subnet", input.subnet);
  const subnet = input.subnet;
  if (parseCidr(subnet)!.subnetMask > 29) throw new VpnConfigError(`vpn.subnet ${subnet} is too small for a client pool`);
  if (input.privateCidrs.length === 0) throw new VpnConfigError("vpn private routes: at least the private network is needed");
  const routes = [...new Set(input.privateCidrs)].sort();
  for (const c of routes) {
    checkNetwork("network.cidr", c);
    if (cidrsOverlap(c, subnet)) throw new VpnConfigError(`vpn.subnet ${subnet} overlaps the private network ${c}`);
  }
  for (const d of input.dns ?? []) {
    if (!isIpv4(d)) throw new VpnConfigError(`vpn dns server ${JSON.stringify(d)} is not an IPv4 address`);
  }
  const p = VPN_PATHS;
  const dir = p.configDir;
  const maxClients = input.maxClients ?? 64;
  checkPositive("maxClients", maxClients);

  const lines = [
    HEADER,
    `port ${input.port}`,
    `proto ${input.proto === "udp" ? "udp" : "tcp-server"}`,
    "dev tun",
    // subnet topology: one address per client, and what DCO requires.
    "topology subnet",
    `server ${addressAndMask(subnet)}`,
    `max-clients ${maxClients}`,
    // ECDHE only: no finite-field DH parameters to generate or keep.
    "dh none",
    ...cryptoLines(input.ciphers ?? DEFAULT_CIPHERS),
    `ca ${dir}/ca.crt`,
    `cert ${dir}/server.crt`,
    `key ${dir}/server.key`,
    // tls-crypt-v2: each profile has its own wrapped key; the hook drops a name off the allow-list from its first
    // packet, before any TLS or X.509 parsing (and a packet wrapped under another key before the hook).
    `tls-crypt-v2 ${dir}/tls-crypt-v2-server.key`,
    "remote-cert-tls client",
    // Admission = a ccd file for the CN (checked on every (re)authentication) AND the
    // certificate's SHA-256 in the allow-list (tls-verify). Both are re-read per connection,
    // so offboarding needs no restart and no CRL that could expire and lock everyone out.
    `client-config-dir ${dir}/ccd`,
    "ccd-exclusive",
    "script-security 2",
    `tls-verify "${dir}/vpn-verify.sh ${dir}/allow-list"`,
    `tls-crypt-v2-verify "${dir}/vpn-verify.sh ${dir}/allow-list"`,
    // The hook's metadata file is written after the drop to nobody: into /tmp, whatever TMPDIR the daemon inherited.
    "tmp-dir /tmp",
    "user nobody",
    "group nogroup",
    "persist-key",
    "persist-tun",
    "keepalive 10 60",
    `status ${p.runDir}/${INSTANCE}.status 10`,
    "status-version 2",
    `management ${p.runDir}/${INSTANCE}.sock unix`,
    ...(input.proto === "udp" ? ["explicit-exit-notify 1"] : []),
    ...tuningLines(input.tuning ?? DEFAULT_TUNING, input.proto, true),
    // Split tunnel: only the private network goes through the VPN; never redirect-gateway.
    ...routes.map((r) => `push "route ${addressAndMask(r)}"`),
    ...(input.dns ?? []).map((d, i) => `push "dns server ${i} address ${d}"`),
    "verb 3",
  ];
  return lines.join("\n") + "\n";
}

function pemBlock(tag: string, key: string, pem: string, marker: string): string {
  if (!pem.includes(marker)) throw new VpnConfigError(`vpn profile: ${key} does not look like ${marker}`);
  return `<${tag}>\n${pem.trim()}\n</${tag}>`;
}

export function renderClientProfile(input: ClientProfileInput): string {
  checkEngineerName(input.engineer);
  checkPort(input.port);
  if (!HOST.test(input.remoteHost)) {
    throw new VpnConfigError(`vpn profile for ${input.engineer}: gateway address ${JSON.stringify(input.remoteHost)} is not a host name or IP`);
  }
  if (!ENGINEER.test(input.serverName)) throw new VpnConfigError(`vpn serverName ${JSON.stringify(input.serverName)} is not a plain name`);
  if (/PRIVATE KEY/.test(input.certPem) || /PRIVATE KEY/.test(input.caCertPem)) {
    throw new VpnConfigError(`vpn profile for ${input.engineer}: a certificate field holds a private key`);
  }
  const lines = [
    `# OpenVPN profile for ${input.engineer}. Keep it private: it contains your key.`,
    "client",
    "dev tun",
    `proto ${input.proto === "udp" ? "udp" : "tcp-client"}`,
    `remote ${input.remoteHost} ${input.port}`,
    "resolv-retry infinite",
    "nobind",
    "persist-key",
    "persist-tun",
    "remote-cert-tls server",
    `verify-x509-name ${input.serverName} name`,
    "auth-nocache",
    ...cryptoLines(input.ciphers ?? DEFAULT_CIPHERS),
    ...tuningLines(input.tuning ?? DEFAULT_TUNING, input.proto, false),
    "verb 3",
    pemBlock("ca", "caCertPem", input.caCertPem, "BEGIN CERTIFICATE"),
    pemBlock("cert", "certPem", input.certPem, "BEGIN CERTIFICATE"),
    pemBlock("key", "keyPem", input.keyPem, "PRIVATE KEY"),
    pemBlock("tls-crypt-v2", "tlsCryptV2Key", input.tlsCryptV2Key, "BEGIN OpenVPN tls-crypt-v2 client key"),
  ];
  return lines.join("\n") + "\n";
}

/** One `<cn> <sha256>` line per engineer, sorted; read by vpn-verify.sh on every handshake. */
export function renderAllowList(engineers: AllowEntry[]): string {
  const seen = new Set<string>();
  const rows = [...engineers]
    .map((e) => {
      checkEngineerName(e.cn);
      if (!FINGERPRINT.test(e.fingerprint)) {
        throw new VpnConfigError(`vpn fingerprint of ${e.cn} ${JSON.stringify(e.fingerprint)} is not a SHA-256 AB:CD:… digest`);
      }
      if (seen.has(e.cn)) throw new VpnConfigError(`vpn engineer ${e.cn} is listed twice`);
      seen.add(e.cn);
      return `${e.cn} ${e.fingerprint.toLowerCase()}`;
    })
    .sort();
  return rows.map((r) => r + "\n").join("");
}

/** The ccd file whose existence admits a CN under ccd-exclusive. */
export function renderCcd(engineer: string): string {
  checkEngineerName(engineer);
  return `# ${engineer}: admitted by openstack-fleet\n`;
}

/** Bundle files carry no `/`, so the ccd file of `alice` travels as `ccd.alice`. */
export const CCD_PREFIX = "ccd.";

export interface GatewayBundleInput {
  server: ServerConfigInput;
  caCertPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  tlsCryptV2ServerKey: string;
  engineers: AllowEntry[];
}

/** Data files of the vpn-configure bundle (the scripts themselves are added by the caller). */
export function renderGatewayBundle(input: GatewayBundleInput): Record<string, string> {
  const files: Record<string, string> = {
    "server.conf": renderServerConfig(input.server),
    "ca.crt": input.caCertPem,
    "server.crt": input.serverCertPem,
    "server.key": input.serverKeyPem,
    "tls-crypt-v2-server.key": input.tlsCryptV2ServerKey,
    "allow-list": renderAllowList(input.engineers),
  };
  for (const e of input.engineers) files[CCD_PREFIX + e.cn] = renderCcd(e.cn);
  return files;
}
