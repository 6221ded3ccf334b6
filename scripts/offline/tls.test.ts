import { spawnSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { certRequest, locallySignedCert, privateKey, selfSignedCert } from "./tls";

/** OpenSSH's own tools are the judge of the OpenSSH formats we write. */
describe.each([
  ["ED25519", undefined, "ED25519"],
  ["ECDSA", "P256", "ECDSA"],
  ["ECDSA", "P384", "ECDSA"],
  ["ECDSA", "P521", "ECDSA"],
  ["RSA", undefined, "RSA"],
])("tls.PrivateKey %s %s", (algorithm, ecdsaCurve, sshType) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fl-tls-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const k = privateKey({ algorithm, ecdsaCurve, rsaBits: 2048 });

  it("writes a private key ssh-keygen reads, whose public half is publicKeyOpenssh", () => {
    const file = path.join(dir, "id");
    writeFileSync(file, k.privateKeyOpenssh, { mode: 0o600 });
    const r = spawnSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(k.publicKeyOpenssh.trim());
  });

  it("reports the fingerprints ssh-keygen computes", () => {
    const sha = spawnSync("ssh-keygen", ["-l", "-E", "sha256", "-f", "-"], { input: k.publicKeyOpenssh, encoding: "utf8" }).stdout;
    const md5 = spawnSync("ssh-keygen", ["-l", "-E", "md5", "-f", "-"], { input: k.publicKeyOpenssh, encoding: "utf8" }).stdout;
    expect(sha).toContain(k.publicKeyFingerprintSha256);
    expect(md5).toContain(`MD5:${k.publicKeyFingerprintMd5}`);
    expect(sha).toContain(`(${sshType})`);
  });
});

describe("tls certificates", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "fl-x509-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]) => spawnSync("openssl", args, { encoding: "utf8", cwd: dir });

  it("signs server and client certs that openssl verifies for exactly their purpose, with the CSR's SANs", async () => {
    const ca = privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
    const caCert = await selfSignedCert({
      privateKeyPem: ca.privateKeyPem,
      subject: { commonName: "fleet CA", organization: "acme" },
      isCaCertificate: true,
      allowedUses: ["cert_signing", "crl_signing"],
      validityPeriodHours: 24,
    });
    const issue = async (cn: string, use: string) => {
      const k = privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
      const csr = await certRequest({ privateKeyPem: k.privateKeyPem, subject: { commonName: cn }, dnsNames: [`${cn}.lab`], ipAddresses: ["203.0.113.10"] });
      return locallySignedCert({
        certRequestPem: csr.certRequestPem,
        caCertPem: caCert.certPem,
        caPrivateKeyPem: ca.privateKeyPem,
        allowedUses: ["digital_signature", use],
        validityPeriodHours: 2,
      });
    };
    writeFileSync(path.join(dir, "ca.pem"), String(caCert.certPem));
    writeFileSync(path.join(dir, "srv.pem"), String((await issue("vpn", "server_auth")).certPem));
    writeFileSync(path.join(dir, "cli.pem"), String((await issue("alice", "client_auth")).certPem));
    expect(openssl("verify", "-purpose", "sslserver", "-CAfile", "ca.pem", "srv.pem").status).toBe(0);
    expect(openssl("verify", "-purpose", "sslclient", "-CAfile", "ca.pem", "cli.pem").status).toBe(0);
    expect(openssl("verify", "-purpose", "sslserver", "-CAfile", "ca.pem", "cli.pem").status).not.toBe(0);
    const text = openssl("x509", "-in", "srv.pem", "-noout", "-text").stdout;
    expect(text).toContain("DNS:vpn.lab, IP Address:203.0.113.10");
    expect(text).toMatch(/Issuer: O = acme, CN = fleet CA|Issuer: CN = fleet CA, O = acme/);
    const end = openssl("x509", "-in", "srv.pem", "-noout", "-enddate").stdout;
    expect(new Date(end.split("=")[1]).getTime() - Date.now()).toBeLessThan(2 * 3600_000 + 60_000);
  });

  it("refuses a CA key that does not match the CA certificate", async () => {
    const ca = privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
    const other = privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
    const caCert = await selfSignedCert({
      privateKeyPem: ca.privateKeyPem,
      subject: { commonName: "ca" },
      isCaCertificate: true,
      allowedUses: ["cert_signing"],
      validityPeriodHours: 1,
    });
    const csr = await certRequest({ privateKeyPem: other.privateKeyPem, subject: { commonName: "x" } });
    await expect(
      locallySignedCert({
        certRequestPem: csr.certRequestPem,
        caCertPem: caCert.certPem,
        caPrivateKeyPem: other.privateKeyPem,
        allowedUses: ["client_auth"],
        validityPeriodHours: 1,
      }),
    ).rejects.toThrow(/does not match caCertPem/);
  });
});
