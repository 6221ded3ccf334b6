import * as pulumi from "@pulumi/pulumi";
import * as path from "path";

/**
 * Runs the Pulumi program in-process under the SDK's mock runtime: no engine, no cloud,
 * no CLI. Providers are replaced by a fake that echoes inputs and fabricates the outputs
 * the program reads (addresses, keys), so the run proves the config is accepted end to
 * end and shows every resource the program would register, with its inputs.
 */

export interface OfflineResource {
  type: string;
  name: string;
  /** Mock id (`<name>-id`); other resources' inputs refer to it, like real ids. */
  id: string;
  /** Inputs with secrets unwrapped (the policy pack sees them the same way). */
  inputs: Record<string, unknown>;
}

export interface OfflineRun {
  resources: OfflineResource[];
  outputs: Record<string, unknown>;
}

export class OfflineRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OfflineRunError";
  }
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (SECRET_SIG in o) return unwrapSecrets(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

/** Deterministic stand-ins for what providers compute; documentation address ranges only. */
function fabricate(type: string, name: string, n: number, inputs: Record<string, unknown>): Record<string, unknown> {
  const tag = name.replace(/[^A-Za-z0-9]/g, "");
  switch (type) {
    case "tls:index/privateKey:PrivateKey":
      return {
        ...inputs,
        privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\noffline-${tag}\n-----END OPENSSH PRIVATE KEY-----\n`,
        privateKeyPem: `-----BEGIN PRIVATE KEY-----\noffline-${tag}\n-----END PRIVATE KEY-----\n`,
        privateKeyPemPkcs8: `-----BEGIN PRIVATE KEY-----\noffline-${tag}\n-----END PRIVATE KEY-----\n`,
        publicKeyOpenssh: `ssh-ed25519 AAAAoffline${tag}\n`,
        publicKeyPem: `-----BEGIN PUBLIC KEY-----\noffline-${tag}\n-----END PUBLIC KEY-----\n`,
        publicKeyFingerprintSha256: `SHA256:offline${n}`,
      };
    case "tls:index/selfSignedCert:SelfSignedCert":
    case "tls:index/locallySignedCert:LocallySignedCert":
      return { ...inputs, certPem: `-----BEGIN CERTIFICATE-----\noffline-${tag}\n-----END CERTIFICATE-----\n` };
    case "tls:index/certRequest:CertRequest":
      return { ...inputs, certRequestPem: `-----BEGIN CERTIFICATE REQUEST-----\noffline-${tag}\n-----END CERTIFICATE REQUEST-----\n` };
    case "openstack:networking/floatingIp:FloatingIp":
      return { ...inputs, address: `203.0.113.${(n % 250) + 1}` };
    case "openstack:compute/instance:Instance":
      return { ...inputs, accessIpV4: `198.51.100.${(n % 250) + 1}` };
    default:
      return { ...inputs };
  }
}

/** The stack file's `config:` map flattened as the CLI hands it to a program. */
function flatConfig(config: Record<string, unknown>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) flat[k] = typeof v === "string" ? v : JSON.stringify(v);
  return flat;
}

async function settle(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) return new Promise((ok) => (value as pulumi.Output<unknown>).apply((v) => ok(v)));
  return value;
}

export const PROGRAM = path.join(__dirname, "..", "..", "index.ts");

/**
 * Loads the program (a module whose top level declares resources) with the given stack
 * config, waits for every registration, and returns what was registered, in order.
 * Errors thrown by the program or inside its applies end the run as OfflineRunError.
 */
export async function runProgramOffline(
  config: Record<string, unknown>,
  opts: { program?: string; stack?: string; project?: string } = {},
): Promise<OfflineRun> {
  const resources: OfflineResource[] = [];
  let counter = 0;
  const failures: unknown[] = [];
  const onRejection = (e: unknown) => failures.push(e);
  process.on("unhandledRejection", onRejection);
  try {
    await pulumi.runtime.setMocks(
      {
        newResource(args: pulumi.runtime.MockResourceArgs) {
          const id = `${args.name}-id`;
          resources.push({ type: args.type, name: args.name, id, inputs: unwrapSecrets(args.inputs) as Record<string, unknown> });
          return { id, state: fabricate(args.type, args.name, ++counter, args.inputs) };
        },
        call(args: pulumi.runtime.MockCallArgs) {
          if (args.token === "openstack:networking/getNetwork:getNetwork") return { id: "external-network-id", name: args.inputs.name };
          return args.inputs;
        },
      },
      opts.project ?? "fleet",
      opts.stack ?? "plan",
      true,
    );
    pulumi.runtime.setAllConfig(flatConfig(config), []);
    const program = opts.program ?? PROGRAM;
    let mod: Record<string, unknown>;
    try {
      delete require.cache[require.resolve(program)];
      // A fresh load on purpose: the program declares its resources at module top level.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require(program) as Record<string, unknown>;
    } catch (e) {
      throw new OfflineRunError(`the program failed: ${(e as Error).message}`);
    }
    const outputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(mod)) outputs[k] = unwrapSecrets(await settle(v));
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    // Registrations started inside applies finish a tick after their apply resolves.
    await new Promise((r) => setTimeout(r, 20));
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    if (failures.length > 0) throw new OfflineRunError(`the program failed: ${failures.map((f) => (f as Error).message ?? String(f)).join("; ")}`);
    return { resources, outputs };
  } finally {
    process.off("unhandledRejection", onRejection);
  }
}

export function countByType(resources: OfflineResource[]): { type: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const r of resources) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
  return [...counts.entries()].map(([type, count]) => ({ type, count })).sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}
