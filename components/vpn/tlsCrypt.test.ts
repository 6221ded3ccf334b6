/**
 * tls-crypt-v2 keys against the real OpenVPN: the unwrap below mirrors tls_crypt_v2_unwrap_client_key
 * (src/openvpn/tls_crypt.c) and is first checked on keys `openvpn --genkey` made, so it can then judge ours.
 * (The lab's VPN tests prove the gateway accepts our keys and drops an offboarded one.)
 */
import { createCipheriv, createHmac } from "crypto";
import { execFileSync } from "child_process";
import { requireTool } from "../../test/unit/support/tools";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as fc from "fast-check";
import * as os from "os";
import * as path from "path";
import { tlsCryptV2ClientKeyFrom, tlsCryptV2ServerKeyFrom } from "./tlsCrypt";

const body = (name: string, text: string) => {
  const m = new RegExp(`-----BEGIN ${name}-----\\n([A-Za-z0-9+/=\\n]+)-----END ${name}-----\\n$`).exec(text);
  if (!m) throw new Error(`not a ${name} PEM`);
  return Buffer.from(m[1].replace(/\n/g, ""), "base64");
};

/** [metadata type, metadata] of a client key, unwrapped with a server key; throws where OpenVPN would refuse it. */
function unwrap(serverPem: string, clientPem: string): [number, string] {
  const srv = body("OpenVPN tls-crypt-v2 server key", serverPem);
  const raw = body("OpenVPN tls-crypt-v2 client key", clientPem);
  const wkc = raw.subarray(256);
  const len = wkc.subarray(wkc.length - 2);
  if (len.readUInt16BE() !== wkc.length) throw new Error("invalid length");
  const tag = wkc.subarray(0, 32);
  const d = createCipheriv("aes-256-ctr", srv.subarray(0, 32), tag.subarray(0, 16));
  const plain = Buffer.concat([d.update(wkc.subarray(32, wkc.length - 2)), d.final()]);
  if (!createHmac("sha256", srv.subarray(64, 96)).update(len).update(plain).digest().equals(tag)) throw new Error("client key authentication error");
  if (!plain.subarray(0, 256).equals(raw.subarray(0, 256))) throw new Error("the wrapped Kc is not the profile's Kc");
  return [plain[256], plain.subarray(257).toString("utf8")];
}

beforeAll(() => requireTool("openvpn"));

describe("tls-crypt-v2 keys", () => {
  let dir = "";
  beforeAll(() => (dir = mkdtempSync(path.join(os.tmpdir(), "tlscv2-"))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the unwrap used here reads keys made by `openvpn --genkey` (so it is a fair judge of ours)", () => {
    const srv = path.join(dir, "server.key");
    const cli = path.join(dir, "client.key");
    execFileSync("openvpn", ["--genkey", "tls-crypt-v2-server", srv]);
    // openvpn puts the metadata type (0, user) in front of what it is given.
    execFileSync("openvpn", ["--tls-crypt-v2", srv, "--genkey", "tls-crypt-v2-client", cli, Buffer.from("carol").toString("base64")]);
    expect(unwrap(readFileSync(srv, "utf8"), readFileSync(cli, "utf8"))).toEqual([0, "carol"]);
    // Another server's key does not unwrap it.
    execFileSync("openvpn", ["--genkey", "tls-crypt-v2-server", `${srv}.other`]);
    expect(() => unwrap(readFileSync(`${srv}.other`, "utf8"), readFileSync(cli, "utf8"))).toThrow(/authentication/);
  });

  it("each engineer's key unwraps under the stack's server key to their name, as a user metadata entry", () => {
    const server = tlsCryptV2ServerKeyFrom("ca-private-key");
    for (const e of ["alice", "bob", "eve.smith-2"]) expect(unwrap(server, tlsCryptV2ClientKeyFrom("ca-private-key", e))).toEqual([0, e]);
    expect(() => unwrap(tlsCryptV2ServerKeyFrom("another CA"), tlsCryptV2ClientKeyFrom("ca-private-key", "alice"))).toThrow(/authentication/);
  });

  it("the server key has OpenVPN's size, and `openvpn` wraps client keys with it", () => {
    const server = tlsCryptV2ServerKeyFrom("ca-private-key");
    expect(body("OpenVPN tls-crypt-v2 server key", server)).toHaveLength(128);
    const srv = path.join(dir, "ours.key");
    writeFileSync(srv, server, { mode: 0o600 });
    const cli = path.join(dir, "ours-client.key");
    execFileSync("openvpn", ["--tls-crypt-v2", srv, "--genkey", "tls-crypt-v2-client", cli, Buffer.from("dave").toString("base64")]);
    expect(unwrap(server, readFileSync(cli, "utf8"))).toEqual([0, "dave"]);
  });

  it("is stable per seed and engineer, differs between engineers and seeds, and never contains the seed", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.constantFrom("alice", "bob"), (seed, e) => {
        const k = tlsCryptV2ClientKeyFrom(seed, e);
        expect(k).toBe(tlsCryptV2ClientKeyFrom(seed, e));
        expect(k).not.toBe(tlsCryptV2ClientKeyFrom(seed, e === "alice" ? "bob" : "alice"));
        expect(k).not.toBe(tlsCryptV2ClientKeyFrom(`${seed}x`, e));
      }),
      { numRuns: 50 },
    );
    expect(tlsCryptV2ServerKeyFrom("deadbeefdeadbeefdeadbeef")).not.toContain("deadbeef");
    expect(() => tlsCryptV2ServerKeyFrom("")).toThrow(/empty/);
  });
});
