/**
 * Plain data shared by the pure renderers (firewall, VPN, deploy, cloud-init).
 * Nothing here imports Pulumi: renderers are tested as ordinary functions.
 */

export type Proto = "tcp" | "udp";

/** An inclusive port range; a single port has from === to. */
export interface PortRange {
  from: number;
  to: number;
}

/** Who may connect: another role, the VPN subnet, or anyone (`public`). */
export type Source = string; // role name | "vpn" | "public"

export interface AllowRule {
  proto: Proto;
  ports: PortRange[];
  from: Source[];
}

export interface RolePolicy {
  /** Servers of a public role get a public address and may open ports to `public`. */
  public: boolean;
  allow: AllowRule[];
}

/** What the stack knows about one server once it exists. */
export interface HostFacts {
  name: string;
  role: string;
  privateIp: string;
  publicIp?: string;
  privateIp6?: string;
}

export interface VpnSettings {
  subnet: string;
  port: number;
  proto: Proto;
}
