/**
 * Every rendered file, for a realistic fleet, goes through the REAL tools inside a throwaway
 * namespace: `ipset restore`, then `iptables-restore --test` / `ip6tables-restore --test`,
 * then a real load, and a second load to prove re-applying never duplicates a jump.
 */
import { renderFleetFirewalls, ruleCount } from "../../../components/firewall/render";
import { sampleInput } from "../../support/sample-fleet";
import { delNetns, inNs, must, run, tempNetns } from "../../../lab/sh";
import { describeLab } from "../guard";

const NEEDS = ["ip", "iptables", "ipset"];

describeLab(
  "firewall files load in the real iptables-restore / ip6tables-restore / ipset",
  () => {
    // NAT on and off, and admin CIDRs both open and narrowed, so every renderer branch is loaded.
    const variants = [sampleInput(13, { adminCidrs: ["0.0.0.0/0", "::/0"] }), sampleInput(13, { nat: true, adminCidrs: ["203.0.113.2/32", "2001:db8::/48"] })];
    const cases = variants.flatMap((input, v) => Object.entries(renderFleetFirewalls(input)).map(([host, fw]) => ({ v, host, fw })));

    describe.each(cases)("variant $v host $host", ({ host, fw }) => {
      let ns = "";
      beforeAll(() => {
        ns = tempNetns(`fwr${host}`.slice(0, 12));
      });
      afterAll(() => delNetns(ns));

      it("passes ipset restore and the --test of both rule files", () => {
        must(inNs(ns, ["ipset", "restore"]), fw.ipsets);
        must(inNs(ns, ["iptables-restore", "-w", "--noflush", "--test"]), fw.rulesV4);
        must(inNs(ns, ["ip6tables-restore", "-w", "--noflush", "--test"]), fw.rulesV6);
      });

      it("loads for real next to a foreign chain, which it leaves alone", () => {
        must(inNs(ns, ["iptables", "-w", "-N", "DOCKER-USER"]));
        must(inNs(ns, ["iptables", "-w", "-A", "DOCKER-USER", "-j", "RETURN"]));
        must(inNs(ns, ["iptables-restore", "-w", "--noflush"]), fw.rulesV4);
        must(inNs(ns, ["ip6tables-restore", "-w", "--noflush"]), fw.rulesV6);
        const saved = must(inNs(ns, ["iptables-save"]));
        expect(saved).toContain("-A DOCKER-USER -j RETURN");
        expect(saved).toMatch(/^:INPUT DROP/m);
        const loaded = saved
          .split("\n")
          .filter((l) => l.startsWith("-A FLEET-") || l.startsWith("-A INPUT") || l.startsWith("-A FORWARD") || l.startsWith("-A POSTROUTING"));
        expect(loaded.length).toBe(ruleCount(fw.rulesV4));
      });

      it("re-applying through the scripts' jump filter keeps exactly one jump per chain", () => {
        const script = 'set -e; . "$1"; f=$(mktemp); cat >"$f"; fw_strip_existing_jumps "$f" iptables | iptables-restore -w --noflush; rm -f "$f"';
        const r = run(inNs(ns, ["bash", "-c", script, "strip", `${process.cwd()}/components/firewall/firewall-lib.sh`]), fw.rulesV4);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const saved = must(inNs(ns, ["iptables-save"]));
        expect(saved.match(/^-A INPUT -j FLEET-INPUT$/gm)).toHaveLength(1);
        expect(saved.match(/^-A FORWARD -j FLEET-FWD$/gm)).toHaveLength(1);
        expect(saved.split("\n").filter((l) => l.startsWith("-A FLEET-INPUT")).length).toBe(
          fw.rulesV4.split("\n").filter((l) => l.startsWith("-A FLEET-INPUT")).length,
        );
      });
    });
  },
  NEEDS,
);
