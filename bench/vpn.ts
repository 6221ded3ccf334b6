/**
 * npm run bench:vpn — iperf3 through the OpenVPN tunnel vs directly over the same lab link
 * (laptop namespace -> gateway namespace, one veth/bridge hop), in one run, per setting.
 * Needs root, openvpn and iperf3 (the lab). Prints Mbit/s and tunnel/direct ratios.
 *
 *   BENCH_VPN_SECONDS=4   iperf3 duration per measurement
 *   BENCH_VPN_ALL=1       also run the exploratory settings (slower, > 2 minutes)
 *   BENCH_VPN_FILTER=re   only settings whose label matches
 */
import { mkdtempSync } from "fs";
import * as path from "path";
import { DataCipher, DEFAULT_CIPHERS, DEFAULT_TUNING, renderClientProfile, tlsCryptV2ClientKeyFrom, VpnTuning } from "../components/vpn/render";
import { inNs, run } from "../lab/sh";
import { labUnavailable } from "../test/lab/guard";
import {
  configureGateway,
  createLab,
  destroyLab,
  gatewayLog,
  gatewaySetup,
  Lab,
  makeCa,
  PUBLIC,
  SERVER_NAME,
  sleep,
  spawnIn,
  startClient,
  stopClient,
  VPN_GW,
  waitConnected,
} from "../test/lab/vpn/lab";

interface Setting {
  label: string;
  ciphers: DataCipher[];
  tuning: VpnTuning;
  proto?: "udp" | "tcp";
  /** Lab link MTU; jumbo frames are not what a cloud gives you, so they are marked. */
  linkMtu?: number;
}

const SECONDS = Number(process.env.BENCH_VPN_SECONDS ?? 4);

const MiB4 = 4 << 20;
const CORE: Setting[] = [
  { label: "renderer defaults (AES-256-GCM, 4 MiB bufs, fast-io)", ciphers: [...DEFAULT_CIPHERS], tuning: DEFAULT_TUNING },
  { label: "AES-256-GCM, no tuning", ciphers: ["AES-256-GCM"], tuning: {} },
  { label: "AES-128-GCM, no tuning", ciphers: ["AES-128-GCM"], tuning: {} },
  { label: "CHACHA20-POLY1305, no tuning", ciphers: ["CHACHA20-POLY1305"], tuning: {} },
  { label: "AES-256-GCM, 4 MiB buffers, no fast-io", ciphers: ["AES-256-GCM"], tuning: { sndbuf: MiB4, rcvbuf: MiB4 } },
  // Not a deployable default: needs a 16 KB MTU on the whole path (lab veth only).
  { label: "jumbo: defaults + tun-mtu 16000 on a 16100 link", ciphers: [...DEFAULT_CIPHERS], tuning: { ...DEFAULT_TUNING, tunMtu: 16000 }, linkMtu: 16100 },
];

const EXPLORE: Setting[] = [
  { label: "AES-128-GCM, 4 MiB bufs, fast-io", ciphers: ["AES-128-GCM"], tuning: { sndbuf: MiB4, rcvbuf: MiB4, fastIo: true } },
  { label: "CHACHA20-POLY1305, 4 MiB bufs, fast-io", ciphers: ["CHACHA20-POLY1305"], tuning: { sndbuf: MiB4, rcvbuf: MiB4, fastIo: true } },
  { label: "AES-256-GCM, 512 KiB buffers", ciphers: ["AES-256-GCM"], tuning: { sndbuf: 512 << 10, rcvbuf: 512 << 10 } },
  { label: "AES-256-GCM, fast-io only", ciphers: ["AES-256-GCM"], tuning: { fastIo: true } },
  { label: "AES-256-GCM, txqueuelen 4000", ciphers: ["AES-256-GCM"], tuning: { txqueuelen: 4000 } },
  { label: "defaults + tun-mtu 9000, fragments on a 1500 link", ciphers: [...DEFAULT_CIPHERS], tuning: { ...DEFAULT_TUNING, tunMtu: 9000 } },
  { label: "defaults + tun-mtu 9000 on a 9000 link", ciphers: [...DEFAULT_CIPHERS], tuning: { ...DEFAULT_TUNING, tunMtu: 9000 }, linkMtu: 9000 },
  { label: "AES-256-GCM over TCP, no tuning", ciphers: ["AES-256-GCM"], tuning: {}, proto: "tcp" },
];

function iperf(lab: Lab, target: string): number {
  const r = run(inNs(lab.laptops.alice.ns, ["iperf3", "-c", target, "-t", String(SECONDS), "-J"]), undefined, (SECONDS + 20) * 1000);
  if (r.code !== 0) throw new Error(`iperf3 to ${target} failed: ${r.stdout.slice(-500)} ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e6;
}

function setLinkMtu(lab: Lab, mtu: number): void {
  for (const [ns, dev] of [
    [lab.gw.netns, "pub0"],
    [lab.laptops.alice.ns, "wan0"],
  ])
    run(inNs(ns, ["ip", "link", "set", dev, "mtu", String(mtu)]));
  // The public bridge and every port on it, in the switch.
  const ports = JSON.parse(run(inNs(lab.net.sw, ["ip", "-j", "link", "show", "master", "pub"])).stdout || "[]") as { ifname: string }[];
  for (const dev of [...ports.map((p) => p.ifname), "pub"]) run(inNs(lab.net.sw, ["ip", "link", "set", dev, "mtu", String(mtu)]));
}

async function measure(lab: Lab, ca: ReturnType<typeof makeCa>, alice: ReturnType<ReturnType<typeof makeCa>["issue"]>, s: Setting) {
  const proto = s.proto ?? "udp";
  setLinkMtu(lab, s.linkMtu ?? 1500);
  const gw = gatewaySetup(ca, { proto, ciphers: s.ciphers, tuning: s.tuning });
  const r = configureGateway(lab, gw, [{ cn: "alice", fingerprint: alice.fingerprint }]);
  if (r.code !== 0) throw new Error(`configure failed: ${r.stderr}\n${gatewayLog(lab).slice(-2000)}`);
  const profile = renderClientProfile({
    engineer: "alice",
    remoteHost: PUBLIC.gw,
    port: 1194,
    proto,
    serverName: SERVER_NAME,
    caCertPem: ca.certPem,
    certPem: alice.certPem,
    keyPem: alice.keyPem,
    tlsCryptV2Key: tlsCryptV2ClientKeyFrom(ca.keyPem, "alice"),
    ciphers: s.ciphers,
    tuning: s.tuning,
  });
  const client = startClient(lab, "alice", profile, `bench-${Date.now()}`);
  try {
    await waitConnected(client);
    await sleep(300);
    const direct = iperf(lab, PUBLIC.gw);
    const tunnel = iperf(lab, VPN_GW);
    return { direct, tunnel };
  } finally {
    stopClient(client);
    await sleep(500);
  }
}

async function mainBench(): Promise<void> {
  const why = labUnavailable(["ip", "openvpn", "iperf3"]);
  if (why) {
    console.error(`bench:vpn cannot run here: ${why}`);
    process.exit(2);
  }
  const lab = await createLab(["alice"]);
  try {
    const ca = makeCa(mkdtempSync(path.join(lab.dir, "ca-")), "fleet-vpn-ca");
    const alice = ca.issue("alice", "clientAuth");
    spawnIn(lab, lab.gw, ["iperf3", "-s"]);
    await sleep(300);
    const filter = process.env.BENCH_VPN_FILTER ? new RegExp(process.env.BENCH_VPN_FILTER) : undefined;
    const settings = (process.env.BENCH_VPN_ALL === "1" || filter ? [...CORE, ...EXPLORE] : CORE).filter((s) => !filter || filter.test(s.label));
    console.log(`bench:vpn  iperf3 ${SECONDS}s per run, laptop -> gateway, userspace OpenVPN (no DCO), ${run(["nproc"]).stdout.trim()} cores`);
    const results: { s: Setting; direct: number; tunnel: number }[] = [];
    for (const s of settings) results.push({ s, ...(await measure(lab, ca, alice, s)) });
    const untuned = results.find((r) => r.s.label === "AES-256-GCM, no tuning")?.tunnel;
    console.log(`${"setting".padEnd(56)} ${"direct".padStart(9)} ${"tunnel".padStart(9)}  tun/dir  vs-untuned  >=1 Gbit/s`);
    for (const { s, direct, tunnel } of results) {
      const vs = untuned ? (tunnel / untuned).toFixed(2) + "x" : "-";
      console.log(
        `${s.label.padEnd(56)} ${direct.toFixed(0).padStart(9)} ${tunnel.toFixed(0).padStart(9)}  ${(tunnel / direct).toFixed(3).padStart(7)}  ${vs.padStart(10)}  ${tunnel >= 1000 ? "yes" : "no"}`,
      );
    }
    console.log("(Mbit/s; tun/dir = tunnel / direct over the same veth link; vs-untuned = tunnel / untuned AES-256-GCM tunnel; same run)");
  } finally {
    await destroyLab(lab);
  }
}

mainBench().catch((e) => {
  console.error(e);
  process.exit(1);
});
