import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import { PortRange, Proto, RolePolicy, VpnSettings } from "../model";
import { canonicalCidr } from "../network/addressing";
import { effectiveRules } from "./policy";

/**
 * Neutron security groups derived from the same policy as the host firewalls: a second layer
 * in OpenStack mode (Rackspace classic has no security groups). One group per role; role sources
 * become remote groups, so membership follows the ports without listing addresses.
 */

export type EtherType = "IPv4" | "IPv6";

export interface SecurityGroupRuleSpec {
  /** The role whose group holds the rule. */
  role: string;
  direction: "ingress" | "egress";
  etherType: EtherType;
  /** undefined = any protocol (egress). */
  protocol?: Proto | "icmp" | "ipv6-icmp";
  ports?: PortRange;
  remote: { group: string } | { cidr: string };
  description: string;
}

export interface SecurityGroupPolicy {
  roles: Record<string, RolePolicy>;
  gatewayRole: string;
  vpn: VpnSettings;
  adminCidrs: string[];
  nat?: boolean;
}

const BOTH: EtherType[] = ["IPv4", "IPv6"];

function etherOf(cidr: string): EtherType {
  return canonicalCidr(cidr)?.family === 6 ? "IPv6" : "IPv4";
}

function specKey(r: SecurityGroupRuleSpec): string {
  const remote = "group" in r.remote ? `g:${r.remote.group}` : `c:${r.remote.cidr}`;
  return [r.role, r.direction, r.etherType, r.protocol ?? "any", r.ports ? `${r.ports.from}-${r.ports.to}` : "", remote].join("|");
}

/** Every rule of every role's group, deduplicated and sorted (stable resource names follow from it). */
export function securityGroupRules(policy: SecurityGroupPolicy): SecurityGroupRuleSpec[] {
  const out = new Map<string, SecurityGroupRuleSpec>();
  const add = (r: SecurityGroupRuleSpec) => out.set(specKey(r), r);
  for (const role of Object.keys(policy.roles).sort()) {
    for (const etherType of BOTH) {
      add({
        role,
        direction: "egress",
        etherType,
        remote: { cidr: etherType === "IPv4" ? "0.0.0.0/0" : "::/0" },
        description: "egress (re-added after deleteDefaultRules)",
      });
      // The host firewall narrows ICMP; the group only keeps PMTU discovery, errors and ND working.
      add({
        role,
        direction: "ingress",
        etherType,
        protocol: etherType === "IPv4" ? "icmp" : "ipv6-icmp",
        remote: { cidr: etherType === "IPv4" ? "0.0.0.0/0" : "::/0" },
        description: "icmp",
      });
    }
    for (const rule of effectiveRules(role, policy.roles, policy)) {
      for (const ports of rule.ports) {
        const base = { role, direction: "ingress" as const, protocol: rule.proto, ports, description: rule.origin };
        for (const src of rule.from) {
          if (src.kind === "role") {
            for (const etherType of BOTH) add({ ...base, etherType, remote: { group: src.role } });
          } else if (src.kind === "vpn") {
            add({ ...base, etherType: etherOf(policy.vpn.subnet), remote: { cidr: canonicalCidr(policy.vpn.subnet)?.cidr ?? policy.vpn.subnet } });
            // NATed VPN traffic arrives from the gateway's own port.
            if (policy.nat) for (const etherType of BOTH) add({ ...base, etherType, remote: { group: policy.gatewayRole } });
          } else if (src.kind === "public") {
            for (const etherType of BOTH) add({ ...base, etherType, remote: { cidr: etherType === "IPv4" ? "0.0.0.0/0" : "::/0" } });
          } else {
            for (const cidr of policy.adminCidrs) add({ ...base, etherType: etherOf(cidr), remote: { cidr: canonicalCidr(cidr)?.cidr ?? cidr } });
          }
        }
      }
    }
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

/** A short content hash: a rule's resource name stays the same as long as the rule does. */
export function ruleResourceName(prefix: string, r: SecurityGroupRuleSpec): string {
  return `${prefix}-${r.role}-${createHash("sha256").update(specKey(r)).digest("hex").slice(0, 10)}`;
}

export interface RoleSecurityGroupsArgs extends SecurityGroupPolicy {
  region?: pulumi.Input<string>;
}

export class RoleSecurityGroups extends pulumi.ComponentResource {
  readonly groupIds: Record<string, pulumi.Output<string>> = {};

  constructor(name: string, args: RoleSecurityGroupsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fleet:firewall:RoleSecurityGroups", name, {}, opts);
    const groups: Record<string, openstack.networking.SecGroup> = {};
    for (const role of Object.keys(args.roles).sort()) {
      groups[role] = new openstack.networking.SecGroup(
        `${name}-${role}`,
        { name: `${name}-${role}`, description: `fleet role ${role}`, deleteDefaultRules: true, region: args.region },
        { parent: this },
      );
      this.groupIds[role] = groups[role].id;
    }
    for (const r of securityGroupRules(args)) {
      new openstack.networking.SecGroupRule(
        ruleResourceName(name, r),
        {
          securityGroupId: groups[r.role].id,
          direction: r.direction,
          ethertype: r.etherType,
          protocol: r.protocol,
          portRangeMin: r.ports?.from,
          portRangeMax: r.ports?.to,
          remoteGroupId: "group" in r.remote ? groups[r.remote.group].id : undefined,
          remoteIpPrefix: "cidr" in r.remote ? r.remote.cidr : undefined,
          description: r.description,
          region: args.region,
        },
        { parent: this },
      );
    }
    this.registerOutputs({ groupIds: this.groupIds });
  }
}
