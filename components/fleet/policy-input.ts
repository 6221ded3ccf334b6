import { FleetConfig } from "../config/types";
import { FirewallInput } from "../firewall/render";
import { HostFacts } from "../model";

/**
 * The firewall's view of a fleet from config alone. Addresses are fixed by the config
 * (see network/addressing.ts), so this equals what the servers' outputs will say; the
 * Fleet itself builds the same input from the outputs.
 */
export function firewallInputFromConfig(cfg: FleetConfig, hosts?: HostFacts[]): FirewallInput {
  return {
    hosts: hosts ?? cfg.servers.map((s) => ({ name: s.name, role: s.role, privateIp: s.privateIp })),
    roles: Object.fromEntries(Object.entries(cfg.roles).map(([name, r]) => [name, { public: r.public, allow: r.allow }])),
    gatewayRole: cfg.gatewayRole,
    vpn: { subnet: cfg.vpn.subnet, port: cfg.vpn.port, proto: cfg.vpn.proto },
    privateCidr: cfg.network.cidr,
    adminCidrs: cfg.vpn.adminCidrs,
  };
}
