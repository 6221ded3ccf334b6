import * as pulumi from "@pulumi/pulumi";
import { Fleet, loadFleetConfig } from "./components";

// Config problems end the run here, with one message, before any resource exists.
const config = loadFleetConfig();
const appEnv = new pulumi.Config("fleet").getSecretObject<Record<string, string>>("appEnv");

const fleet = new Fleet("fleet", { config, appEnv });

/** Every server: role, private and public address, and the host key to pin in known_hosts. */
export const servers = fleet.serverSummary;
/** The VPN gateway's public address: the OpenVPN remote and the SSH jump host. */
export const gatewayAddress = fleet.gatewayAddress;
