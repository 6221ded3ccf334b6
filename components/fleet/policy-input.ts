import { FleetConfig } from "../config/types";
import { FirewallInput } from "../firewall/render";
import { HostFacts } from "../model";
import { standInAddresses } from "../network/addressing";

/**
 * The firewall's view of a fleet from config alone (the plan report, the matrix, the policy checks). The cloud
 * allocates servers' addresses, so unpinned servers get stand-ins here; the flows between roles do not depend on
 * them. The Fleet itself builds the same input from the servers' ports.
 */
export function firewallInputFromConfig(cfg: FleetConfig, hosts?: HostFacts[]): FirewallInput {
  const ips = standInAddresses(cfg.network.cidr, cfg.servers);
  return {
    hosts: hosts ?? cfg.servers.map((s, i) => ({ name: s.name, role: s.role, privateIp: ips[i] })),
    roles: Object.fromEntries(Object.entries(cfg.roles).map(([name, r]) => [name, { public: r.public, allow: r.allow }])),
    gatewayRole: cfg.gatewayRole,
    vpn: { subnet: cfg.vpn.subnet, port: cfg.vpn.port, proto: cfg.vpn.proto },
    privateCidr: cfg.network.cidr,
    adminCidrs: cfg.vpn.adminCidrs,
  };
}
