import fc from "fast-check";
import { HostFacts } from "../model";
import { FirewallInputError } from "./errors";
import { FirewallInput, renderFleetFirewalls, renderHostFirewall, rolesReadBy, ruleCount } from "./render";
import { sampleInput } from "../../test/support/sample-fleet";

const ROLES = ["gateway", "web", "app", "db"];

function hostOfRole(input: FirewallInput, role: string): HostFacts {
  return input.hosts.find((h) => h.role === role)!;
}

function ownedLines(rules: string): string[] {
  return rules.split("\n").filter((l) => l.startsWith("-A ") || l.startsWith("-I "));
}

describe("renderHostFirewall", () => {
  it.each([6, 17, 40])("gives each host of a %i-server fleet what rendering the whole fleet gives it", (n) => {
    const input = sampleInput(n, { nat: n === 17 });
    const all = renderFleetFirewalls(input);
    for (const h of input.hosts) expect({ host: h.name, fw: renderHostFirewall(input, h.name) }).toEqual({ host: h.name, fw: all[h.name] });
  });

  describe.each([
    ["plain", sampleInput(6)],
    ["nat, narrowed admin", sampleInput(6, { nat: true, adminCidrs: ["203.0.113.2/32", "2001:db8::/48"] })],
  ])("%s", (_name, input) => {
    it.each(ROLES)("matches the snapshot for a %s host", (role) => {
      expect(renderHostFirewall(input, hostOfRole(input, role).name)).toMatchSnapshot();
    });
  });

  it("keeps the rule count per host constant (and at most 40) whatever the fleet size", () => {
    // [IPv4, IPv6] rules (-A/-I lines) per role, read off the dev-like sample's snapshot above; the same at
    // any fleet size, because peers live in ipsets, not rules.
    const baseline: Record<string, [number, number]> = { gateway: [24, 30], web: [20, 29], app: [23, 32], db: [22, 31] };
    const rules = (text: string) => text.split("\n").filter((l) => /^-[AI] /.test(l)).length;
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 1500 }), fc.constantFrom(...ROLES), (n, role) => {
        const input = sampleInput(n);
        const fw = renderHostFirewall(input, hostOfRole(input, role).name);
        expect([rules(fw.rulesV4), rules(fw.rulesV6)]).toEqual(baseline[role]);
        expect([ruleCount(fw.rulesV4), ruleCount(fw.rulesV6)]).toEqual(baseline[role]);
      }),
      { numRuns: 25 },
    );
  });

  it("is deterministic: host order in the input does not matter, output is byte-identical", () => {
    const input = sampleInput(40);
    const expected = renderFleetFirewalls(input);
    fc.assert(
      fc.property(fc.shuffledSubarray(input.hosts, { minLength: input.hosts.length, maxLength: input.hosts.length }), (hosts) => {
        expect(renderFleetFirewalls({ ...input, hosts })).toEqual(expected);
      }),
      { numRuns: 30 },
    );
  });

  it.each([false, true])("a host's ruleset is rendered from the hosts of the roles it reads alone, and no other host changes it (nat %s)", (nat) => {
    const input = sampleInput(30, { nat });
    const full = renderFleetFirewalls(input);
    fc.assert(
      fc.property(fc.constantFrom(...input.hosts), fc.integer({ min: 0, max: 250 }), (host, octet) => {
        const reads = new Set(rolesReadBy(host.role, input));
        const own = input.hosts.filter((h) => h === host || reads.has(h.role));
        expect(renderFleetFirewalls({ ...input, hosts: own })[host.name]).toEqual(full[host.name]);
        // Moving any server the host does not read leaves its ruleset byte-identical.
        const other = input.hosts.find((h) => h !== host && !reads.has(h.role));
        if (other) {
          const moved = input.hosts.map((h) => (h === other ? { ...h, privateIp: `10.99.0.${octet}` } : h));
          expect(renderFleetFirewalls({ ...input, hosts: moved })[host.name]).toEqual(full[host.name]);
        }
      }),
      { numRuns: 40 },
    );
  });

  it("gives every host the SSH failsafe (VPN + gateway) before the final drop, in both families", () => {
    const all = renderFleetFirewalls(sampleInput(23));
    for (const [host, fw] of Object.entries(all)) {
      for (const [rules, suffix] of [
        [fw.rulesV4, ""],
        [fw.rulesV6, "6"],
      ] as const) {
        const lines = ownedLines(rules);
        const drop = lines.indexOf("-A FLEET-INPUT -j FLEET-DROP");
        const vpn = lines.findIndex((l) => l.startsWith(`-A FLEET-INPUT -p tcp --dport 22 -m set --match-set fleet-n${suffix}-vpn src`));
        const gw = lines.findIndex((l) => l.startsWith(`-A FLEET-INPUT -p tcp --dport 22 -m set --match-set fleet-r${suffix}-gateway src`));
        expect({ host, ok: vpn >= 0 && gw >= 0 && vpn < drop && gw < drop }).toEqual({ host, ok: true });
      }
    }
  });

  it("never flushes or touches chains it does not own", () => {
    const all = renderFleetFirewalls(sampleInput(17, { nat: true }));
    for (const fw of Object.values(all)) {
      for (const rules of [fw.rulesV4, fw.rulesV6]) {
        const lines = rules.split("\n");
        expect(lines.filter((l) => /^-[FXZDR] |--flush|--delete-chain/.test(l))).toEqual([]);
        const declared = lines.filter((l) => l.startsWith(":")).map((l) => l.slice(1).split(" ")[0]);
        expect(declared.filter((c) => !c.startsWith("FLEET-") && !["INPUT", "FORWARD", "OUTPUT"].includes(c))).toEqual([]);
        // Built-ins only get the single jump into our chain; everything else goes into FLEET-*.
        const intoBuiltins = ownedLines(rules).filter((l) => !l.startsWith("-A FLEET-"));
        expect(intoBuiltins.every((l) => /^-I (INPUT|FORWARD|POSTROUTING) 1 -j FLEET-[A-Z]+$/.test(l))).toBe(true);
      }
    }
  });

  it("defines every set a rule matches, with names that leave room for the swap suffix", () => {
    for (const fw of Object.values(renderFleetFirewalls(sampleInput(9)))) {
      const created = new Set(
        fw.ipsets
          .split("\n")
          .filter((l) => l.startsWith("create "))
          .map((l) => l.split(" ")[1]),
      );
      const used = [...`${fw.rulesV4}${fw.rulesV6}`.matchAll(/--match-set (\S+) src/g)].map((m) => m[1]);
      expect(used.filter((s) => !created.has(s))).toEqual([]);
      for (const s of created) expect(`${s}-n`.length).toBeLessThanOrEqual(31);
    }
  });

  it("adding a server changes the sets of the peers that list its role, not their rules", () => {
    const before = renderFleetFirewalls(sampleInput(10));
    const added = sampleInput(11).hosts[10];
    expect(added.role).toBe("app");
    const after = renderFleetFirewalls(sampleInput(11));
    const appIp = added.privateIp;
    expect(after["db-4"].ipsets).toContain(`add fleet-r-app ${appIp}\n`);
    expect(after["db-4"].rulesV4).toBe(before["db-4"].rulesV4);
    expect(after["db-4"].hash).not.toBe(before["db-4"].hash);
    expect(after["web-1"]).toEqual(before["web-1"]); // web lists only public
  });

  it("writes 0.0.0.0/0 as two halves (hash:net has no /0) and keeps IPv6 admin nets in inet6 sets", () => {
    const input = sampleInput(3, { adminCidrs: ["0.0.0.0/0", "2001:db8::/48"] });
    const gw = renderHostFirewall(input, "gateway-0");
    expect(gw.ipsets).toContain("add fleet-n-admin 0.0.0.0/1\nadd fleet-n-admin 128.0.0.0/1\n");
    expect(gw.ipsets).toContain("add fleet-n6-admin 2001:db8::/48\n");
  });

  it("accepts untracked ND (hop limit 255) before dropping INVALID in IPv6", () => {
    const lines = ownedLines(renderHostFirewall(sampleInput(3), "app-2").rulesV6);
    const invalid = lines.findIndex((l) => l.includes("--ctstate INVALID"));
    for (const t of ["neighbour-solicitation", "neighbour-advertisement", "router-advertisement"]) {
      const i = lines.findIndex((l) => l.includes(`--icmpv6-type ${t} -m hl --hl-eq 255`));
      expect(i).toBeGreaterThanOrEqual(0);
      expect(i).toBeLessThan(invalid);
    }
  });

  it("only the gateway forwards tun -> private, and only with nat does it masquerade", () => {
    const plain = renderFleetFirewalls(sampleInput(5));
    const nat = renderFleetFirewalls(sampleInput(5, { nat: true }));
    expect(plain["gateway-0"].rulesV4).toContain("-A FLEET-FWD -i tun+ -s 10.8.0.0/24 -d 10.0.0.0/16 -j ACCEPT");
    expect(plain["app-2"].rulesV4).not.toContain("-i tun+");
    expect(plain["gateway-0"].rulesV4).not.toContain("MASQUERADE");
    expect(nat["gateway-0"].rulesV4).toContain("-A FLEET-POSTROUTING -s 10.8.0.0/24 -d 10.0.0.0/16 -j MASQUERADE");
    // With NAT the gateway's address carries VPN traffic, so it joins the VPN set.
    expect(nat["db-4"].ipsets).toContain("add fleet-n-vpn 10.0.0.10/32\n");
  });

  it("rejects bad input with errors naming the key or host", () => {
    const input = sampleInput(3);
    expect(() => renderHostFirewall(input, "nope")).toThrow(/no server named "nope"/);
    const bad: FirewallInput = {
      ...input,
      adminCidrs: ["10.0.0.300/8"],
      hosts: [...input.hosts, { name: "x", role: "cache", privateIp: "10.0.0.99" }, { name: "y", role: "app", privateIp: "fe80::1" }],
    };
    let err: unknown;
    try {
      renderHostFirewall(bad, "gateway-0");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FirewallInputError);
    const msg = (err as Error).message;
    expect(msg).toContain('fleet:vpn.adminCidrs[0]: not a CIDR: "10.0.0.300/8"');
    expect(msg).toContain('server "x": unknown role "cache"');
    expect(msg).toContain('server "y": privateIp is not an IPv4 address: "fe80::1"');
  });
});
