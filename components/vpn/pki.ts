import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { X509Certificate } from "crypto";
import { checkEngineerName, tlsCryptV2ClientKeyFrom, tlsCryptV2ServerKeyFrom, VpnConfigError } from "./render";

/**
 * Certificate lifetimes. Renewal: @pulumi/tls sets `readyForRenewal` once
 * now > notAfter - earlyRenewalHours, and the next `pulumi up` replaces that certificate.
 * For an engineer that means a new key pair, a new fingerprint in the allow-list and a new
 * profile to hand over (`npm run vpn:profile`); the old profile stops working at that up.
 * A new server certificate only restarts the gateway's daemon (clients pin its CN, not its key).
 * Replacing the CA (its own renewal window) re-issues everything, tls-crypt key included.
 */
export interface PkiOptions {
  /** Client (engineer) and server certificates. Default 1 year. */
  certValidityHours?: number;
  /** Default 30 days: engineers get a new profile a month before theirs expires. */
  earlyRenewalHours?: number;
  /** Default 10 years. */
  caValidityHours?: number;
  /** Default 1 year. */
  caEarlyRenewalHours?: number;
  /** CN of the server certificate, pinned by clients with verify-x509-name. */
  serverName?: string;
}

export const PKI_DEFAULTS = {
  certValidityHours: 24 * 365,
  earlyRenewalHours: 24 * 30,
  caValidityHours: 24 * 365 * 10,
  caEarlyRenewalHours: 24 * 365,
  serverName: "fleet-vpn",
};

export interface VpnPkiArgs extends PkiOptions {
  /** Plain data on purpose: one key and certificate per engineer must be known when the program runs. */
  engineers: readonly string[];
}

export interface EngineerCredentials {
  certPem: pulumi.Output<string>;
  /** Secret. */
  keyPem: pulumi.Output<string>;
  /** SHA-256 of the certificate, `AB:CD:…`; what the gateway pins. */
  fingerprint: pulumi.Output<string>;
  /** Secret. The engineer's own tls-crypt-v2 key, wrapped under the server key with their name (tlsCrypt.ts). */
  tlsCryptV2Key: pulumi.Output<string>;
}

/** SHA-256 of a PEM certificate in node's `AB:CD:…` form, which OpenVPN parses as-is. */
export function certFingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

function hours(key: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new VpnConfigError(`vpn pki ${key} ${v} must be a whole number of hours`);
  return v;
}

/** The VPN's own CA, the server certificate and one client certificate per engineer. */
export class VpnPki extends pulumi.ComponentResource {
  readonly caCertPem: pulumi.Output<string>;
  readonly serverName: string;
  readonly serverCertPem: pulumi.Output<string>;
  /** Secret. */
  readonly serverKeyPem: pulumi.Output<string>;
  /** Secret. The gateway's tls-crypt-v2 server key, derived from the CA key; see tlsCrypt.ts for why. */
  readonly tlsCryptV2ServerKey: pulumi.Output<string>;
  readonly engineers: Record<string, EngineerCredentials>;

  constructor(name: string, args: VpnPkiArgs, opts?: pulumi.ComponentResourceOptions) {
    // Its token was fleet:vpn:Pki until it matched the class. The alias keeps existing stacks' CA and keys: under the
    // real engine a stack made before previews the rename as "same" for the component and every child, where
    // without it the CA, keys and certificates would be deleted and made anew.
    super("fleet:vpn:VpnPki", name, {}, { ...opts, aliases: [...(opts?.aliases ?? []), { type: "fleet:vpn:Pki" }] });
    const o = { ...PKI_DEFAULTS, ...dropUndefined(args) };
    const certHours = hours("certValidityHours", o.certValidityHours);
    const early = hours("earlyRenewalHours", o.earlyRenewalHours);
    if (early >= certHours) throw new VpnConfigError(`vpn pki earlyRenewalHours ${early} must be below certValidityHours ${certHours}`);
    checkEngineerName(o.serverName);
    const seen = new Set<string>();
    for (const e of args.engineers) {
      checkEngineerName(e);
      if (seen.has(e)) throw new VpnConfigError(`vpn engineer ${e} is listed twice`);
      seen.add(e);
    }
    const parent = { parent: this };

    const caKey = new tls.PrivateKey(`${name}-ca`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, parent);
    const ca = new tls.SelfSignedCert(
      `${name}-ca`,
      {
        privateKeyPem: caKey.privateKeyPem,
        isCaCertificate: true,
        allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
        subject: { commonName: `${o.serverName} CA` },
        validityPeriodHours: hours("caValidityHours", o.caValidityHours),
        earlyRenewalHours: hours("caEarlyRenewalHours", o.caEarlyRenewalHours),
        setSubjectKeyId: true,
      },
      parent,
    );
    this.caCertPem = ca.certPem;
    this.serverName = o.serverName;

    const issue = (id: string, commonName: string, allowedUses: string[]) => {
      const key = new tls.PrivateKey(id, { algorithm: "ECDSA", ecdsaCurve: "P256" }, parent);
      const csr = new tls.CertRequest(id, { privateKeyPem: key.privateKeyPem, subject: { commonName } }, parent);
      const cert = new tls.LocallySignedCert(
        id,
        {
          certRequestPem: csr.certRequestPem,
          caCertPem: ca.certPem,
          caPrivateKeyPem: caKey.privateKeyPem,
          allowedUses,
          validityPeriodHours: certHours,
          earlyRenewalHours: early,
          setSubjectKeyId: true,
        },
        parent,
      );
      // The provider marks private keys secret; say so here too so no code path depends on it.
      return { certPem: cert.certPem, keyPem: pulumi.secret(key.privateKeyPem) };
    };

    const server = issue(`${name}-server`, o.serverName, ["server_auth", "digital_signature", "key_agreement"]);
    this.serverCertPem = server.certPem;
    this.serverKeyPem = server.keyPem;
    this.tlsCryptV2ServerKey = pulumi.secret(caKey.privateKeyPem.apply(tlsCryptV2ServerKeyFrom));

    this.engineers = {};
    for (const e of [...args.engineers].sort()) {
      const c = issue(`${name}-client-${e}`, e, ["client_auth", "digital_signature"]);
      this.engineers[e] = {
        ...c,
        fingerprint: c.certPem.apply(certFingerprint),
        tlsCryptV2Key: pulumi.secret(caKey.privateKeyPem.apply((seed) => tlsCryptV2ClientKeyFrom(seed, e))),
      };
    }

    this.registerOutputs({
      caCertPem: this.caCertPem,
      serverCertPem: this.serverCertPem,
      fingerprints: pulumi.all(Object.fromEntries(Object.entries(this.engineers).map(([e, c]) => [e, c.fingerprint]))),
    });
  }
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
