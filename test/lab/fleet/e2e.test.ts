/**
 * The fleet end to end under the real engine: index.ts brought up by the real `pulumi` CLI and providers on a
 * reduced dev stack against the lab's OpenStack, whose hypervisor boots a host per Nova server; then probed from
 * inside the hosts, the operator (the cloud's namespace, on the lab's Internet) and the engineer laptops, through
 * Neutron's security groups, router and floating IPs.
 * Firewall (issue 4): observed matrix == the `matrix` output; adding a server updates its peers without
 * breaking a live connection between two others and re-runs only the changed firewall commands; a
 * ruleset that cuts the operator's SSH reverts by itself and fails `up` naming the host; rules and sets
 * come back after a reboot. VPN (issue 5): profiles from the stack output reach private SSH and the app;
 * removing an engineer drops his live session and refuses his profile while another's session lives on;
 * the VPN comes back after a gateway reboot.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "fs";
import * as path from "path";
import { MatrixEntry } from "../../../components/firewall/matrix";
import { summarizePreview } from "../../../scripts/plan/preview";
import { writeProfile } from "../../../scripts/vpn-profile";
import { describeLab } from "../guard";

import { fromStackFile, lab, LabUp } from "../support";
import { changedNames } from "../../../lab/real-stack";
import { projectObjects } from "../../../lab/openstack";
import { firewallState, HostProcesses, PortSpec, probeFrom, startVpnClient } from "../support/e2e";
import { OUTSIDE_PORTS } from "../firewall/lab";
import { clientConnected, clientLog, sleep, stopClient, tcpBanner, VpnClient, waitConnected, waitFor } from "../vpn/lab";

const OPERATOR = "203.0.113.2";
const CONFIRM_TIMEOUT = 12;
const BASE_SERVERS = [
  { name: "gw-1", role: "gateway" },
  { name: "web-1", role: "web" },
  { name: "app-1", role: "app" },
  { name: "app-2", role: "app" },
  { name: "db-1", role: "db" },
];
const vpnConfig = (engineers: string[], adminCidrs: string[]) => ({
  subnet: "10.8.0.0/24",
  port: 1194,
  proto: "udp",
  engineers,
  adminCidrs,
});
/**
 * Admin SSH only from the operator, so eng1 (203.0.113.3) is a "public" sender and the operator an "admin" one.
 * The deploy (fleet:deploy) stays: app-1 serves /health on 8080 through the tunnel.
 */
const stackConfig = (opts: { servers?: object[]; engineers?: string[]; adminCidrs?: string[] } = {}) =>
  fromStackFile("Pulumi.dev.yaml", {
    "fleet:servers": opts.servers ?? BASE_SERVERS,
    "fleet:vpn": vpnConfig(opts.engineers ?? ["alice", "bob"], opts.adminCidrs ?? [`${OPERATOR}/32`]),
    "fleet:firewall": { confirmTimeoutSeconds: CONFIRM_TIMEOUT },
  });
// At the front: the cloud gives addresses, so a server inserted anywhere moves no other server.
const WITH_APP3 = [{ name: "app-3", role: "app" }, ...BASE_SERVERS];
/** Each server's Nova id, its port's id and its address, as the OpenStack API reports them. */
const cloudView = (project: string) => {
  const objs = projectObjects(project);
  return Object.fromEntries(
    objs.servers.map((s) => {
      const port = objs.ports.find((p) => p.deviceId === s.id)!;
      return [s.name, { id: s.id, port: `${port.name} ${port.fixedIps.join(",")}`, addresses: s.addresses }];
    }),
  );
};

const cellKey = (e: { from: string; to: string; proto: string; port: number }) => `${e.from}>${e.to}>${e.proto}/${e.port}`;
const firewallHostsIn = (up: LabUp) =>
  [
    ...new Set(
      up.steps
        .filter((s) => s.type === "command:remote:Command" && /-firewall(-confirm)?$/.test(s.name) && s.op !== "same")
        .map((s) => s.name.replace(/-firewall(-confirm)?$/, "")),
    ),
  ].sort();

describeLab(
  "fleet end to end under the real engine (index.ts by the real pulumi, on the lab's OpenStack)",
  () => {
    const t = lab("e2e");
    const PROJECT = "lab-e2e";
    const procs = new HostProcesses(t);
    const dir = mkdtempSync("/tmp/fl-e2e-");
    const clients: VpnClient[] = [];
    let up: LabUp;
    let alice: VpnClient;
    let hashesBefore: Record<string, string>;

    const ip = (host: string) => up.host(host).privateIp!;
    // The gateway runs OpenVPN as systemd's openvpn-server@fleet unit, which logs to the journal.
    const gatewayLog = async () => (await t.exec("gw-1", ["journalctl", "-u", "openvpn-server@fleet", "-o", "cat", "--no-pager"])).stdout;
    const connectVpn = async (laptop: "eng1" | "eng2", engineer: string, profiles: Record<string, string>, tag: string) => {
      const file = path.join(dir, `${tag}.ovpn`);
      writeProfile(profiles, engineer, file);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const c = await startVpnClient(t, laptop, file, tag);
      clients.push(c);
      return c;
    };

    const laptop = (name: "eng1" | "eng2") => t.L.laptopNs(name);

    beforeAll(async () => {
      await t.down();
      t.laptops();
      up = await t.up(stackConfig());
      hashesBefore = up.outputs.firewallHashes;
    }, 600_000);

    afterAll(async () => {
      for (const c of clients) stopClient(c);
      procs.killAll();
      await t.down();
      // The profiles hold private keys.
      rmSync(dir, { recursive: true, force: true });
    });

    it("without the VPN, an engineer laptop reaches no private server, and the gateway's address offers no SSH or app", async () => {
      const eng1 = laptop("eng1");
      // The operator's SSH to the gateway works from the same Internet, so the refusals below are the fleet's.
      expect(tcpBanner("fl-os", up.outputs.gatewayAddress, 22)).toMatch(/^SSH-2\.0-/);
      expect(tcpBanner(eng1, ip("app-1"), 22, 2)).toBe("");
      expect(tcpBanner(eng1, ip("app-1"), 8080, 2)).toBe("");
      expect(tcpBanner(eng1, up.outputs.gatewayAddress, 22, 2)).toBe("");
      expect(tcpBanner(eng1, up.outputs.gatewayAddress, 8080, 2)).toBe("");
    }, 30_000);

    it("the observed connectivity matrix equals the stack's `matrix` output", async () => {
      const matrix = up.outputs.matrix as MatrixEntry[];
      const ends = [...matrix.flatMap((e) => [e.port, e.toPort].map((port) => ({ proto: e.proto, port }))), ...OUTSIDE_PORTS];
      const ports: PortSpec[] = [...new Map(ends.map((e) => [`${e.proto}/${e.port}`, { proto: e.proto, port: e.port }])).values()];
      const servers = up.hosts;
      const skipped = await Promise.all(servers.map(async (h) => ({ host: h.name, listening: await procs.listen(h.name, ports) })));
      // Only openvpn's own port may be taken (sshd on 22 and the app on 8080 answer TCP probes themselves).
      for (const s of skipped) {
        const taken = ports.filter((p) => !s.listening.some((l) => l.proto === p.proto && l.port === p.port)).map((p) => `${p.proto}/${p.port}`);
        const expected = ["tcp/22", ...(s.host.startsWith("app-") ? ["tcp/8080"] : []), ...(s.host === "gw-1" ? ["udp/1194"] : [])];
        expect(taken.sort()).toEqual(expected.sort());
      }

      // The VPN vantage: alice's profile from the stack output, on eng1.
      alice = await connectVpn("eng1", "alice", up.outputs.vpnProfiles, "alice");
      await waitConnected(alice, 30_000);

      const role = (name: string) => up.host(name).role!;
      type Probe = { as: string; from: string; to: string; ip: string; proto: PortSpec["proto"]; port: number };
      const plan: Probe[] = [];
      for (const src of servers)
        for (const dst of servers)
          if (src.name !== dst.name) for (const p of ports) plan.push({ as: src.role!, from: src.name, to: dst.name, ip: dst.privateIp!, ...p });
      for (const dst of servers) for (const p of ports) plan.push({ as: "vpn", from: "eng1", to: dst.name, ip: dst.privateIp!, ...p });
      // Public side: only hosts with a public address are reachable from the public bridge at all.
      for (const [vantage, as] of [
        ["eng1", "public"],
        ["operator", "admin"],
      ] as const)
        for (const dst of servers.filter((h) => h.publicIp)) for (const p of ports) plan.push({ as, from: vantage, to: dst.name, ip: dst.publicIp!, ...p });
      // openvpn owns udp/1194 on the gateway: a UDP echo probe cannot tell "dropped" from "not echoed" there.
      const probes = plan.filter((p) => !(p.to === "gw-1" && p.proto === "udp" && p.port === 1194));

      const byVantage = new Map<string, Probe[]>();
      for (const p of probes) byVantage.set(p.from, [...(byVantage.get(p.from) ?? []), p]);
      const cells = new Map<string, boolean[]>();
      await Promise.all(
        [...byVantage.entries()].map(async ([from, list]) => {
          const got = await probeFrom(
            t,
            from,
            list.map(({ ip: i, proto, port }) => ({ ip: i, proto, port })),
          );
          list.forEach((p, i) => {
            const k = cellKey({ from: p.as, to: role(p.to), proto: p.proto, port: p.port });
            cells.set(k, [...(cells.get(k) ?? []), got[i]]);
          });
        }),
      );

      const outside = [...cells.entries()].filter(([k, v]) => OUTSIDE_PORTS.some((o) => k.endsWith(`>${o.proto}/${o.port}`)) && v.some(Boolean));
      expect(outside.map(([k]) => k)).toEqual([]);
      const mixed = [...cells.entries()].filter(([, v]) => new Set(v).size > 1).map(([k]) => k);
      expect(mixed).toEqual([]);
      const probed = matrix.filter((e) => cells.has(cellKey(e)));
      expect(probed.map((e) => ({ ...e, allowed: cells.get(cellKey(e))![0] }))).toEqual(probed);
      // An entry stands for a run of ports: its last port answers as its first does.
      expect(probed.filter((e) => cells.get(cellKey({ ...e, port: e.toPort }))?.[0] !== e.allowed).map(cellKey)).toEqual([]);
      // Exactly these cells are not probed: one host per role cannot probe its own role; app/db have no public
      // address for the public/admin side; openvpn answers udp/1194 on the gateway (the VPN connect proves public->gateway there).
      const unprobed = [
        ...new Set(
          matrix
            .filter((e) => !cells.has(cellKey(e)))
            .map((e) => `${e.from}>${e.to}${e.to === "gateway" && e.from !== "gateway" && e.port === 1194 ? ">udp/1194" : ""}`),
        ),
      ].sort();
      const singles = ["db>db", "gateway>gateway", "web>web"];
      const offPublic = ["admin>app", "admin>db", "public>app", "public>db"];
      const vpnPort = ["admin", "app", "db", "public", "vpn", "web"].map((r) => `${r}>gateway>udp/1194`);
      expect(unprobed).toEqual([...singles, ...offPublic, ...vpnPort].sort());
      // Not a vacuous comparison: both answers occur among the probed cells.
      expect(new Set(probed.map((e) => e.allowed))).toEqual(new Set([true, false]));
    }, 300_000);

    it("alice reaches a private server's SSH and the app's /health through the tunnel", async () => {
      const eng1 = laptop("eng1");
      expect(tcpBanner(eng1, ip("db-1"), 22)).toMatch(/^SSH-2\.0-/);
      const health = await t.exec("eng1", ["curl", "-sS", "--max-time", "5", `http://${ip("app-1")}:8080/health`]);
      expect(health.stdout.trim()).toBe("ok");
      expect(clientLog(alice)).toMatch(new RegExp(`${up.outputs.gatewayAddress.replace(/\./g, "\\.")}:1194`));
    }, 30_000);

    it("adding app-3 at the front of the list: the preview lists exactly what the up changes; no other server moves; peers learn it, a live connection survives, only changed firewalls re-run", async () => {
      const roundTrip = await procs.connect("app-1", ip("db-1"), 5432);
      expect(await roundTrip("before")).toBe("echo before");
      const cloudBefore = cloudView(PROJECT);

      await t.prepare(stackConfig({ servers: WITH_APP3 }));
      const preview = await t.pulumi(["preview", "--json"]);
      expect(preview.code).toBe(0);
      const planned = summarizePreview(preview.stdout).changes.map((c) => `${c.op} ${c.type} ${c.name}`);
      expect(planned).toContainEqual("create openstack:compute/instance:Instance app-3");
      up = await t.up(stackConfig({ servers: WITH_APP3 }));
      // What the engine did is what the preview said, resource by resource: the up's own steps, folded the same way
      // (one change per resource, a replacement's steps one "replace").
      const did = summarizePreview({ steps: up.steps.map((s) => ({ op: s.op, urn: s.urn })) }).changes.map((c) => `${c.op} ${c.type} ${c.name}`);
      expect(did).toEqual(planned);
      // Every server that was there keeps its instance, port and address, as the OpenStack API reports them.
      const cloudAfter = cloudView(PROJECT);
      expect(Object.fromEntries(Object.keys(cloudBefore).map((n) => [n, cloudAfter[n]]))).toEqual(cloudBefore);
      expect(changedNames(up.steps, "openstack:networking/port:Port")).toEqual(["app-3"]);
      expect(changedNames(up.steps, "openstack:compute/instance:Instance")).toEqual(["app-3"]);
      const hashesAfter: Record<string, string> = up.outputs.firewallHashes;
      const changed = Object.keys(hashesBefore).filter((h) => hashesBefore[h] !== hashesAfter[h]);
      expect(changed).toContain("db-1"); // db-1's app allow-list must now hold app-3
      expect(firewallHostsIn(up)).toEqual([...changed, "app-3"].sort());
      hashesBefore = hashesAfter;

      expect(await roundTrip("after")).toBe("echo after");
      const sets = await t.exec("db-1", ["ipset", "save"]);
      expect(sets.stdout).toContain(` ${ip("app-3")}`);
      await procs.listen("app-3", [{ proto: "tcp", port: 9999 }]);
      const [toDb, toDbOutside, webToApp3, webToApp3Outside] = [
        ...(await probeFrom(t, "app-3", [
          { ip: ip("db-1"), proto: "tcp", port: 5432 },
          { ip: ip("db-1"), proto: "tcp", port: 9999 },
        ])),
        ...(await probeFrom(t, "web-1", [
          { ip: ip("app-3"), proto: "tcp", port: 8080 },
          { ip: ip("app-3"), proto: "tcp", port: 9999 },
        ])),
      ];
      expect({ toDb, toDbOutside, webToApp3, webToApp3Outside }).toEqual({ toDb: true, toDbOutside: false, webToApp3: true, webToApp3Outside: false });
    }, 300_000);

    it("reordering the list changes nothing: the preview expects no changes", async () => {
      await t.prepare(stackConfig({ servers: [...WITH_APP3].reverse() }));
      const preview = await t.pulumi(["preview", "--expect-no-changes"]);
      expect({ code: preview.code, out: preview.code === 0 ? "" : preview.stdout.slice(-2000) }).toEqual({ code: 0, out: "" });
    }, 120_000);

    it("removing bob drops his live session and refuses his profile; alice's session stays up throughout", async () => {
      const bob = await connectVpn("eng2", "bob", up.outputs.vpnProfiles, "bob");
      await waitConnected(bob, 30_000);
      expect(tcpBanner(laptop("eng2"), ip("app-1"), 22)).toMatch(/^SSH-2\.0-/);
      const aliceSession = await procs.connect("eng1", ip("db-1"), 5432);
      expect(await aliceSession("before")).toBe("echo before");

      const profilesBefore = up.outputs.vpnProfiles;
      up = await t.up(stackConfig({ servers: WITH_APP3, engineers: ["alice"] }));
      expect(changedNames(up.steps, "command:remote:Command")).toEqual(["fleet-vpn-configure"]);
      expect(up.remoteRuns).toBe(1);
      expect(Object.keys(up.outputs.vpnProfiles)).toEqual(["alice"]);
      // Reported by the gateway once its daemon answered and bob's session was gone.
      expect(up.outputs.vpnAdmitted).toEqual(["alice"]);

      await waitFor("bob's tunnel to stop working", () => tcpBanner(laptop("eng2"), ip("app-1"), 22, 1) === "", 20_000);
      expect(await aliceSession("after")).toBe("echo after");
      expect(tcpBanner(laptop("eng1"), ip("app-1"), 22)).toMatch(/^SSH-2\.0-/);
      expect(clientLog(alice).match(/Initialization Sequence Completed/g)).toHaveLength(1);

      stopClient(bob);
      const logAt = (await gatewayLog()).length;
      const again = await connectVpn("eng2", "bob", profilesBefore, "bob-again");
      let refused = false;
      // His profile's own tls-crypt-v2 key names him: the gateway drops it at the first packet, before TLS, so no
      // certificate of his is ever parsed.
      for (let i = 0; i < 100 && !refused; i++) {
        refused = /refused the tls-crypt-v2 key of 'bob': not in the allow-list/.test((await gatewayLog()).slice(logAt));
        if (!refused) await sleep(200);
      }
      expect(refused).toBe(true);
      expect((await gatewayLog()).slice(logAt)).not.toMatch(/CN=bob/);
      await sleep(2000);
      expect(clientConnected(again)).toBe(false);
      stopClient(again);
    }, 300_000);

    it("a ruleset that cuts the operator's SSH reverts by itself and fails up naming the host; a corrected up succeeds", async () => {
      const cut = await t.up(stackConfig({ servers: WITH_APP3, engineers: ["alice"], adminCidrs: ["203.0.113.3/32"] }), { expectFailure: true });
      expect(cut.ok).toBe(false);
      expect(cut.error).toMatch(/gw-1/);
      expect(cut.error).toMatch(/reverted/);
      expect(cut.error).toMatch(new RegExp(`${CONFIRM_TIMEOUT}s`));
      // The host reverted by itself through systemd: the armed transient timer's service ran the revert.
      const revert = await t.exec("gw-1", ["journalctl", "-u", "fleet-firewall-revert.service", "-o", "cat", "--no-pager"]);
      expect(revert.stdout).toMatch(/revert/i);
      const alive = await t.ssh(await t.connection("gw-1"), "echo reachable");
      expect(alive.stdout.trim()).toBe("reachable");

      up = await t.up(stackConfig({ servers: WITH_APP3, engineers: ["alice"] }));
      expect(up.ok).toBe(true);
      expect(up.outputs.firewallHashes).toEqual(hashesBefore);
      expect((await t.ssh(await t.connection("gw-1"), "echo reachable")).stdout.trim()).toBe("reachable");
    }, 400_000);

    it("after a reboot of app-2 its rules and sets come back through the boot path", async () => {
      const before = await firewallState(t, "app-2");
      expect(before).toMatch(/--match-set/);
      await t.reboot("app-2");
      const after = await firewallState(t, "app-2");
      expect(after).toEqual(before);
      const [fromWeb, fromGateway] = [
        ...(await probeFrom(t, "web-1", [{ ip: ip("app-2"), proto: "tcp", port: 22 }])),
        ...(await probeFrom(t, "gw-1", [{ ip: ip("app-2"), proto: "tcp", port: 22 }])),
      ];
      expect({ fromWeb, fromGateway }).toEqual({ fromWeb: false, fromGateway: true });
    }, 300_000);

    it("after a gateway reboot the VPN comes back and alice reconnects", async () => {
      const fwBefore = await firewallState(t, "gw-1");
      stopClient(alice);
      await t.reboot("gw-1");
      expect(await firewallState(t, "gw-1")).toEqual(fwBefore);
      // systemd brought the daemon back at boot (the openvpn-server@fleet unit is enabled).
      const pid = (await t.exec("gw-1", ["systemctl", "show", "-p", "MainPID", "--value", "openvpn-server@fleet"])).stdout.trim();
      expect(pid).toMatch(/^[1-9]\d*$/);
      const back = await connectVpn("eng1", "alice", up.outputs.vpnProfiles, "alice-after-reboot");
      await waitConnected(back, 30_000);
      expect(tcpBanner(laptop("eng1"), ip("db-1"), 22)).toMatch(/^SSH-2\.0-/);
      expect(readFileSync(back.log, "utf8")).toMatch(/Initialization Sequence Completed/);
    }, 300_000);

    it("removing web-1 from the middle: its peers drop it in the same up, nothing of it is left in the cloud, the VPN and the jump host keep working", async () => {
      const web1 = ip("web-1");
      const before = up.outputs.firewallHashes as Record<string, string>;
      const remaining = WITH_APP3.filter((s) => s.name !== "web-1");
      await t.prepare(stackConfig({ servers: remaining, engineers: ["alice"] }));
      const preview = await t.pulumi(["preview", "--json"]);
      expect(preview.code).toBe(0);
      const planned = summarizePreview(preview.stdout).changes.map((c) => `${c.op} ${c.type} ${c.name}`);
      up = await t.up(stackConfig({ servers: remaining, engineers: ["alice"] }));
      const did = summarizePreview({ steps: up.steps.map((s) => ({ op: s.op, urn: s.urn })) }).changes.map((c) => `${c.op} ${c.type} ${c.name}`);
      expect(did).toEqual(planned);
      // Deleted: web-1's own resources; changed: the firewalls of the hosts that admitted web-1 (the app role's).
      const deleted = up.steps.filter((s) => s.op === "delete").map((s) => s.name);
      expect(deleted.every((n) => /(^|-)web-1(-|$)/.test(n))).toBe(true);
      const after = up.outputs.firewallHashes as Record<string, string>;
      const changed = Object.keys(after).filter((h) => before[h] !== after[h]);
      expect(changed.sort()).toEqual(["app-1", "app-2", "app-3"]);
      // Re-run: exactly the changed peers' firewalls; web-1's own firewall commands went with it.
      expect(firewallHostsIn({ ...up, steps: up.steps.filter((s) => s.op !== "delete") })).toEqual(changed.sort());
      for (const h of changed) expect((await t.exec(h, ["ipset", "save"])).stdout).not.toContain(` ${web1}`);
      // Nothing of web-1 is left in the cloud.
      const objs = projectObjects(PROJECT);
      expect(objs.servers.map((s) => s.name).sort()).toEqual(remaining.map((s) => s.name).sort());
      expect(objs.ports.filter((p) => p.fixedIps.includes(web1))).toEqual([]);
      expect(objs.floatingIps.length).toBe(1); // the gateway's only
      // The VPN and the jump host still work: alice reaches db-1's SSH, the operator a private host through gw-1.
      expect(tcpBanner(laptop("eng1"), ip("db-1"), 22)).toMatch(/^SSH-2\.0-/);
      expect((await t.ssh(await t.connection("app-2"), "echo reachable")).stdout.trim()).toBe("reachable");
      // The state is true to the cloud: a refresh finds nothing to change.
      const refresh = await t.pulumi(["refresh", "--yes", "--skip-preview", "--expect-no-changes"]);
      expect({ code: refresh.code, out: refresh.code === 0 ? "" : refresh.stdout.slice(-2000) }).toEqual({ code: 0, out: "" });
    }, 400_000);
  },
  ["ip", "iptables", "ipset", "openvpn", "sshd"],
);
