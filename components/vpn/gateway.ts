import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { remoteScript } from "../remote/bundle";
import { scriptCommand } from "../remote/script";
import { ServerHandle } from "../server/handle";
import { VpnSettings } from "../model";
import { PkiOptions, VpnPki } from "./pki";
import { DataCipher, renderClientProfile, renderGatewayBundle, VpnConfigError, VpnTuning } from "./render";

export interface VpnGatewayArgs {
  /** The server of role "gateway"; it has a public address and openvpn + socat installed. */
  gateway: ServerHandle;
  /**
   * Engineers allowed in, by name (= certificate CN). Plain data, not an Input: each one
   * owns a key and a certificate resource, so the list must be known when the program runs.
   * (So are `serverName` and `pki`, which the certificates' resources are made from.)
   */
  engineers: readonly string[];
  vpn: pulumi.Input<VpnSettings>;
  /** The private network; the only route pushed to clients. */
  privateCidr: pulumi.Input<string>;
  /** Resolvers pushed to clients (optional). */
  dns?: pulumi.Input<string[]>;
  /** CN of the server certificate (default "fleet-vpn"). */
  serverName?: string;
  pki?: Omit<PkiOptions, "serverName">;
  ciphers?: pulumi.Input<DataCipher[]>;
  tuning?: pulumi.Input<VpnTuning>;
}

/**
 * The engineers vpn-configure.sh vouches for on its last line:
 * `vpn allow-list <digest> live in openvpn pid <pid>, admits: alice,bob`.
 */
export function admittedEngineers(gateway: string, stdout: string): string[] {
  const m = /^vpn allow-list [0-9a-f]{16} live in openvpn pid \d+, admits: (.*)$/m.exec(stdout);
  if (!m) throw new VpnConfigError(`vpn configure on ${gateway} did not report a live allow-list; it printed: ${JSON.stringify(stdout.slice(0, 200))}`);
  return m[1] === "" ? [] : m[1].split(",");
}

/**
 * The OpenVPN gateway: PKI, server config and admission lists installed by
 * components/vpn/vpn-configure.sh, and one inline profile per engineer (secret).
 * Removing an engineer re-runs the script, which drops their live session.
 */
export class VpnGateway extends pulumi.ComponentResource {
  readonly pki: VpnPki;
  /** Secret: engineer -> inline .ovpn profile. */
  readonly profiles: pulumi.Output<Record<string, string>>;
  readonly caCertPem: pulumi.Output<string>;
  /** engineer -> SHA-256 of their certificate (not secret; useful for audits). */
  readonly fingerprints: pulumi.Output<Record<string, string>>;
  /** The remote command that configures the gateway; dependsOn it to need a working VPN. */
  readonly configure: command.remote.Command;
  /**
   * Engineers the gateway's running OpenVPN admits, as vpn-configure.sh reported after checking the daemon and its
   * allow-list (so it never claims an admission the host does not enforce).
   */
  readonly admitted: pulumi.Output<string[]>;

  constructor(name: string, args: VpnGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fleet:vpn:VpnGateway", name, {}, opts);
    this.pki = new VpnPki(name, { engineers: args.engineers, ...args.pki, serverName: args.serverName }, { parent: this });
    const pki = this.pki;
    const settings = pulumi.output({ vpn: args.vpn, privateCidr: args.privateCidr, dns: args.dns, ciphers: args.ciphers, tuning: args.tuning });

    const engineerNames = Object.keys(pki.engineers);
    const creds = pulumi.all(
      Object.fromEntries(
        engineerNames.map((e) => [
          e,
          pulumi.all({
            certPem: pki.engineers[e].certPem,
            keyPem: pki.engineers[e].keyPem,
            fingerprint: pki.engineers[e].fingerprint,
            tlsCryptV2Key: pki.engineers[e].tlsCryptV2Key,
          }),
        ]),
      ),
    );
    this.fingerprints = pulumi.all(Object.fromEntries(engineerNames.map((e) => [e, pki.engineers[e].fingerprint])));

    const files = pulumi
      .all([settings, pki.caCertPem, pki.serverCertPem, pki.serverKeyPem, pki.tlsCryptV2ServerKey, this.fingerprints])
      .apply(([s, ca, cert, key, tlsCryptV2ServerKey, fps]) => ({
        ...renderGatewayBundle({
          server: {
            proto: s.vpn.proto,
            port: s.vpn.port,
            subnet: s.vpn.subnet,
            privateCidrs: [s.privateCidr],
            dns: s.dns,
            ciphers: s.ciphers,
            tuning: s.tuning,
          },
          caCertPem: ca,
          serverCertPem: cert,
          serverKeyPem: key,
          tlsCryptV2ServerKey,
          engineers: Object.entries(fps).map(([cn, fingerprint]) => ({ cn, fingerprint })),
        }),
        "vpn-verify.sh": remoteScript("vpn-verify"),
      }));

    this.configure = scriptCommand(
      `${name}-configure`,
      { connection: args.gateway.connection, script: "vpn-configure", files: pulumi.secret(files), secret: true, machine: args.gateway.machineId },
      { parent: this, dependsOn: [args.gateway.ready] },
    );

    const gatewayName = args.gateway.name;
    // The configure step's stdout is secret with its bundle; the line it is read from carries names only.
    this.admitted = pulumi.unsecret(this.configure.stdout.apply((out) => admittedEngineers(gatewayName, out)));
    this.profiles = pulumi.secret(
      pulumi.all([settings, args.gateway.publicIp, pki.caCertPem, creds]).apply(([s, host, ca, all]) => {
        if (!host) throw new VpnConfigError(`vpn gateway ${gatewayName} has no public address; engineers could not reach it`);
        const out: Record<string, string> = {};
        for (const [engineer, c] of Object.entries(all)) {
          out[engineer] = renderClientProfile({
            engineer,
            remoteHost: host,
            port: s.vpn.port,
            proto: s.vpn.proto,
            serverName: pki.serverName,
            caCertPem: ca,
            certPem: c.certPem,
            keyPem: c.keyPem,
            tlsCryptV2Key: c.tlsCryptV2Key,
            ciphers: s.ciphers,
            tuning: s.tuning,
          });
        }
        return out;
      }),
    );
    this.caCertPem = pki.caCertPem;

    this.registerOutputs({ profiles: this.profiles, caCertPem: this.caCertPem, fingerprints: this.fingerprints, admitted: this.admitted });
  }
}
