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
/** Secret: one inline OpenVPN profile per engineer (`npm run vpn:profile -- NAME` writes one to a 0600 file). */
export const vpnProfiles = fleet.vpnProfiles;
/** SHA-256 of each engineer's client certificate: what the gateway admits. */
export const vpnFingerprints = fleet.vpn.fingerprints;
/** The engineers the gateway's running OpenVPN admits, as the gateway reported after `up` checked it. */
export const vpnAdmitted = fleet.vpn.admitted;
/** The release each deploy-role server runs. */
export const revisions = fleet.revisions;
/** Who may reach what: role × role × port, computed from the policy (`npm run matrix` prints it). */
export const matrix = fleet.matrix;
/** The hash of the ruleset each host runs; a change means its rules were re-applied. */
export const firewallHashes = fleet.firewallHashes;
