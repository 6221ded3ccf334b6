/**
 * The tls provider's outputs for the offline run (./run.ts, `npm run plan`) and the unit tests' mocks: real keys from
 * node's crypto and X.509 from @peculiar/x509, with the outputs the provider has, because the program parses them
 * (the VPN's PKI). Under `pulumi up` the real tls provider makes them.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomBytes, webcrypto } from "crypto";
import * as x509 from "@peculiar/x509";
import { fingerprintMd5, fingerprintSha256, privateOpenssh, publicOpenssh } from "../ssh/openssh-key";

x509.cryptoProvider.set(webcrypto as never);

export class TlsEmulationError extends Error {}

type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const NODE_CURVES: Record<string, string> = { P224: "P-224", P256: "P-256", P384: "P-384", P521: "P-521" };
const WEB_CURVES: Record<string, string> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521", secp224r1: "P-224" };

export function privateKey(inputs: Inputs): Record<string, string> {
  const algorithm = String(inputs.algorithm ?? "");
  let key: KeyObject;
  if (algorithm === "ED25519") key = generateKeyPairSync("ed25519").privateKey;
  else if (algorithm === "ECDSA") {
    const curve = NODE_CURVES[String(inputs.ecdsaCurve ?? "P224")];
    if (!curve) throw new TlsEmulationError(`tls.PrivateKey: unknown ecdsaCurve ${inputs.ecdsaCurve}`);
    key = generateKeyPairSync("ec", { namedCurve: curve }).privateKey;
  } else if (algorithm === "RSA") key = generateKeyPairSync("rsa", { modulusLength: Number(inputs.rsaBits ?? 2048) }).privateKey;
  else throw new TlsEmulationError(`tls.PrivateKey: unknown algorithm ${JSON.stringify(inputs.algorithm)} (RSA, ECDSA or ED25519)`);
  const pub = createPublicKey(key);
  const pkcs8 = key.export({ format: "pem", type: "pkcs8" }).toString();
  // The provider's privateKeyPem is PKCS#1 for RSA, SEC1 for ECDSA and PKCS#8 for ED25519.
  const pem =
    algorithm === "RSA"
      ? key.export({ format: "pem", type: "pkcs1" }).toString()
      : algorithm === "ECDSA"
        ? key.export({ format: "pem", type: "sec1" }).toString()
        : pkcs8;
  const sshCapable = !(algorithm === "ECDSA" && inputs.ecdsaCurve === "P224");
  return {
    privateKeyPem: pem,
    privateKeyPemPkcs8: pkcs8,
    privateKeyOpenssh: sshCapable ? privateOpenssh(key) : "",
    publicKeyPem: pub.export({ format: "pem", type: "spki" }).toString(),
    publicKeyOpenssh: sshCapable ? publicOpenssh(pub) : "",
    publicKeyFingerprintSha256: sshCapable ? fingerprintSha256(pub) : "",
    publicKeyFingerprintMd5: sshCapable ? fingerprintMd5(pub) : "",
  };
}

interface WebKeys {
  privateKey: webcrypto.CryptoKey;
  publicKey: webcrypto.CryptoKey;
  signing: webcrypto.Algorithm | webcrypto.EcdsaParams;
  algorithmName: string;
}

/** A PEM private key as webcrypto keys plus the signature algorithm the tls provider would use. */
async function webKeys(pem: string): Promise<WebKeys> {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new TlsEmulationError(`not a usable private key PEM: ${(e as Error).message}`);
  }
  const der = key.export({ format: "der", type: "pkcs8" });
  const spki = createPublicKey(key).export({ format: "der", type: "spki" });
  let alg: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm;
  let signing: webcrypto.Algorithm | webcrypto.EcdsaParams;
  let algorithmName: string;
  switch (key.asymmetricKeyType) {
    case "rsa":
      alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
      signing = alg;
      algorithmName = "RSA";
      break;
    case "ec": {
      const namedCurve = WEB_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ""];
      if (!namedCurve) throw new TlsEmulationError(`unsupported EC curve ${key.asymmetricKeyDetails?.namedCurve}`);
      alg = { name: "ECDSA", namedCurve };
      signing = { name: "ECDSA", hash: namedCurve === "P-384" ? "SHA-384" : namedCurve === "P-521" ? "SHA-512" : "SHA-256" } as webcrypto.EcdsaParams;
      algorithmName = "ECDSA";
      break;
    }
    case "ed25519":
      alg = { name: "Ed25519" };
      signing = alg;
      algorithmName = "ED25519";
      break;
    default:
      throw new TlsEmulationError(`unsupported key type ${key.asymmetricKeyType}`);
  }
  const subtle = webcrypto.subtle;
  const privateKey = await subtle.importKey("pkcs8", der, alg, true, ["sign"]);
  const publicKey = await subtle.importKey("spki", spki, alg, true, ["verify"]);
  return { privateKey, publicKey, signing, algorithmName };
}

const SUBJECT_OIDS: [string, string][] = [
  ["commonName", "CN"],
  ["organization", "O"],
  ["organizationalUnit", "OU"],
  ["country", "C"],
  ["province", "ST"],
  ["locality", "L"],
  ["streetAddresses", "street"],
  ["postalCode", "postalCode"],
  ["serialNumber", "serialNumber"],
];

function subjectName(subject: Inputs | undefined): x509.Name {
  const json: x509.JsonName = [];
  for (const [field, short] of SUBJECT_OIDS) {
    const v = subject?.[field];
    if (v === undefined || v === null || v === "") continue;
    for (const one of Array.isArray(v) ? v : [v]) json.push({ [short]: [String(one)] });
  }
  return new x509.Name(json);
}

// The real provider's names, as terraform-provider-tls declares them (internal/provider/common_cert.go,
// `keyUsages` and `extendedKeyUsages`) and validates them at plan time (supportedKeyUsagesStr): snake_case.
// The SDK's doc comments show them camelCased, which the provider refuses.
const KEY_USAGES: Record<string, x509.KeyUsageFlags> = {
  digital_signature: x509.KeyUsageFlags.digitalSignature,
  content_commitment: x509.KeyUsageFlags.nonRepudiation,
  key_encipherment: x509.KeyUsageFlags.keyEncipherment,
  data_encipherment: x509.KeyUsageFlags.dataEncipherment,
  key_agreement: x509.KeyUsageFlags.keyAgreement,
  cert_signing: x509.KeyUsageFlags.keyCertSign,
  crl_signing: x509.KeyUsageFlags.cRLSign,
  encipher_only: x509.KeyUsageFlags.encipherOnly,
  decipher_only: x509.KeyUsageFlags.decipherOnly,
};

const EXT_USAGES: Record<string, string> = {
  any_extended: "2.5.29.37.0",
  server_auth: x509.ExtendedKeyUsage.serverAuth,
  client_auth: x509.ExtendedKeyUsage.clientAuth,
  code_signing: x509.ExtendedKeyUsage.codeSigning,
  email_protection: x509.ExtendedKeyUsage.emailProtection,
  timestamping: x509.ExtendedKeyUsage.timeStamping,
  ocsp_signing: x509.ExtendedKeyUsage.ocspSigning,
  ipsec_end_system: "1.3.6.1.5.5.7.3.5",
  ipsec_tunnel: "1.3.6.1.5.5.7.3.6",
  ipsec_user: "1.3.6.1.5.5.7.3.7",
};

function usageExtensions(uses: string[]): x509.Extension[] {
  let flags = 0;
  const eku: string[] = [];
  for (const u of uses) {
    if (KEY_USAGES[u] !== undefined) flags |= KEY_USAGES[u];
    else if (EXT_USAGES[u] !== undefined) eku.push(EXT_USAGES[u]);
    else throw new TlsEmulationError(`allowedUses: unknown or unsupported use ${JSON.stringify(u)}`);
  }
  const out: x509.Extension[] = [];
  if (flags) out.push(new x509.KeyUsagesExtension(flags, true));
  if (eku.length) out.push(new x509.ExtendedKeyUsageExtension(eku, false));
  return out;
}

function sanExtension(dnsNames: string[] = [], ipAddresses: string[] = [], uris: string[] = []): x509.Extension[] {
  const names: x509.JsonGeneralName[] = [
    ...dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...ipAddresses.map((value) => ({ type: "ip" as const, value })),
    ...uris.map((value) => ({ type: "url" as const, value })),
  ];
  return names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : [];
}

function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  if (b[0] === 0) b[0] = 1;
  return b.toString("hex");
}

function validity(hours: unknown): { notBefore: Date; notAfter: Date } {
  const h = Number(hours);
  if (!Number.isFinite(h) || h <= 0) throw new TlsEmulationError(`validityPeriodHours must be a positive number, got ${JSON.stringify(hours)}`);
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + h * 3600_000) };
}

function certOutputs(cert: x509.X509Certificate, algorithmName: string, keyField: string): Record<string, string | boolean> {
  return {
    certPem: `${cert.toString("pem")}\n`,
    validityStartTime: cert.notBefore.toISOString().replace(/\.\d{3}Z$/, "Z"),
    validityEndTime: cert.notAfter.toISOString().replace(/\.\d{3}Z$/, "Z"),
    readyForRenewal: false,
    [keyField]: algorithmName,
  };
}

function basicConstraints(inputs: Inputs): x509.Extension[] {
  if (!inputs.isCaCertificate) return [new x509.BasicConstraintsExtension(false, undefined, true)];
  const max = inputs.maxPathLength === undefined || inputs.maxPathLength === 0 ? undefined : Number(inputs.maxPathLength);
  return [new x509.BasicConstraintsExtension(true, max, true)];
}

export async function selfSignedCert(inputs: Inputs): Promise<Record<string, unknown>> {
  const keys = await webKeys(String(inputs.privateKeyPem ?? ""));
  const extensions: x509.Extension[] = [
    ...basicConstraints(inputs),
    ...usageExtensions(inputs.allowedUses ?? []),
    ...sanExtension(inputs.dnsNames, inputs.ipAddresses, inputs.uris),
  ];
  if (inputs.setSubjectKeyId || inputs.isCaCertificate) extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  if (inputs.setAuthorityKeyId) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subjectName(inputs.subject),
    ...validity(inputs.validityPeriodHours),
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey },
    signingAlgorithm: keys.signing,
    extensions,
  });
  return certOutputs(cert, keys.algorithmName, "keyAlgorithm");
}

export async function certRequest(inputs: Inputs): Promise<Record<string, unknown>> {
  const keys = await webKeys(String(inputs.privateKeyPem ?? ""));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectName(inputs.subject),
    keys: { privateKey: keys.privateKey, publicKey: keys.publicKey },
    signingAlgorithm: keys.signing,
    extensions: sanExtension(inputs.dnsNames, inputs.ipAddresses, inputs.uris),
  });
  return { certRequestPem: `${csr.toString("pem")}\n`, keyAlgorithm: keys.algorithmName };
}

export async function locallySignedCert(inputs: Inputs): Promise<Record<string, unknown>> {
  let csr: x509.Pkcs10CertificateRequest;
  let ca: x509.X509Certificate;
  try {
    csr = new x509.Pkcs10CertificateRequest(String(inputs.certRequestPem ?? ""));
    ca = new x509.X509Certificate(String(inputs.caCertPem ?? ""));
  } catch (e) {
    throw new TlsEmulationError(`tls.LocallySignedCert: bad certRequestPem or caCertPem: ${(e as Error).message}`);
  }
  if (!(await csr.verify())) throw new TlsEmulationError("tls.LocallySignedCert: the certificate request's signature does not verify");
  const caKeys = await webKeys(String(inputs.caPrivateKeyPem ?? ""));
  const caSpki = Buffer.from(await webcrypto.subtle.exportKey("spki", caKeys.publicKey));
  if (!caSpki.equals(Buffer.from(ca.publicKey.rawData))) throw new TlsEmulationError("tls.LocallySignedCert: caPrivateKeyPem does not match caCertPem");
  const subjectPublic = await csr.publicKey.export();
  const extensions: x509.Extension[] = [...basicConstraints(inputs), ...usageExtensions(inputs.allowedUses ?? [])];
  // By OID: class identity breaks when the cjs and esm builds of x509 are both loaded.
  const san = csr.getExtension("2.5.29.17");
  if (san) extensions.push(san);
  if (inputs.setSubjectKeyId) extensions.push(await x509.SubjectKeyIdentifierExtension.create(subjectPublic));
  const caSki = ca.getExtension("2.5.29.14") as x509.SubjectKeyIdentifierExtension | null;
  if (caSki) extensions.push(new x509.AuthorityKeyIdentifierExtension(caSki.keyId));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: csr.subjectName,
    issuer: ca.subjectName,
    ...validity(inputs.validityPeriodHours),
    publicKey: subjectPublic,
    signingKey: caKeys.privateKey,
    signingAlgorithm: caKeys.signing,
    extensions,
  });
  return certOutputs(cert, caKeys.algorithmName, "caKeyAlgorithm");
}

/** Secret outputs of each tls resource type (the mock monitor does not apply additionalSecretOutputs). */
export const TLS_SECRET_OUTPUTS: Record<string, string[]> = {
  "tls:index/privateKey:PrivateKey": ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"],
};
