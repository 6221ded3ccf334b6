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
  /** The address the config pins, if it pins one; otherwise the cloud allocates it (the server's port says which). */
  privateIp?: string;
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
