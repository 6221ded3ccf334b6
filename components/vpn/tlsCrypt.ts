import { hkdfSync } from "crypto";

/**
 * Why derive the tls-crypt key instead of generating it:
 * @pulumi/tls has no resource that yields raw random bytes, and `openvpn --genkey` on the
 * gateway would put the key outside Pulumi state, so client profiles could not embed it.
 * HKDF-SHA256 over the CA private key (already a secret in state, already random) gives a
 * key that is as secret as the CA, stable across `pulumi up` (no profile churn), and new
 * whenever the CA is replaced — which re-issues every profile anyway.
 * The fixed `info` string separates this use of the CA key from any other.
 */
const INFO = "openstack-fleet openvpn tls-crypt v1";
const SALT = "openstack-fleet";
/** OpenVPN static keys are 2048 bits: 2 directions x (cipher 64 B + HMAC 64 B). */
const KEY_BYTES = 256;

export function tlsCryptKeyFrom(seedSecret: string): string {
  if (seedSecret.length === 0) throw new Error("tlsCryptKeyFrom: the seed secret is empty");
  const key = Buffer.from(hkdfSync("sha256", seedSecret, SALT, INFO, KEY_BYTES));
  return formatStaticKeyV1(key);
}

/** The `openvpn --genkey secret` file format: 16 lines of 16 hex-encoded bytes. */
export function formatStaticKeyV1(key: Buffer): string {
  if (key.length !== KEY_BYTES) throw new Error(`an OpenVPN static key is ${KEY_BYTES} bytes, got ${key.length}`);
  const hex = key.toString("hex");
  const lines: string[] = [];
  for (let i = 0; i < hex.length; i += 32) lines.push(hex.slice(i, i + 32));
  return ["#", "# 2048 bit OpenVPN static key", "#", "-----BEGIN OpenVPN Static key V1-----", ...lines, "-----END OpenVPN Static key V1-----", ""].join("\n");
}
