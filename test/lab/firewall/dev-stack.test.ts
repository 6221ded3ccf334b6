/**
 * The dev stack (Pulumi.dev.yaml) as the firewall sees it: its roles, its servers at their config
 * addresses, applied with the real scripts on lab hosts. The observed matrix must equal the
 * computed one that `npm run matrix` prints.
 */
import { firewallInputFromConfig } from "../../../components/fleet/policy-input";
import { renderFleetFirewalls } from "../../../components/firewall/render";
import { policyPorts } from "../../../components/firewall/matrix";
import { fleetConfigOf } from "../../../scripts/stack";
import { FirewallLab, observeMatrix, OUTSIDE_PORTS } from "./lab";
import { describeLab } from "../guard";

describeLab(
  "firewall: the dev stack's observed matrix equals the computed one",
  () => {
    const lab = new FirewallLab();
    const cfg = fleetConfigOf("dev");
    const input = firewallInputFromConfig(cfg);
    const prefix = cfg.network.cidr.split("/")[1];

    beforeAll(async () => {
      await Promise.all(input.hosts.map((h) => lab.addHost(h.name, `${h.privateIp}/${prefix}`)));
      lab.addSender("vpn", `${cfg.vpn.subnet.replace(/\.0\/(\d+)$/, ".6/$1")}`);
      // The dev stack narrows gateway SSH to adminCidrs (203.0.113.0/24): probe from inside it and from outside it.
      lab.addSender("admin", "203.0.113.50/24");
      lab.addSender("public", "198.51.100.50/24");
      const ports = [...policyPorts(input), ...OUTSIDE_PORTS];
      await Promise.all(input.hosts.map((h) => lab.listen(lab.node(h.name), ports)));
    }, 300_000);
    afterAll(() => lab.destroy(), 120_000);

    it("applies, confirms, and probes every pair on every policy port and outside it", async () => {
      const rendered = renderFleetFirewalls(input);
      for (const h of input.hosts) lab.applyAndConfirm(lab.node(h.name), rendered[h.name], 30);
      const m = await observeMatrix(lab, input, [
        { node: lab.node("vpn"), as: "vpn" },
        { node: lab.node("public"), as: "public" },
        { node: lab.node("admin"), as: "admin" },
      ]);
      const singles = Object.keys(cfg.roles).filter((r) => input.hosts.filter((h) => h.role === r).length === 1);
      expect(m.unprobed).toEqual(singles.map((r) => `${r}>${r}`).sort());
      expect(m.mixed).toEqual([]);
      expect(m.observed).toEqual(m.expected);
      expect(m.outsideOpen).toEqual([]);
    });
  },
  ["ip", "iptables", "ipset"],
);
