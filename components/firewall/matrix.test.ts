import fc from "fast-check";
import { Proto } from "../model";
import { connectivityMatrix, formatMatrix, isAllowed, matrixSources, MatrixEntry, policyPorts, policySegments } from "./matrix";
import { FirewallInput } from "./render";
import { SAMPLE_ROLES, sampleInput } from "../../test/support/sample-fleet";

function lookup(m: MatrixEntry[], from: string, to: string, proto: Proto, port: number): boolean | undefined {
  return m.find((e) => e.from === from && e.to === to && e.proto === proto && e.port === port)?.allowed;
}

/**
 * The policy as the README states it, written here from scratch (no code of matrix.ts or policy.ts):
 * SSH from the VPN and the gateway everywhere, the gateway's SSH from the admin CIDRs and its VPN port from
 * anywhere, and each configured rule admitting the roles it names, "vpn" (and the gateway when it NATs the
 * VPN), or everyone for "public". Nothing else.
 */
function oracle(input: FirewallInput, from: string, to: string, proto: Proto, port: number): boolean {
  const gw = input.gatewayRole;
  const adminEverywhere = input.adminCidrs.includes("0.0.0.0/0");
  if (proto === "tcp" && port === 22) {
    if (from === "vpn" || from === gw) return true;
    if (to === gw && (from === "admin" || adminEverywhere)) return true;
  }
  if (to === gw && proto === input.vpn.proto && port === input.vpn.port) return true;
  for (const rule of input.roles[to].allow) {
    if (rule.proto !== proto || !rule.ports.some((r) => r.from <= port && port <= r.to)) continue;
    for (const src of rule.from) {
      if (src === "public" || src === from) return true;
      if (src === "vpn" && input.nat === true && from === gw) return true;
    }
  }
  return false;
}

describe("connectivityMatrix", () => {
  const open = connectivityMatrix(sampleInput(8));
  const narrowed = connectivityMatrix(sampleInput(8, { adminCidrs: ["203.0.113.2/32"] }));
  const nat = connectivityMatrix(sampleInput(8, { nat: true }));

  // Hand-derived from SAMPLE_ROLES and the built-ins, one line per reason.
  it.each([
    ["web", "app", "tcp", 8080, true, "app allows web on 8080"],
    ["vpn", "app", "tcp", 8080, true, "app allows vpn on 8080"],
    ["db", "app", "tcp", 8080, false, "db is not in app's 8080 list"],
    ["public", "app", "tcp", 8080, false, "app is private"],
    ["app", "web", "tcp", 443, true, "a public port admits everyone"],
    ["public", "web", "tcp", 80, true, "web's public port"],
    ["app", "app", "udp", 8125, true, "app allows itself on 8125"],
    ["app", "app", "tcp", 8125, false, "8125 is udp only"],
    ["vpn", "db", "tcp", 22, true, "SSH failsafe from the VPN"],
    ["gateway", "db", "tcp", 22, true, "SSH failsafe from the jump host"],
    ["app", "db", "tcp", 22, false, "no SSH between servers"],
    ["public", "db", "tcp", 22, false, "no SSH from the internet"],
    ["public", "gateway", "udp", 1194, true, "the VPN port is public"],
    ["public", "gateway", "tcp", 1194, false, "the VPN runs on udp"],
    ["public", "gateway", "tcp", 22, true, "admin CIDRs default to everywhere"],
    ["gateway", "db", "tcp", 9101, true, "upper end of db's 9100-9101 range"],
    ["gateway", "db", "tcp", 5432, false, "gateway is not a db client"],
  ] as [string, string, Proto, number, boolean, string][])("%s -> %s %s/%d is %s (%s)", (from, to, proto, port, allowed) => {
    const input = sampleInput(8);
    expect(isAllowed(input, from, to, proto, port)).toBe(allowed);
    const inMatrix = lookup(open, from, to, proto, port);
    if (inMatrix !== undefined) expect(inMatrix).toBe(allowed);
  });

  it("with narrowed admin CIDRs, only the admin source reaches the gateway's SSH directly", () => {
    expect(lookup(narrowed, "public", "gateway", "tcp", 22)).toBe(false);
    expect(lookup(narrowed, "admin", "gateway", "tcp", 22)).toBe(true);
    expect(lookup(narrowed, "admin", "db", "tcp", 22)).toBe(false);
    expect(lookup(narrowed, "app", "gateway", "tcp", 22)).toBe(false);
    expect(lookup(open, "admin", "gateway", "tcp", 22)).toBeUndefined(); // admin == public: no separate row
  });

  it("with NAT, the gateway stands in for the VPN", () => {
    expect(lookup(open, "gateway", "app", "tcp", 8080)).toBe(false);
    expect(lookup(nat, "gateway", "app", "tcp", 8080)).toBe(true);
  });

  it("covers every source x destination role x policy port, 22 and the VPN port included", () => {
    const input = sampleInput(8);
    const ports = policyPorts(input);
    expect(ports).toEqual(
      expect.arrayContaining([
        { proto: "tcp", port: 22 },
        { proto: "udp", port: 1194 },
      ]),
    );
    expect(open).toHaveLength(matrixSources(input).length * Object.keys(SAMPLE_ROLES).length * policySegments(input).length);
  });

  const withRanges = (allow: { proto: "tcp"; ports: { from: number; to: number }[]; from: string[] }[]) =>
    sampleInput(4, { roles: { ...SAMPLE_ROLES, db: { public: false, allow } } });

  it("makes a range one column, split only where another rule's range starts or ends inside it", () => {
    const whole = withRanges([{ proto: "tcp", ports: [{ from: 6379, to: 6382 }], from: ["app"] }]);
    expect(policySegments(whole).filter((s) => s.from >= 6000 && s.from < 7000)).toEqual([{ proto: "tcp", from: 6379, to: 6382 }]);
    expect(policyPorts(whole).filter((p) => p.port >= 6000 && p.port < 7000)).toEqual([
      { proto: "tcp", port: 6379 },
      { proto: "tcp", port: 6382 },
    ]);
    const split = withRanges([
      { proto: "tcp", ports: [{ from: 6379, to: 6382 }], from: ["app"] },
      { proto: "tcp", ports: [{ from: 6380, to: 6380 }], from: ["web"] },
    ]);
    expect(policySegments(split).filter((s) => s.from >= 6000 && s.from < 7000)).toEqual([
      { proto: "tcp", from: 6379, to: 6379 },
      { proto: "tcp", from: 6380, to: 6380 },
      { proto: "tcp", from: 6381, to: 6382 },
    ]);
  });

  it("properties: public implies everyone; the SSH failsafe holds for every role; matrix and isAllowed agree with an independent model", () => {
    const port = fc.integer({ min: 23, max: 1100 });
    const rule = fc.record({
      proto: fc.constantFrom("tcp" as const, "udp" as const),
      ports: fc.tuple(port, fc.integer({ min: 0, max: 3 })).map(([p, w]) => [{ from: p, to: p + w }]),
      from: fc.subarray(["gateway", "web", "app", "db", "vpn"], { minLength: 1 }),
    });
    fc.assert(
      fc.property(
        fc.array(rule, { maxLength: 3 }),
        fc.boolean(),
        fc.constantFrom("0.0.0.0/0", "203.0.113.0/24").map((c) => [c]),
        (appRules, natOn, adminCidrs) => {
          // One rule per port: keep the first of overlapping rules so the policy stays valid.
          const kept = appRules.filter(
            (r, i) => !appRules.slice(0, i).some((o) => o.proto === r.proto && o.ports[0].from <= r.ports[0].to && r.ports[0].from <= o.ports[0].to),
          );
          const input: FirewallInput = sampleInput(6, { roles: { ...SAMPLE_ROLES, app: { public: false, allow: kept } }, nat: natOn, adminCidrs });
          const m = connectivityMatrix(input);
          for (const e of m) {
            if (e.from === "public" && e.allowed)
              expect(m.filter((x) => x.to === e.to && x.proto === e.proto && x.port === e.port).every((x) => x.allowed)).toBe(true);
            expect(e.allowed).toBe(oracle(input, e.from, e.to, e.proto, e.port));
            expect(e.allowed).toBe(oracle(input, e.from, e.to, e.proto, e.toPort));
            expect(isAllowed(input, e.from, e.to, e.proto, e.port)).toBe(e.allowed);
          }
          for (const to of Object.keys(SAMPLE_ROLES)) {
            expect(lookup(m, "vpn", to, "tcp", 22)).toBe(true);
            expect(lookup(m, "gateway", to, "tcp", 22)).toBe(true);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("formatMatrix", () => {
  it("prints a stable table", () => {
    const text = formatMatrix(connectivityMatrix(sampleInput(5, { adminCidrs: ["203.0.113.2/32"] })));
    expect(text).toMatchSnapshot();
    expect(text.split("\n")[0]).toMatch(/^from\s+to\s+22\/tcp\s+80\/tcp/);
  });

  it("shows a range as a range, not its ends", () => {
    const text = formatMatrix(
      connectivityMatrix(
        sampleInput(4, { roles: { ...SAMPLE_ROLES, db: { public: false, allow: [{ proto: "tcp", ports: [{ from: 6379, to: 6382 }], from: ["app"] }] } } }),
      ),
    );
    expect(text.split("\n")[0]).toMatch(/ 6379–6382\/tcp( |$)/);
    expect(text).not.toMatch(/(^|\s)6382\/tcp/);
  });

  it("says so when empty", () => {
    expect(formatMatrix([])).toBe("(empty matrix)\n");
  });
});
