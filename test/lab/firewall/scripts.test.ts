/**
 * The real apply/confirm/revert/boot scripts, run through the bundle loader on lab hosts (systemd, their own disk)
 * on one bridge: hosts of a realistic fleet, plus a VPN-subnet sender, a public sender and the admin (engine)
 * address as plain namespaces. Reverts run as systemd timers and the boot path is a real reboot.
 */
import { existsSync, readdirSync, readFileSync } from "fs";
import { connectivityMatrix, policyPorts, policySegments } from "../../../components/firewall/matrix";
import { FirewallInput, HostFirewall, renderFleetFirewalls } from "../../../components/firewall/render";
import { SAMPLE_ROLES, sampleHosts } from "../../support/sample-fleet";
import { HostFacts } from "../../../components/model";
import { inNs, must } from "../../../lab/sh";
import { FirewallLab, FW_ETC, FW_STATE, observeMatrix, OUTSIDE_PORTS, Target } from "./lab";
import { describeLab } from "../guard";

const NEEDS = ["ip", "iptables", "ipset"];
const TIMEOUT = 5;
const ADMIN_IP = "203.0.113.2";

function fleetInput(hosts: HostFacts[], over: Partial<FirewallInput> = {}): FirewallInput {
  return {
    hosts,
    roles: SAMPLE_ROLES,
    gatewayRole: "gateway",
    vpn: { subnet: "10.8.0.0/24", port: 1194, proto: "udp" },
    privateCidr: "10.0.0.0/16",
    adminCidrs: [`${ADMIN_IP}/32`],
    ...over,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeLab(
  "firewall scripts on a fleet of lab hosts",
  () => {
    const lab = new FirewallLab();
    let hosts = sampleHosts(9);
    let input = fleetInput(hosts);
    let rendered: Record<string, HostFirewall> = {};

    const extraSenders = () => [
      { node: lab.node("vpn"), as: "vpn" },
      { node: lab.node("public"), as: "public" },
      { node: lab.node("admin"), as: "admin" },
    ];

    beforeAll(async () => {
      await Promise.all(hosts.map((h) => lab.addHost(h.name, `${h.privateIp}/16`)));
      lab.addSender("vpn", "10.8.0.6/24");
      lab.addSender("public", "203.0.113.50/24");
      lab.addSender("admin", `${ADMIN_IP}/24`);
      const ports = [...policyPorts(input), ...OUTSIDE_PORTS];
      await Promise.all(hosts.map((h) => lab.listen(lab.node(h.name), ports)));
      rendered = renderFleetFirewalls(input);
    }, 300_000);

    afterAll(() => lab.destroy(), 120_000);

    it("applies and confirms on every host; the observed matrix equals the computed one", async () => {
      for (const h of hosts) lab.applyAndConfirm(lab.node(h.name), rendered[h.name], TIMEOUT);
      const m = await observeMatrix(lab, input, extraSenders());
      expect(m.mixed).toEqual([]);
      expect(m.unprobed).toEqual(["gateway>gateway"]); // the only single-host role
      expect(m.observed).toEqual(m.expected);
      expect(m.observed.length).toBe(connectivityMatrix(input).length - policySegments(input).length); // all but gateway>gateway
      // Not trivially open or closed.
      expect(m.observed.some((e) => e.allowed)).toBe(true);
      expect(m.observed.some((e) => !e.allowed)).toBe(true);
      expect(m.outsideOpen).toEqual([]);
    });

    it("a ruleset that cuts the engine's SSH reverts by itself, and confirm fails naming host and reason", async () => {
      const gw = lab.node("gateway-0");
      const before = lab.ownedState(gw);
      const confirmedBefore = readFileSync(lab.file(gw, `${FW_ETC}/rules.v4`), "utf8");
      const cutting = renderFleetFirewalls(fleetInput(hosts, { adminCidrs: ["192.0.2.99/32"] }))["gateway-0"];
      const ssh: Target = { ip: gw.ip, proto: "tcp", port: 22 };

      expect(await lab.probe(lab.node("admin"), [ssh])).toEqual([true]);
      const started = Date.now();
      const a = lab.apply(gw, cutting, TIMEOUT);
      expect(a.stderr).toContain("reverting in 5s unless confirmed");
      expect(a.code).toBe(0);
      expect(await lab.probe(lab.node("admin"), [ssh], 0.5)).toEqual([false]);

      let back = false;
      while (!back && Date.now() - started < (TIMEOUT + 10) * 1000) {
        back = (await lab.probe(lab.node("admin"), [ssh], 0.5))[0];
      }
      expect(back).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT * 1000 - 500);
      expect(lab.ownedState(gw)).toBe(before);

      const c = lab.confirm(gw, cutting.hash, a.stdout);
      expect(c.code).not.toBe(0);
      expect(c.stderr).toContain(`fleet: gateway-0: rules ${cutting.hash} were reverted at `);
      expect(c.stderr).toContain(`the confirmation did not arrive within ${TIMEOUT}s — the new rules cut this connection`);
      // What boot would load is still the last confirmed ruleset.
      expect(readFileSync(lab.file(gw, `${FW_ETC}/rules.v4`), "utf8")).toBe(confirmedBefore);
    });

    it("an unconfirmed first apply on a fresh host reverts to the open state it found, sets included", async () => {
      const fresh = await lab.addHost("fresh", "10.0.0.60/16");
      const a = lab.apply(fresh, rendered["db-4"], TIMEOUT);
      expect(a.code).toBe(0);
      expect(must(inNs(fresh.ns, ["iptables-save"]))).toMatch(/^:INPUT DROP/m);
      const marker = () => readdirSync(lab.file(fresh, FW_STATE)).some((f) => f.startsWith("reverted-"));
      const end = Date.now() + (TIMEOUT + 10) * 1000;
      while (!marker() && Date.now() < end) await sleep(250);
      expect(marker()).toBe(true);
      const after = must(inNs(fresh.ns, ["iptables-save"]));
      expect(after).toMatch(/^:INPUT ACCEPT/m);
      expect(after).not.toMatch(/^-A FLEET-/m);
      expect(must(inNs(fresh.ns, ["ip6tables-save"]))).toMatch(/^:INPUT ACCEPT/m);
      expect(must(inNs(fresh.ns, ["ipset", "list", "-n"])).trim()).toBe("");
      expect(existsSync(lab.file(fresh, `${FW_ETC}/rules.v4`))).toBe(false);
    });

    it("a confirmed apply is not reverted, and is what boot loads", async () => {
      const db = lab.node("db-4");
      const roles = {
        ...SAMPLE_ROLES,
        db: { ...SAMPLE_ROLES.db, allow: [...SAMPLE_ROLES.db.allow, { proto: "tcp" as const, ports: [{ from: 6379, to: 6379 }], from: ["app"] }] },
      };
      const next = renderFleetFirewalls(fleetInput(hosts, { roles }))["db-4"];
      lab.applyAndConfirm(db, next, TIMEOUT);
      const after = lab.ownedState(db);
      expect(after).toContain("--dport 6379");
      await sleep((TIMEOUT + 1.5) * 1000);
      expect(lab.ownedState(db)).toBe(after);
      expect(readdirSync(lab.file(db, FW_STATE)).filter((f) => f.startsWith("reverted-"))).toEqual([]);
      expect(readFileSync(lab.file(db, `${FW_ETC}/rules.v4`), "utf8")).toBe(next.rulesV4);
      expect(readFileSync(lab.file(db, `${FW_ETC}/ipsets`), "utf8")).toBe(next.ipsets);
      // Back to the fleet policy for the next tests.
      lab.applyAndConfirm(db, rendered["db-4"], TIMEOUT);
    });

    it("a file that fails iptables-restore --test is refused and nothing changes", () => {
      const web = lab.node("web-1");
      const before = lab.ownedState(web);
      const broken = { ...rendered["web-1"], rulesV4: rendered["web-1"].rulesV4.replace("COMMIT", "-A FLEET-INPUT -p tcp --dport 99999 -j ACCEPT\nCOMMIT") };
      const r = lab.apply(web, broken, TIMEOUT);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`fleet: web-1: rules ${broken.hash} failed iptables-restore --test; nothing was changed`);
      expect(lab.ownedState(web)).toBe(before);
      expect(existsSync(lab.file(web, `${FW_STATE}/pending`))).toBe(false);
    });

    it("a failure while applying (after the --test) puts the previous rules and sets back at once", () => {
      const web = lab.node("web-1");
      const before = lab.ownedState(web);
      // Loads fine in a fresh namespace, but the live hash:ip set cannot be swapped with a hash:net one.
      const clash = {
        ...rendered["web-1"],
        hash: "00000000000000aa",
        ipsets: rendered["web-1"].ipsets.replace("fleet-r-gateway hash:ip", "fleet-r-gateway hash:net"),
      };
      const r = lab.apply(web, clash, TIMEOUT);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`fleet: web-1: applying rules ${clash.hash} failed, previous rules restored`);
      expect(lab.ownedState(web)).toBe(before);
      expect(existsSync(lab.file(web, `${FW_STATE}/pending`))).toBe(false);
    });

    it("adding a server: peers learn it via ipset swap while an established connection between two others survives", async () => {
      const db = lab.node("db-4");
      const talk = await lab.connect(lab.node("app-2"), db.ip, 5432);
      expect(await talk("before")).toBe("echo before");

      const added: HostFacts = { name: "app-9", role: "app", privateIp: "10.0.0.19" };
      const newcomer = await lab.addHost(added.name, `${added.privateIp}/16`);
      const probeDb: Target = { ip: db.ip, proto: "tcp", port: 5432 };
      expect(await lab.probe(newcomer, [probeDb])).toEqual([false]);

      hosts = [...hosts, added];
      input = fleetInput(hosts);
      const next = renderFleetFirewalls(input);
      expect(next["db-4"].hash).not.toBe(rendered["db-4"].hash);
      expect(next["db-4"].rulesV4).toBe(rendered["db-4"].rulesV4); // only the set changed
      expect(next["gateway-0"].hash).toBe(rendered["gateway-0"].hash); // its sets do not list app
      // Every host in one "up": the newcomer gets its rules, every peer that lists app gets a new set.
      for (const h of hosts) lab.applyAndConfirm(lab.node(h.name), next[h.name], 30);
      rendered = next;

      expect(await talk("after")).toBe("echo after");
      expect(await lab.probe(newcomer, [probeDb])).toEqual([true]);
      const setList = must(inNs(db.ns, ["ipset", "list", "fleet-r-app"]));
      expect(setList).toContain("10.0.0.19");
      expect(
        must(inNs(db.ns, ["ipset", "list", "-n"]))
          .split("\n")
          .filter((n) => n.endsWith("-n")),
      ).toEqual([]);
    });

    it("a reboot brings rules and sets back through the boot unit", async () => {
      const db = lab.node("db-4");
      const before = lab.ownedState(db);
      await lab.reboot(db);
      // Nothing the scripts did survives in the kernel; the unit loaded the saved files at boot.
      expect(lab.ownedState(db)).toBe(before);
      const unit = lab.net.exec(db.host!, ["systemctl", "show", "-p", "ActiveState,Result", "fleet-firewall.service"]);
      expect(unit.stdout).toContain("ActiveState=active");
      expect(unit.stdout).toContain("Result=success");
      const journal = lab.net.exec(db.host!, ["journalctl", "-b", "-u", "fleet-firewall", "-o", "cat", "--no-pager"]).stdout;
      expect(journal).toContain("loaded saved rules");
      await lab.listen(db, [{ proto: "tcp", port: 5432 }]);
      const probe: Target = { ip: db.ip, proto: "tcp", port: 5432 };
      expect(await lab.probe(lab.node("app-3"), [probe])).toEqual([true]);
      expect(await lab.probe(lab.node("web-1"), [probe])).toEqual([false]);
    }, 120_000);

    it("the boot script run again by hand changes nothing", () => {
      const db = lab.node("db-4");
      const before = lab.ownedState(db);
      const r = lab.net.exec(db.host!, ["bash", `${FW_STATE}/bin/firewall-boot.sh`, FW_ETC]);
      expect(r.stderr).toContain("loaded saved rules");
      expect(r.code).toBe(0);
      expect(lab.ownedState(db)).toBe(before);
    });
  },
  NEEDS,
);
