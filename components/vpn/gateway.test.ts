/**
 * VpnPki / VpnGateway under the Pulumi mock runtime. The mocks return private keys as
 * PLAIN values (the mock monitor does not apply the provider's additionalSecretOutputs),
 * so every secret asserted here is secret because our components made it so.
 */
import { hostReports } from "../../test/unit/support/host-reports";
import { isSecret, secretValue } from "../pulumi/secrets";
import * as pulumi from "@pulumi/pulumi";
import { generateKeyPairSync, webcrypto, X509Certificate } from "crypto";
import * as x509 from "@peculiar/x509";
import { decodeBundle, remoteScript } from "../remote/bundle";
import { ServerHandle } from "../server/handle";
import { admittedEngineers, VpnGateway } from "./gateway";
import { VpnPki } from "./pki";
import { VpnConfigError } from "./render";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type Registered = { type: string; name: string; inputs: Record<string, unknown> };
const registered: Registered[] = [];

async function fakeCert(cn: string): Promise<string> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${cn}`,
    notBefore: new Date(),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"],
    signingAlgorithm: alg,
  });
  return cert.toString("pem");
}

// Before any resource is constructed (the describe bodies below build components).
void pulumi.runtime.setMocks(
  {
    newResource: async (args) => {
      registered.push({ type: args.type, name: args.name, inputs: args.inputs });
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "tls:index/privateKey:PrivateKey") {
        state.privateKeyPem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "sec1" }).toString();
      }
      if (args.type === "tls:index/certRequest:CertRequest") {
        state.certRequestPem = `csr for ${(args.inputs.subject as { commonName: string }).commonName}`;
      }
      if (args.type === "tls:index/locallySignedCert:LocallySignedCert") {
        state.certPem = await fakeCert(String(args.inputs.certRequestPem).replace("csr for ", ""));
      }
      if (args.type === "tls:index/selfSignedCert:SelfSignedCert") state.certPem = await fakeCert("ca");
      // What a gateway that admits only alice reports, whatever the bundle asked for: `admitted` must say that.
      if (args.type === "command:remote:Command") state.stdout = hostReports.vpnAdmits(["alice"]);
      return { id: `${args.name}-id`, state };
    },
    call: (args) => args.inputs,
  },
  "fleet",
  "test",
);

const value = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));

class Ready extends pulumi.ComponentResource {
  constructor(name: string) {
    super("test:index:Ready", name, {});
    this.registerOutputs({});
  }
}

function gatewayHandle(name: string, publicIp: string | undefined): ServerHandle {
  return {
    name,
    machineId: pulumi.output(`${name}-machine`),
    role: "gateway",
    privateIp: pulumi.output("10.0.0.10"),
    publicIp: pulumi.output(publicIp),
    connection: pulumi.secret({ host: publicIp ?? "10.0.0.10", user: "root" }),
    ready: new Ready(`${name}-ready`),
  };
}

const vpn = { subnet: "10.8.0.0/24", port: 1194, proto: "udp" as const };

function stdinOf(commandName: string): string {
  const cmd = registered.find((r) => r.type === "command:remote:Command" && r.name === commandName);
  if (!cmd) throw new Error(`no command ${commandName} registered`);
  const stdin = cmd.inputs.stdin;
  if (!isSecret(stdin)) throw new Error("the configure bundle was not sent as a secret");
  return String(secretValue(stdin));
}

describe("VpnPki", () => {
  const pki = new VpnPki("pkitest", { engineers: ["bob", "alice"] });
  // Resources register asynchronously: wait for every certificate before reading `registered`.
  beforeAll(() => Promise.all([value(pki.caCertPem), value(pki.serverCertPem), value(pki.engineers.alice.certPem), value(pki.engineers.bob.certPem)]));

  it("marks every private key and the tls-crypt-v2 keys secret", async () => {
    expect(await pulumi.isSecret(pki.serverKeyPem)).toBe(true);
    expect(await pulumi.isSecret(pki.tlsCryptV2ServerKey)).toBe(true);
    for (const e of ["alice", "bob"]) expect(await pulumi.isSecret(pki.engineers[e].keyPem)).toBe(true);
    for (const e of ["alice", "bob"]) expect(await pulumi.isSecret(pki.engineers[e].tlsCryptV2Key)).toBe(true);
    expect(await pulumi.isSecret(pki.caCertPem)).toBe(false);
  });

  it("issues one client certificate per engineer with CN = name and clientAuth", async () => {
    const certs = registered.filter((r) => r.type === "tls:index/locallySignedCert:LocallySignedCert" && r.name.startsWith("pkitest-client-"));
    expect(certs.map((c) => c.name).sort()).toEqual(["pkitest-client-alice", "pkitest-client-bob"]);
    for (const c of certs) expect(c.inputs.allowedUses).toEqual(expect.arrayContaining(["client_auth"]));
    expect(new X509Certificate(await value(pki.engineers.alice.certPem)).subject).toBe("CN=alice");
  });

  it("makes an ECDSA P-256 CA with signing uses and a serverAuth server certificate", () => {
    const ca = registered.find((r) => r.type === "tls:index/selfSignedCert:SelfSignedCert" && r.name === "pkitest-ca")!;
    expect(ca.inputs).toMatchObject({ isCaCertificate: true, setSubjectKeyId: true, earlyRenewalHours: 24 * 365 });
    expect(ca.inputs.allowedUses).toEqual(expect.arrayContaining(["cert_signing", "crl_signing", "digital_signature"]));
    const keys = registered.filter((r) => r.type === "tls:index/privateKey:PrivateKey" && r.name.startsWith("pkitest"));
    for (const k of keys) expect(k.inputs).toMatchObject({ algorithm: "ECDSA", ecdsaCurve: "P256" });
    const server = registered.find((r) => r.name === "pkitest-server" && r.type.includes("LocallySignedCert"))!;
    expect(server.inputs.allowedUses).toEqual(expect.arrayContaining(["server_auth", "digital_signature", "key_agreement"]));
    expect(server.inputs).toMatchObject({ validityPeriodHours: 24 * 365, earlyRenewalHours: 24 * 30 });
  });

  it("fingerprints each engineer's own certificate", async () => {
    for (const e of ["alice", "bob"]) {
      const pem = await value(pki.engineers[e].certPem);
      expect(await value(pki.engineers[e].fingerprint)).toBe(new X509Certificate(pem).fingerprint256);
    }
    expect(await value(pki.engineers.alice.fingerprint)).not.toBe(await value(pki.engineers.bob.fingerprint));
  });

  it.each([
    [{ engineers: ["alice", "alice"] }, /alice is listed twice/],
    [{ engineers: ["bad name"] }, /engineer name "bad name"/],
    [{ engineers: ["alice"], earlyRenewalHours: 9000 }, /earlyRenewalHours 9000 must be below certValidityHours 8760/],
  ])("rejects %j", (args, message) => {
    expect(() => new VpnPki(`bad-${registered.length}`, args)).toThrow(VpnConfigError);
    expect(() => new VpnPki(`bad2-${registered.length}`, args)).toThrow(message);
  });
});

describe("VpnGateway", () => {
  const gw = new VpnGateway("vpn", {
    gateway: gatewayHandle("gw1", "203.0.113.9"),
    engineers: ["alice", "bob"],
    vpn,
    privateCidr: "10.0.0.0/24",
  });
  beforeAll(() => value(gw.configure.urn));

  it("exposes the profiles as a secret output, one per engineer, pointing at the public address", async () => {
    expect(await pulumi.isSecret(gw.profiles)).toBe(true);
    const profiles = await value(gw.profiles);
    expect(Object.keys(profiles).sort()).toEqual(["alice", "bob"]);
    expect(profiles.alice).toMatch(/^remote 203\.0\.113\.9 1194$/m);
  });

  it("puts each engineer's own certificate and key in their profile and no server key anywhere", async () => {
    const profiles = await value(gw.profiles);
    const serverKey = await value(gw.pki.serverKeyPem);
    for (const e of ["alice", "bob"]) {
      const other = e === "alice" ? "bob" : "alice";
      expect(profiles[e]).toContain((await value(gw.pki.engineers[e].keyPem)).trim());
      expect(profiles[e]).toContain((await value(gw.pki.engineers[e].certPem)).trim());
      expect(profiles[e]).not.toContain((await value(gw.pki.engineers[other].keyPem)).trim());
      expect(profiles[e]).not.toContain(serverKey.trim());
    }
  });

  it("sends keys only inside the secret stdin bundle, never in the command string", async () => {
    await value(gw.profiles);
    await value(gw.pki.serverKeyPem);
    const cmd = registered.find((r) => r.type === "command:remote:Command" && r.name === "vpn-configure")!;
    const files = decodeBundle(stdinOf("vpn-configure"));
    expect(files["server.key"]).toBe(await value(gw.pki.serverKeyPem));
    expect(files["tls-crypt-v2-server.key"]).toBe(await value(gw.pki.tlsCryptV2ServerKey));
    expect(String(cmd.inputs.create)).not.toMatch(/PRIVATE KEY|tls-crypt-v2/);
    expect(cmd.inputs.logging).toBe("stderr");
  });

  it("admits exactly the listed engineers by fingerprint and ccd file", async () => {
    const fps = await value(gw.fingerprints);
    const files = decodeBundle(stdinOf("vpn-configure"));
    expect(files["allow-list"]).toBe(`alice ${fps.alice.toLowerCase()}\nbob ${fps.bob.toLowerCase()}\n`);
    expect(
      Object.keys(files)
        .filter((f) => f.startsWith("ccd."))
        .sort(),
    ).toEqual(["ccd.alice", "ccd.bob"]);
    expect(files["main.sh"]).toBe(remoteScript("vpn-configure"));
    expect(files["vpn-verify.sh"]).toContain("tls_digest_sha256_0");
  });

  it("takes the admitted engineers from the gateway's report, not from the config, as a plain output", async () => {
    expect(await value(gw.admitted)).toEqual(["alice"]);
    expect(await pulumi.isSecret(gw.admitted)).toBe(false);
  });

  it("drops a removed engineer from the next bundle and profiles", async () => {
    const smaller = new VpnGateway("vpn2", { gateway: gatewayHandle("gw2", "203.0.113.10"), engineers: ["alice"], vpn, privateCidr: "10.0.0.0/24" });
    expect(Object.keys(await value(smaller.profiles))).toEqual(["alice"]);
    await value(smaller.configure.urn);
    const files = decodeBundle(stdinOf("vpn2-configure"));
    expect(files["allow-list"]).not.toMatch(/^bob /m);
    expect(files["ccd.bob"]).toBeUndefined();
  });
});

describe("VpnGateway args as Outputs", () => {
  it("renders the same server config and profiles from Outputs as from plain values", async () => {
    const plain = new VpnGateway("vpnplain", {
      gateway: gatewayHandle("gwp", "203.0.113.11"),
      engineers: ["alice"],
      vpn,
      privateCidr: "10.0.0.0/24",
      dns: ["10.0.0.2"],
    });
    const outs = new VpnGateway("vpnouts", {
      gateway: gatewayHandle("gwo", "203.0.113.11"),
      engineers: ["alice"],
      vpn: pulumi.output(vpn),
      privateCidr: pulumi.output("10.0.0.0/24"),
      dns: pulumi.output(["10.0.0.2"]),
    });
    await Promise.all([value(plain.configure.urn), value(outs.configure.urn)]);
    const conf = (name: string) => decodeBundle(stdinOf(name))["server.conf"];
    expect(conf("vpnouts-configure")).toBe(conf("vpnplain-configure"));
    expect(conf("vpnouts-configure")).toMatch(/^push "route 10\.0\.0\.0 255\.255\.255\.0"$/m);
    const profile = async (g: VpnGateway) => (await value(g.profiles)).alice.split("<ca>")[0];
    expect(await profile(outs)).toBe(await profile(plain));
  });
});

describe("admittedEngineers", () => {
  it.each([
    ["fleet: openvpn (re)started with the new configuration\nvpn allow-list 0123456789abcdef live in openvpn pid 812, admits: alice,bob\n", ["alice", "bob"]],
    ["vpn allow-list 0123456789abcdef live in openvpn pid 9, admits: carol", ["carol"]],
    ["vpn allow-list 0123456789abcdef live in openvpn pid 9, admits: ", []],
  ])("reads %j", (stdout, names) => expect(admittedEngineers("gw-1", stdout)).toEqual(names));

  it.each([[""], ["vpn allow-list xyz live, admits: alice"], ["fleet: disconnected removed engineer bob"]])("refuses %j, naming the gateway", (stdout) =>
    expect(() => admittedEngineers("gw-1", stdout)).toThrow(/vpn configure on gw-1 did not report a live allow-list/),
  );
});
