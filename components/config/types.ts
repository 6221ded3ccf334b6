import { z } from "zod";
import { ParsedFleetConfig, volumeSchema } from "./schema";
import { RolePolicy } from "../model";

export const GATEWAY_ROLE = "gateway";

export type VolumeSpec = z.output<typeof volumeSchema>;

export interface RoleSpec extends RolePolicy {
  flavor?: string;
  image?: string;
  volume?: VolumeSpec;
}

export interface ServerSpec {
  name: string;
  role: string;
  flavor: string;
  image: string;
  /** The address the config pins, if it pins one; otherwise the cloud allocates it (the server's port says which). */
  privateIp?: string;
  /** Its role's data volume, if the role is stateful. */
  volume?: VolumeSpec;
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
  /** Stateful servers the config retires on purpose (fleet:retire): not in `servers`, their volumes kept this up. */
  retire: string[];
  gatewayRole: string;
}
