import { createCipheriv, createHmac, hkdfSync } from "crypto";

/**
 * tls-crypt-v2: every engineer's profile carries a key of its own, wrapped with the server's key. The gateway unwraps
 * it from the first packet, and its verify hook (vpn-verify.sh) reads the engineer's name from the key's metadata:
 * a name off the allow-list is dropped there, before any TLS or X.509 parsing. The server key stays in the gateway's
 * /etc/openvpn/server (0600) and in the stack's secrets; a profile holds only its own wrapped key.
 *
 * Why derive the keys instead of generating them: @pulumi/tls has no resource that yields raw random bytes, and
 * `openvpn --genkey` on the gateway would put the keys outside Pulumi state, so profiles could not embed them.
 * HKDF-SHA256 over the CA private key (already a secret in state, already random) gives keys as secret as the CA,
 * stable across `pulumi up` (no profile churn), and new whenever the CA is replaced — which re-issues every profile
 * anyway. Distinct `info` strings separate the server key and each engineer's key from each other.
 *
 * The formats follow OpenVPN's src/openvpn/tls_crypt.c (tls_crypt_v2_wrap_client_key / _unwrap_client_key) and
 * tls_crypt.h: the server key is a `struct key` (64 cipher bytes, 64 HMAC bytes; AES-256-CTR and HMAC-SHA256 use
 * the first 32 of each); a client key is Kc (a `struct key2`, 256 bytes) followed by
 * WKc = T || AES-256-CTR(Ke, IV = T[0..16], Kc || metadata) || len, where T = HMAC-SHA256(Ka, len || Kc || metadata)
 * and len is WKc's own length, big-endian in 16 bits. Metadata type 0x00 (TLS_CRYPT_METADATA_TYPE_USER) is ours.
 */
const SALT = "openstack-fleet";
const SERVER_INFO = "openstack-fleet openvpn tls-crypt-v2 server v1";
const CLIENT_INFO = "openstack-fleet openvpn tls-crypt-v2 client v1 ";
const SERVER_KEY_BYTES = 128;
const CLIENT_KEY_BYTES = 256;
const METADATA_TYPE_USER = 0x00;
const TAG_BYTES = 32;
/** TLS_CRYPT_V2_MAX_METADATA_LEN in tls_crypt.h. */
const MAX_METADATA_BYTES = 733;

const SERVER_PEM = "OpenVPN tls-crypt-v2 server key";
const CLIENT_PEM = "OpenVPN tls-crypt-v2 client key";

function derive(seedSecret: string, info: string, bytes: number): Buffer {
  if (seedSecret.length === 0) throw new Error("tls-crypt-v2: the seed secret is empty");
  return Buffer.from(hkdfSync("sha256", seedSecret, SALT, info, bytes));
}

function pem(name: string, body: Buffer): string {
  const b64 = body.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return [`-----BEGIN ${name}-----`, ...lines, `-----END ${name}-----`, ""].join("\n");
}

function unpem(name: string, text: string): Buffer {
  const m = new RegExp(`-----BEGIN ${name}-----([\\s\\S]*?)-----END ${name}-----`).exec(text);
  if (!m) throw new Error(`not an ${name}`);
  return Buffer.from(m[1].replace(/\s+/g, ""), "base64");
}

/** The gateway's tls-crypt-v2 server key (PEM), as `openvpn --genkey tls-crypt-v2-server` writes one. */
export function tlsCryptV2ServerKeyFrom(seedSecret: string): string {
  return pem(SERVER_PEM, derive(seedSecret, SERVER_INFO, SERVER_KEY_BYTES));
}

/** One engineer's tls-crypt-v2 client key (PEM): their own Kc, wrapped under the server key with their name as metadata. */
export function tlsCryptV2ClientKeyFrom(seedSecret: string, engineer: string): string {
  const server = unpem(SERVER_PEM, tlsCryptV2ServerKeyFrom(seedSecret));
  const kc = derive(seedSecret, CLIENT_INFO + engineer, CLIENT_KEY_BYTES);
  const metadata = Buffer.concat([Buffer.from([METADATA_TYPE_USER]), Buffer.from(engineer, "utf8")]);
  if (metadata.length > MAX_METADATA_BYTES) throw new Error(`tls-crypt-v2: metadata of ${engineer} is too long`);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(TAG_BYTES + kc.length + metadata.length + 2);
  const tag = createHmac("sha256", server.subarray(64, 96)).update(len).update(kc).update(metadata).digest();
  const cipher = createCipheriv("aes-256-ctr", server.subarray(0, 32), tag.subarray(0, 16));
  const encrypted = Buffer.concat([cipher.update(kc), cipher.update(metadata), cipher.final()]);
  return pem(CLIENT_PEM, Buffer.concat([kc, tag, encrypted, len]));
}
