import fc from "fast-check";
import { AllowRule, RolePolicy } from "../model";
import { policyErrors } from "./policy";
import { SAMPLE_ROLES } from "../../test/support/sample-fleet";

const VPN = { subnet: "10.8.0.0/24", port: 1194, proto: "udp" as const };
const opts = { gatewayRole: "gateway", vpn: VPN };
const p = (from: number, to = from) => ({ from, to });

function withRule(role: string, rule: AllowRule, publicRole = false): Record<string, RolePolicy> {
  const base = SAMPLE_ROLES[role] ?? { public: publicRole, allow: [] };
  return { ...SAMPLE_ROLES, [role]: { ...base, public: base.public || publicRole, allow: [...base.allow, rule] } };
}

describe("policyErrors", () => {
  it("accepts the sample policy", () => {
    expect(policyErrors(SAMPLE_ROLES, opts)).toEqual([]);
  });

  describe.each([
    {
      what: "an unknown role in from",
      roles: withRule("db", { proto: "tcp", ports: [p(6379)], from: ["app", "cache"] }),
      message: 'fleet:roles.db.allow[2].from[1]: unknown role "cache" (known: app, db, gateway, web; or vpn, public)',
    },
    {
      what: "public on a private role",
      roles: withRule("app", { proto: "tcp", ports: [p(9000)], from: ["public"] }),
      message: 'fleet:roles.app.allow[2].from[0]: "public" on role "app", which the policy keeps private (fleet:roles.app.public is false)',
    },
    {
      what: "two rules overlapping on one role",
      roles: withRule("app", { proto: "tcp", ports: [p(8000, 8100)], from: ["vpn"] }),
      message: 'fleet:roles.app.allow[2].ports[0]: tcp 8000-8100 overlaps fleet:roles.app.allow[0].ports[0] (tcp 8080) on role "app"',
    },
    {
      what: "a range listed twice in one rule",
      roles: withRule("db", { proto: "udp", ports: [p(53), p(50, 60)], from: ["app"] }),
      message: "fleet:roles.db.allow[2].ports[1]: udp 50-60 overlaps fleet:roles.db.allow[2].ports[0] (udp 53)",
    },
    {
      what: "a rule reusing SSH",
      roles: withRule("web", { proto: "tcp", ports: [p(20, 25)], from: ["vpn"] }),
      message: "fleet:roles.web.allow[1].ports[0]: tcp 20-25 includes tcp 22, reserved for the built-in SSH rule",
    },
    {
      what: "a gateway rule reusing the VPN port",
      roles: withRule("gateway", { proto: "udp", ports: [p(1194)], from: ["public"] }),
      message: "fleet:roles.gateway.allow[0].ports[0]: udp 1194 includes the VPN port udp 1194 (fleet:vpn.port)",
    },
    {
      what: "a source listed twice",
      roles: withRule("db", { proto: "tcp", ports: [p(6379)], from: ["app", "app"] }),
      message: 'fleet:roles.db.allow[2].from[1]: "app" is listed twice in this rule',
    },
  ])("rejects $what", ({ roles, message }) => {
    const errors = policyErrors(roles, opts);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(message);
  });

  it("reports a missing gateway role", () => {
    const { gateway: _gone, ...rest } = SAMPLE_ROLES;
    const roles = { ...rest, db: { ...rest.db, allow: rest.db.allow.filter((r) => !r.from.includes("gateway")) } };
    expect(policyErrors(roles, opts)).toEqual([expect.stringContaining('fleet:roles: the gateway role "gateway" is not defined')]);
  });

  it.each([
    ["the same port on another proto", withRule("app", { proto: "tcp", ports: [p(8125)], from: ["web"] })],
    ["the VPN port number on a non-gateway role", withRule("app", { proto: "udp", ports: [p(1194)], from: ["vpn"] })],
    ["the VPN port on the other proto", withRule("gateway", { proto: "tcp", ports: [p(1194)], from: ["public"] })],
    ["udp 22", withRule("app", { proto: "udp", ports: [p(22)], from: ["vpn"] })],
  ])("allows %s", (_what, roles) => {
    expect(policyErrors(roles, opts)).toEqual([]);
  });

  it("names a config key in every message, whatever the policy", () => {
    const port = fc.integer({ min: 1, max: 65535 });
    const range = fc.tuple(port, port).map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) }));
    const source = fc.constantFrom("gateway", "web", "app", "db", "vpn", "public", "nope");
    const rule = fc.record({
      proto: fc.constantFrom("tcp" as const, "udp" as const),
      ports: fc.array(range, { minLength: 1, maxLength: 3 }),
      from: fc.array(source, { minLength: 1, maxLength: 3 }),
    });
    const role = fc.record({ public: fc.boolean(), allow: fc.array(rule, { maxLength: 3 }) });
    fc.assert(
      fc.property(fc.record({ gateway: role, web: role, app: role, db: role }), (roles) => {
        const errors = policyErrors(roles, opts);
        expect(errors.every((e) => /^fleet:roles(\.[a-z]+\.allow\[\d+\]\.(from|ports)\[\d+\])?: /.test(e))).toBe(true);
        expect(policyErrors(roles, opts)).toEqual(errors);
      }),
    );
  });
});
