/**
 * The OpenVPN gateway against the real daemon: the rendered server config and profiles,
 * installed by scripts/remote/vpn-configure.sh through the bundle loader, in namespaces.
 */
import { createHash } from "crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "fs";
import * as path from "path";
import { AllowEntry, renderClientProfile, tlsCryptV2ClientKeyFrom } from "../../components/vpn/render";
import { inNs, must, run } from "../../lab/sh";
import { main as vpnProfileCli } from "../../scripts/vpn-profile";
import { describeLab } from "./guard";
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
  gwPaths,
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
} from "./vpn-lab";

const APP_PORT = 8080;
const ECHO_PORT = 9000;

describeLab("vpn gateway (real openvpn in namespaces)", () => {
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
  const connect = (laptop: string, prof: string, tag = laptop) => {
    const c = startClient(lab, laptop, prof, tag);
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
    const before = gatewayLog(lab).length;
    await waitFor(`the gateway to refuse ${c.name}`, () => marker.test(gatewayLog(lab).slice(before)), 20_000).catch((e) => {
      throw new Error(`${e.message}\n--- gateway log ---\n${gatewayLog(lab).slice(-3000)}`);
    });
    await sleep(3000);
    expect(clientConnected(c)).toBe(false);
  };

  beforeAll(() => {
    lab = createLab(["alice", "bob", "mallory"]);
    const ca = makeCa(mkdtempSync(path.join(lab.dir, "ca-")), "fleet-vpn-ca");
    gw = gatewaySetup(ca);
    certs.alice = ca.issue("alice", "clientAuth");
    certs.bob = ca.issue("bob", "clientAuth");
    // A private server: sshd-like banner on 22 is replaced by real sshd below when available.
    spawnIn(lab, lab.app, ["socat", `TCP-LISTEN:${APP_PORT},reuseaddr,fork`, "SYSTEM:echo app-ok"]);
    spawnIn(lab, lab.app, ["socat", `TCP-LISTEN:${ECHO_PORT},reuseaddr,fork`, "EXEC:cat"]);
    const hostKey = path.join(lab.dir, "ssh_host_ed25519_key");
    must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
    must(["mkdir", "-p", "/run/sshd"]);
    spawnIn(lab, lab.app, [
      "/usr/sbin/sshd",
      "-D",
      "-e",
      "-f",
      "/dev/null",
      "-o",
      `HostKey=${hostKey}`,
      "-o",
      `ListenAddress=${PRIVATE.app}`,
      "-o",
      "PidFile=none",
      "-o",
      "UsePAM=no",
    ]);
    configure(allow("alice", "bob"));
  });

  afterAll(() => {
    for (const c of clients) stopClient(c);
    if (lab) destroyLab(lab);
  });

  it("installs keys root-only and the admission files readable by nobody", () => {
    const dir = gwPaths(lab).configDir;
    const mode = (f: string) => must(["stat", "-L", "-c", "%a %U", path.join(dir, f)]).trim();
    expect(mode("server.key")).toBe("600 root");
    expect(mode("tls-crypt-v2-server.key")).toBe("600 root");
    expect(mode("allow-list")).toBe("644 root");
    expect(mode("ccd/alice")).toBe("644 root");
    expect(must(["stat", "-c", "%a %U", gwPaths(lab).runDir]).trim()).toBe("710 root");
    // The real proof of readability: nobody can run the hook on the allow-list.
    expect(run(["runuser", "-u", "nobody", "--", "test", "-r", path.join(dir, "ccd", "bob")]).code).toBe(0);
    expect(run(["runuser", "-u", "nobody", "--", "test", "-r", path.join(dir, "server.key")]).code).not.toBe(0);
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
    const allowList = readFileSync(path.join(gwPaths(lab).configDir, "allow-list"));
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
    must(["kill", "-STOP", String(pid)]);
    try {
      const r = configureGateway(lab, gw, allow("alice"));
      expect([r.code, r.stdout]).toEqual([1, ""]);
      expect(r.stderr).toMatch(/openvpn does not answer on \S+fleet\.sock/);
    } finally {
      must(["kill", "-CONT", String(pid)]);
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

  it("comes back after a simulated gateway reboot via the boot path", async () => {
    for (const c of clients) stopClient(c);
    const pid = gatewayPid(lab);
    expect(pid).toBeDefined();
    must(["kill", "-KILL", String(pid)]);
    await waitFor("openvpn to die", () => run(["test", "-d", `/proc/${pid}`]).code !== 0);
    // A reboot empties /run and resets forwarding.
    must(["rm", "-rf", gwPaths(lab).runDir]);
    must(inNs(lab.gw, ["sysctl", "-qw", "net.ipv4.ip_forward=0"]));

    must(inNs(lab.gw, ["bash", path.join(gwPaths(lab).configDir, "vpn-boot.sh"), lab.gwPrefix]));
    expect(gatewayPid(lab)).not.toBe(pid);
    const alice = connect("alice", profile("alice", certs.alice), "alice-after-reboot");
    await waitConnected(alice);
    expect(tcpBanner(lab.laptops.alice.ns, PRIVATE.app, APP_PORT)).toBe("app-ok\n");
  });
});
