import { ParsedFleetConfig } from "./schema";
import { RolePolicy } from "../model";

export const GATEWAY_ROLE = "gateway";

export interface RoleSpec extends RolePolicy {
  flavor?: string;
  image?: string;
}

export interface ServerSpec {
  name: string;
  role: string;
  flavor: string;
  image: string;
  /** Fixed, from network.cidr in config order. */
  privateIp: string;
  public: boolean;
}

/** The validated config every component is built from. */
export interface FleetConfig {
  cloud: ParsedFleetConfig["cloud"];
  network: ParsedFleetConfig["network"];
  roles: Record<string, RoleSpec>;
  servers: ServerSpec[];
  vpn: ParsedFleetConfig["vpn"];
  firewall: ParsedFleetConfig["firewall"];
  deploy?: ParsedFleetConfig["deploy"];
  gatewayRole: string;
}
