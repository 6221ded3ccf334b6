import { PortRange, Proto, RolePolicy, VpnSettings } from "../model";

/**
 * The policy model plus the built-in rules nobody has to write: SSH from the VPN
 * and the jump host everywhere, and on the gateway the VPN port from anywhere and
 * SSH from the admin CIDRs (the engine running `pulumi up` must reach it).
 * Pure and cheap: config validation calls policyErrors on every run.
 */

export const SSH_PORT = 22;

/** Where a packet may come from, once config names are resolved. `admin` = the adminCidrs. */
export type SourceRef = { kind: "role"; role: string } | { kind: "vpn" } | { kind: "public" } | { kind: "admin" };

export interface EffectiveRule {
  proto: Proto;
  ports: PortRange[];
  from: SourceRef[];
  /** Config key of the rule, or a short name for a built-in; shows up as the iptables comment. */
  origin: string;
}

export interface PolicyOptions {
  gatewayRole: string;
  /** Needed to reserve the VPN port on the gateway; without it that check is skipped. */
  vpn?: VpnSettings;
}

export function sourceRef(name: string): SourceRef {
  if (name === "vpn") return { kind: "vpn" };
  if (name === "public") return { kind: "public" };
  return { kind: "role", role: name };
}

export function formatPorts(proto: Proto, r: PortRange): string {
  return r.from === r.to ? `${proto} ${r.from}` : `${proto} ${r.from}-${r.to}`;
}

function overlaps(a: PortRange, b: PortRange): boolean {
  return a.from <= b.to && b.from <= a.to;
}

/**
 * Every problem in the policy, each naming its config key, e.g.
 * `fleet:roles.db.allow[0].from[1]: unknown role "cache" ...`. Empty means valid.
 *
 * A clash is one role listing an overlapping proto+port range twice (in two rules or
 * twice in one): which sources apply would depend on reading order, so the fix is to
 * merge the sources into one rule. 22/tcp and the gateway's VPN port belong to the built-ins.
 */
export function policyErrors(roles: Record<string, RolePolicy>, opts: PolicyOptions): string[] {
  const problems: string[] = [];
  const names = Object.keys(roles).sort();
  if (!(opts.gatewayRole in roles)) {
    problems.push(`fleet:roles: the gateway role "${opts.gatewayRole}" is not defined (the VPN gateway and SSH jump host need it)`);
  }
  for (const role of names) {
    const policy = roles[role];
    const seen: { proto: Proto; range: PortRange; key: string }[] = [];
    policy.allow.forEach((rule, ri) => {
      const ruleKey = `fleet:roles.${role}.allow[${ri}]`;
      const sources = new Set<string>();
      rule.from.forEach((src, si) => {
        const key = `${ruleKey}.from[${si}]`;
        if (sources.has(src)) problems.push(`${key}: "${src}" is listed twice in this rule`);
        sources.add(src);
        if (src === "public") {
          if (!policy.public) {
            problems.push(
              `${key}: "public" on role "${role}", which the policy keeps private (fleet:roles.${role}.public is false); ` +
                `set it to true or remove this source`,
            );
          }
        } else if (src !== "vpn" && !(src in roles)) {
          problems.push(`${key}: unknown role "${src}" (known: ${names.join(", ")}; or vpn, public)`);
        }
      });
      rule.ports.forEach((range, pi) => {
        const key = `${ruleKey}.ports[${pi}]`;
        const what = formatPorts(rule.proto, range);
        if (rule.proto === "tcp" && overlaps(range, { from: SSH_PORT, to: SSH_PORT })) {
          problems.push(`${key}: ${what} includes tcp 22, reserved for the built-in SSH rule (open from the VPN and the gateway); remove it`);
        }
        if (opts.vpn && role === opts.gatewayRole && rule.proto === opts.vpn.proto && overlaps(range, { from: opts.vpn.port, to: opts.vpn.port })) {
          problems.push(
            `${key}: ${what} includes the VPN port ${opts.vpn.proto} ${opts.vpn.port} (fleet:vpn.port), which the gateway already opens to public; remove it`,
          );
        }
        for (const earlier of seen) {
          if (earlier.proto === rule.proto && overlaps(earlier.range, range)) {
            problems.push(
              `${key}: ${what} overlaps ${earlier.key} (${formatPorts(earlier.proto, earlier.range)}) on role "${role}"; ` +
                `list each port once per role and merge the sources into one rule`,
            );
          }
        }
        seen.push({ proto: rule.proto, range, key });
      });
    });
  }
  return problems;
}

/** The rules a role's hosts enforce: built-ins first (they are the lockout failsafe), then the config's. */
export function effectiveRules(role: string, roles: Record<string, RolePolicy>, opts: { gatewayRole: string; vpn: VpnSettings }): EffectiveRule[] {
  const ssh = { from: SSH_PORT, to: SSH_PORT };
  const out: EffectiveRule[] = [{ proto: "tcp", ports: [ssh], from: [{ kind: "vpn" }, { kind: "role", role: opts.gatewayRole }], origin: "builtin ssh" }];
  if (role === opts.gatewayRole) {
    out.push({ proto: "tcp", ports: [ssh], from: [{ kind: "admin" }], origin: "builtin ssh admin" });
    out.push({ proto: opts.vpn.proto, ports: [{ from: opts.vpn.port, to: opts.vpn.port }], from: [{ kind: "public" }], origin: "builtin vpn" });
  }
  (roles[role]?.allow ?? []).forEach((rule, i) => {
    out.push({ proto: rule.proto, ports: rule.ports, from: rule.from.map(sourceRef), origin: `roles.${role}.allow[${i}]` });
  });
  return out;
}

/** Source roles a role's rules refer to (its allow-list ipsets), sorted. */
export function sourceRoles(rules: EffectiveRule[]): string[] {
  const set = new Set<string>();
  for (const r of rules) for (const s of r.from) if (s.kind === "role") set.add(s.role);
  return [...set].sort();
}
