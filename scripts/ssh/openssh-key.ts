/**
 * OpenSSH key formats from node KeyObjects: the public wire blob (authorized_keys,
 * fingerprints) and the unencrypted "openssh-key-v1" private format, which is
 * what tls.PrivateKey's privateKeyOpenssh holds and what sshd's HostKey and
 * `ssh -i` accept for every key type.
 */
import { createHash, KeyObject, randomBytes } from "crypto";

const CURVES: Record<string, { ssh: string; bits: number }> = {
  "P-256": { ssh: "nistp256", bits: 256 },
  "P-384": { ssh: "nistp384", bits: 384 },
  "P-521": { ssh: "nistp521", bits: 521 },
};

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function str(data: Buffer | string): Buffer {
  const b = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  return Buffer.concat([u32(b.length), b]);
}

/** SSH mpint: big-endian, minimal, with a leading zero when the top bit is set. */
function mpint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  let v = b.subarray(i);
  if (v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return str(v);
}

const b64u = (s: string | undefined): Buffer => Buffer.from(s ?? "", "base64url");

interface Parts {
  type: string;
  pub: Buffer[];
  priv: Buffer[];
}

function parts(key: KeyObject): Parts {
  const jwk = key.export({ format: "jwk" });
  switch (jwk.kty) {
    case "OKP": {
      if (jwk.crv !== "Ed25519") throw new Error(`unsupported OKP curve ${jwk.crv}`);
      const pub = b64u(jwk.x);
      return { type: "ssh-ed25519", pub: [str(pub)], priv: [str(pub), str(Buffer.concat([b64u(jwk.d), pub]))] };
    }
    case "EC": {
      const curve = CURVES[jwk.crv ?? ""];
      if (!curve) throw new Error(`OpenSSH has no ECDSA curve ${jwk.crv}`);
      const len = Math.ceil(curve.bits / 8);
      const pad = (b: Buffer) => Buffer.concat([Buffer.alloc(len - b.length), b]);
      const q = Buffer.concat([Buffer.from([4]), pad(b64u(jwk.x)), pad(b64u(jwk.y))]);
      const type = `ecdsa-sha2-${curve.ssh}`;
      return { type, pub: [str(curve.ssh), str(q)], priv: [str(curve.ssh), str(q), mpint(b64u(jwk.d))] };
    }
    case "RSA": {
      const [n, e] = [b64u(jwk.n), b64u(jwk.e)];
      return {
        type: "ssh-rsa",
        pub: [mpint(e), mpint(n)],
        priv: [mpint(n), mpint(e), mpint(b64u(jwk.d)), mpint(b64u(jwk.qi)), mpint(b64u(jwk.p)), mpint(b64u(jwk.q))],
      };
    }
    default:
      throw new Error(`unsupported key type ${jwk.kty}`);
  }
}

export function publicBlob(key: KeyObject): Buffer {
  const p = parts(key);
  return Buffer.concat([str(p.type), ...p.pub]);
}

/** `ssh-ed25519 AAAA...` plus a newline, as the tls provider prints it. */
export function publicOpenssh(key: KeyObject): string {
  return `${parts(key).type} ${publicBlob(key).toString("base64")}\n`;
}

export function fingerprintSha256(key: KeyObject): string {
  return `SHA256:${createHash("sha256").update(publicBlob(key)).digest("base64").replace(/=+$/, "")}`;
}

export function fingerprintMd5(key: KeyObject): string {
  return createHash("md5").update(publicBlob(key)).digest("hex").match(/../g)!.join(":");
}

export function privateOpenssh(privateKey: KeyObject, comment = ""): string {
  const p = parts(privateKey);
  const check = randomBytes(4);
  let body = Buffer.concat([check, check, str(p.type), ...p.priv, str(comment)]);
  const padLen = (8 - (body.length % 8)) % 8;
  body = Buffer.concat([body, Buffer.from(Array.from({ length: padLen }, (_, i) => i + 1))]);
  const blob = Buffer.concat([Buffer.from("openssh-key-v1\0", "binary"), str("none"), str("none"), str(""), u32(1), str(publicBlob(privateKey)), str(body)]);
  const lines = blob
    .toString("base64")
    .match(/.{1,70}/g)!
    .join("\n");
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines}\n-----END OPENSSH PRIVATE KEY-----\n`;
}
