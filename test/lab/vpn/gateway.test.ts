/**
 * The OpenVPN gateway against the real daemon: the rendered server config and profiles, installed by
 * components/vpn/vpn-configure.sh through the bundle loader on a lab host whose systemd runs openvpn-server@fleet.
 */
import { createHash } from "crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "fs";
import * as path from "path";
import { AllowEntry, renderClientProfile, tlsCryptV2ClientKeyFrom } from "../../../components/vpn/render";
import { inNs, must } from "../../../lab/sh";
import { main as vpnProfileCli } from "../../../scripts/vpn-profile";
import { describeLab } from "../guard";
import {
  clientConnected,
  clientLog,
  configureGateway,
  connectedClients,
  createLab,
  destroyLab,
  gatewayLog,
  gatewayPid,
  gatewaySetup,
  GatewaySetup,
  gwFile,
  Issued,
  Lab,
  makeCa,
  PRIVATE,
  PUBLIC,
  SERVER_NAME,
  sleep,
  spawnIn,
  startClient,
  stopClient,
  tcpBanner,
  VpnClient,
  waitConnected,
  waitFor,
} from "./lab";

const APP_PORT = 8080;
const ECHO_PORT = 9000;

describeLab("vpn gateway (real openvpn on a systemd lab host)", () => {
  let lab: Lab;
  let gw: GatewaySetup;
  const certs: Record<string, Issued> = {};
  const clients: VpnClient[] = [];

  const profile = (engineer: string, cert: Issued, caPem = gw.ca.certPem) =>
    renderClientProfile({
      engineer,
      remoteHost: PUBLIC.gw,
      port: 1194,
      proto: "udp",
      serverName: SERVER_NAME,
      caCertPem: caPem,
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      tlsCryptV2Key: tlsCryptV2ClientKeyFrom(gw.ca.keyPem, engineer),
    });
  const allow = (...names: string[]): AllowEntry[] => names.map((cn) => ({ cn, fingerprint: certs[cn].fingerprint }));
  /** How long the gateway's log was when each client started: its refusal can be logged before anyone looks. */
  const logAtStart = new Map<VpnClient, number>();
  const connect = (laptop: string, prof: string, tag = laptop) => {
    const at = gatewayLog(lab).length;
    const c = startClient(lab, laptop, prof, tag);
    logAtStart.set(c, at);
    clients.push(c);
    return c;
  };
  const configure = (engineers: AllowEntry[]) => {
    const r = configureGateway(lab, gw, engineers);
    if (r.code !== 0) throw new Error(`vpn-configure failed (${r.code}):\n${r.stderr}\n--- gateway log ---\n${gatewayLog(lab).slice(-3000)}`);
    return r;
  };
  /** Asserts the handshake is refused: the server logs `marker` and the client never completes. */
  const expectRefused = async (c: VpnClient, marker: RegExp) => {
    const before = logAtStart.get(c)!;
    await waitFor(`the gateway to refuse ${c.name}`, () => marker.test(gatewayLog(lab).slice(before)), 20_000).catch((e) => {
      throw new Error(`${e.message}\n--- gateway log ---\n${gatewayLog(lab).slice(-3000)}`);
    });
    await sleep(3000);
    expect(clientConnected(c)).toBe(false);
  };

  beforeAll(async () => {
    lab = await createLab(["alice", "bob", "mallory"]);
    const ca = makeCa(mkdtempSync(path.join(lab.dir, "ca-")), "fleet-vpn-ca");
    gw = gatewaySetup(ca);
    certs.alice = ca.issue("alice", "clientAuth");
    certs.bob = ca.issue("bob", "clientAuth");
    // The private server's own sshd answers on 22; the app and an echo service run inside it.
    spawnIn(lab, lab.app, ["socat", `TCP-LISTEN:${APP_PORT},reuseaddr,fork`, "SYSTEM:echo app-ok"]);
    spawnIn(lab, lab.app, ["socat", `TCP-LISTEN:${ECHO_PORT},reuseaddr,fork`, "EXEC:cat"]);
    configure(allow("alice", "bob"));
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) stopClient(c);
    if (lab) await destroyLab(lab);
  }, 60_000);

  it("installs keys root-only and the admission files readable by nobody", () => {
    const inGw = (argv: string[]) => lab.net.exec(lab.gw, argv);
    const dir = "/etc/openvpn/server";
    const mode = (f: string) => inGw(["stat", "-L", "-c", "%a %U", path.join(dir, f)]).stdout.trim();
    expect(mode("server.key")).toBe("600 root");
    expect(mode("tls-crypt-v2-server.key")).toBe("600 root");
    expect(mode("allow-list")).toBe("644 root");
    expect(mode("ccd/alice")).toBe("644 root");
    expect(inGw(["stat", "-c", "%a %U", "/run/openvpn-server"]).stdout.trim()).toBe("710 root");
    // The real proof of readability: nobody can run the hook on the allow-list.
    expect(inGw(["runuser", "-u", "nobody", "--", "test", "-r", path.join(dir, "ccd", "bob")]).code).toBe(0);
    expect(inGw(["runuser", "-u", "nobody", "--", "test", "-r", path.join(dir, "server.key")]).code).not.toBe(0);
  });

  it("without the VPN an engineer laptop cannot reach the private network", () => {
    expect(tcpBanner(lab.laptops.alice.ns, PRIVATE.app, 22)).toBe("");
    expect(tcpBanner(lab.laptops.alice.ns, PRIVATE.app, APP_PORT)).toBe("");
  });

  it("alice connects with her profile (written by vpn:profile) and reaches SSH and the app port through a split tunnel", async () => {
    const json = path.join(lab.dir, "vpnProfiles.json");
    writeFileSync(json, JSON.stringify({ alice: profile("alice", certs.alice), bob: profile("bob", certs.bob) }));
    const out = path.join(lab.dir, "alice.ovpn");
    vpnProfileCli(["alice", "--from-json", json, "--out", out]);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const alice = connect("alice", readFileSync(out, "utf8"));
    await waitConnected(alice);
    expect(tcpBanner(lab.laptops.alice.ns, PRIVATE.app, 22)).toMatch(/^SSH-2\.0-/);
    expect(tcpBanner(lab.laptops.alice.ns, PRIVATE.app, APP_PORT)).toBe("app-ok\n");
    const routes = must(inNs(lab.laptops.alice.ns, ["ip", "-4", "route", "show"]));
    expect(routes).toMatch(new RegExp(`^${PRIVATE.cidr.replace(/\./g, "\\.")} via \\S+ dev tun0`, "m"));
    // Split tunnel: no default route and no 0/1 + 128/1 pair through the tunnel.
    expect(routes).not.toMatch(/^(default|0\.0\.0\.0\/1|128\.0\.0\.0\/1) /m);
    expect(clientLog(alice)).toMatch(/Data Channel: cipher 'AES-256-GCM'/);
  });

  it("re-running configure with the same engineers neither restarts nor disconnects anyone", async () => {
    const pid = gatewayPid(lab);
    const since = (await connectedClients(lab)).alice;
    expect(since).toMatch(/^\d+$/);
    const r = configure(allow("alice", "bob"));
    expect(r.stderr).not.toMatch(/restarted|disconnected/);
    expect(gatewayPid(lab)).toBe(pid);
    expect((await connectedClients(lab)).alice).toBe(since);
  });

  it("removing bob drops his live session and refuses his profile, while alice's session stays up", async () => {
    const bob = connect("bob", profile("bob", certs.bob));
    await waitConnected(bob);
    expect(tcpBanner(lab.laptops.bob.ns, PRIVATE.app, APP_PORT)).toBe("app-ok\n");
    const pid = gatewayPid(lab);
    const aliceSince = (await connectedClients(lab)).alice;
    expect(aliceSince).toMatch(/^\d+$/);
    expect(Object.keys(await connectedClients(lab)).sort()).toEqual(["alice", "bob"]);

    // One TCP connection from alice, echoing a line every 200 ms across the whole change.
    const rounds = 40;
    const session = spawnIn(lab, lab.laptops.alice.ns, [
      "bash",
      "-c",
      'exec 3<>"/dev/tcp/$1/$2"; for i in $(seq 1 "$3"); do echo "ping $i" >&3; read -r -t 3 l <&3; [ "$l" = "ping $i" ] || exit 1; sleep 0.2; done',
      "session",
      PRIVATE.app,
      String(ECHO_PORT),
      String(rounds),
    ]);
    const sessionDone = new Promise<number | null>((resolve) => session.on("exit", (code) => resolve(code)));
    await sleep(1500);

    const r = configure(allow("alice"));
    expect(r.stderr).toMatch(/disconnected removed engineer bob/);
    expect(gatewayPid(lab)).toBe(pid);
    // What the stack records (vpnAdmitted) is what the running daemon reads, with bob's session already gone.
    const allowList = readFileSync(gwFile(lab, "allow-list"));
    const digest = createHash("sha256").update(allowList).digest("hex").slice(0, 16);
    expect(r.stdout).toBe(`vpn allow-list ${digest} live in openvpn pid ${pid}, admits: alice\n`);
    expect(Object.keys(await connectedClients(lab))).toEqual(["alice"]);

    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      gone = !("bob" in (await connectedClients(lab)));
      if (!gone) await sleep(200);
    }
    expect(gone).toBe(true);
    expect(tcpBanner(lab.laptops.bob.ns, PRIVATE.app, APP_PORT, 2)).toBe("");
    expect(await sessionDone).toBe(0);
    expect((await connectedClients(lab)).alice).toBe(aliceSince);

    // His profile is refused from now on, at its first packet: its tls-crypt-v2 key names him.
    stopClient(bob);
    const again = connect("bob", profile("bob", certs.bob), "bob-again");
    await expectRefused(again, /refused the tls-crypt-v2 key of 'bob'/);
    stopClient(again);
  });

  it("fails, naming the daemon, when the gateway's openvpn runs but does not answer (nothing to vouch for)", () => {
    const pid = gatewayPid(lab)!;
    expect(lab.net.exec(lab.gw, ["kill", "-STOP", String(pid)]).code).toBe(0);
    try {
      const r = configureGateway(lab, gw, allow("alice"));
      expect([r.code, r.stdout]).toEqual([1, ""]);
      expect(r.stderr).toMatch(/openvpn does not answer on \S+fleet\.sock/);
    } finally {
      lab.net.exec(lab.gw, ["kill", "-CONT", String(pid)]);
    }
    expect(configure(allow("alice")).stdout).toMatch(/ admits: alice\n$/);
  });

  it("refuses a client certificate from another CA, even one claiming an allowed CN", async () => {
    const rogueCa = makeCa(mkdtempSync(path.join(lab.dir, "rogue-")), "fleet-vpn-ca");
    const forged = rogueCa.issue("alice", "clientAuth");
    const c = connect("mallory", profile("alice", forged), "mallory-rogue-ca");
    await expectRefused(c, /VERIFY ERROR: depth=0/);
    stopClient(c);
  });

  it("refuses a profile whose tls-crypt-v2 key was wrapped under another server key, before the hook runs", async () => {
    const c = connect(
      "mallory",
      profile("alice", certs.alice).replace(
        /<tls-crypt-v2>[\s\S]*<\/tls-crypt-v2>/,
        `<tls-crypt-v2>\n${tlsCryptV2ClientKeyFrom("another CA", "alice").trim()}\n</tls-crypt-v2>`,
      ),
      "mallory-other-key",
    );
    await expectRefused(c, /Can not unwrap tls-crypt-v2 client key/);
    stopClient(c);
  });

  it("refuses a certificate from our CA whose fingerprint is not pinned (ccd alone would admit it)", async () => {
    const reissued = gw.ca.issue("alice", "clientAuth");
    const c = connect("mallory", profile("alice", reissued), "mallory-unpinned");
    await expectRefused(c, /refused certificate CN=alice/);
    stopClient(c);
  });

  it("comes back after a gateway reboot through its enabled unit, and alice reconnects", async () => {
    for (const c of clients) stopClient(c);
    const pid = gatewayPid(lab);
    expect(pid).toBeDefined();
    await lab.net.reboot(lab.gw);
    // Nothing was started by hand: systemd brought the daemon up at boot, with forwarding on for the routes.
    await waitFor("openvpn-server@fleet after the reboot", () => gatewayPid(lab) !== undefined, 30_000);
    expect(lab.net.exec(lab.gw, ["systemctl", "is-enabled", "openvpn-server@fleet"]).stdout.trim()).toBe("enabled");
    expect(lab.net.exec(lab.gw, ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.trim()).toBe("1");
    const alice = connect("alice", profile("alice", certs.alice), "alice-after-reboot");
    await waitConnected(alice);
    expect(tcpBanner(lab.laptops.alice.ns, PRIVATE.app, APP_PORT)).toBe("app-ok\n");
  }, 90_000);
});
