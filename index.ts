import * as pulumi from "@pulumi/pulumi";
import { Fleet, loadFleetConfig } from "./components";
import { checkVolumes, previousVolumes } from "./components/fleet/volumes";

// Config problems end the run here, with one message, before any resource exists.
const config = loadFleetConfig();
const appEnv = new pulumi.Config("fleet").getSecretObject<Record<string, string>>("appEnv");

export = (async () => {
  // An edit that would lose a stateful server's data is refused here too, before any resource is registered.
  const volumes = checkVolumes(await previousVolumes(), config);
  for (const w of volumes.warnings) pulumi.log.warn(w);
  if (volumes.problems.length > 0) throw new pulumi.RunError(`the config would lose data:\n  - ${volumes.problems.join("\n  - ")}`);

  const fleet = new Fleet("fleet", { config, appEnv, retainedVolumes: volumes.retained });
  return {
    /** Every server: role, private and public address, and the host key to pin in known_hosts. */
    servers: fleet.serverSummary,
    /** The VPN gateway's public address: the OpenVPN remote and the SSH jump host. */
    gatewayAddress: fleet.gatewayAddress,
    /** Secret: one inline OpenVPN profile per engineer (`npm run vpn:profile -- NAME` writes one to a 0600 file). */
    vpnProfiles: fleet.vpnProfiles,
    /** SHA-256 of each engineer's client certificate: what the gateway admits. */
    vpnFingerprints: fleet.vpn.fingerprints,
    /** The engineers the gateway's running OpenVPN admits, as the gateway reported after `up` checked it. */
    vpnAdmitted: fleet.vpn.admitted,
    /** The release each deploy-role server runs. */
    revisions: fleet.revisions,
    /** Who may reach what: role × role × port, computed from the policy (`npm run matrix` prints it). */
    matrix: fleet.matrix,
    /** The hash of the ruleset each host runs; a change means its rules were re-applied. */
    firewallHashes: fleet.firewallHashes,
    /** Each stateful server's data volume; the next run reads it back to refuse an edit that would lose data. */
    volumes: fleet.volumes,
  };
})();
