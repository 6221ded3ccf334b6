import * as pulumi from "@pulumi/pulumi";
import { unwrapSecrets, wrapSecret } from "../../components/pulumi/secrets";
import { flattenConfigValues } from "../../components/config/stack-yaml";
import * as path from "path";
import { MockCloud } from "./cloud";
import * as tlsEmu from "./tls";

/**
 * Runs the Pulumi program in-process under the SDK's mock runtime: no engine, no cloud,
 * no CLI. Providers are replaced by a fake that echoes inputs and fabricates the outputs
 * the program reads (addresses; real keys and certificates from ./tls.ts,
 * because the VPN PKI parses them), so the run proves the config is accepted end to end
 * and shows every resource the program would register, with its inputs.
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

const TLS: Record<string, (inputs: Record<string, unknown>) => Record<string, unknown> | Promise<Record<string, unknown>>> = {
  "tls:index/privateKey:PrivateKey": tlsEmu.privateKey,
  "tls:index/selfSignedCert:SelfSignedCert": tlsEmu.selfSignedCert,
  "tls:index/certRequest:CertRequest": tlsEmu.certRequest,
  "tls:index/locallySignedCert:LocallySignedCert": tlsEmu.locallySignedCert,
};

/** The runtime's wire value for "not known until the update runs" (the SDK's runtime/rpc.ts unknownValue). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

async function fabricate(cloud: MockCloud, type: string, name: string, inputs: Record<string, unknown>): Promise<Record<string, unknown>> {
  const tls = TLS[type];
  if (tls) {
    const plain = unwrapSecrets(inputs) as Record<string, unknown>;
    const out = { ...plain, ...(await tls(plain)) };
    const secrets = tlsEmu.TLS_SECRET_OUTPUTS[type] ?? [];
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, secrets.includes(k) ? wrapSecret(v) : v]));
  }
  const made = cloud.outputs(type, name, inputs);
  if (made) return made;
  switch (type) {
    case "command:remote:Command":
      // Nothing runs offline: what a command prints is unknown, as in a preview of a command that has not run yet.
      return { ...inputs, stdout: UNKNOWN, stderr: UNKNOWN };
    default:
      return { ...inputs };
  }
}

function freshRequire(program: string): Record<string, unknown> | Promise<Record<string, unknown>> {
  delete require.cache[require.resolve(program)];
  // A fresh load on purpose: the program declares its resources at module top level.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(program) as Record<string, unknown> | Promise<Record<string, unknown>>;
}

const waitForRPCs = () => (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();

/** What an output that depends on something a command prints shows offline (the CLI's preview says the same). */
export const KNOWN_AFTER_UP = "(known after up)";

// An apply never runs on an unknown value, so the Output's own promise and known-ness (SDK internals, present on
// every Output since 3.x) are read instead.
async function settle(value: unknown): Promise<unknown> {
  if (!pulumi.Output.isInstance(value)) return value;
  const o = value as unknown as { isKnown: Promise<boolean>; promise(): Promise<unknown> };
  return (await o.isKnown) ? o.promise() : KNOWN_AFTER_UP;
}

export interface OfflineOptions {
  program?: string;
  stack?: string;
  project?: string;
  timeoutMs?: number;
  /**
   * Loads the program module afresh. The default clears node's require cache entry; under
   * jest (which has its own registry) pass `() => { let m; jest.isolateModules(() => (m = require(PROGRAM))); return m; }`.
   */
  load?: (program: string) => Record<string, unknown> | Promise<Record<string, unknown>>;
}

export const PROGRAM = path.join(__dirname, "..", "..", "index.ts");

/**
 * Loads the program (a module whose top level declares resources) with the given stack
 * config, waits for every registration, and returns what was registered, in order.
 * Errors thrown by the program or inside its applies end the run as OfflineRunError.
 */
export async function runProgramOffline(config: Record<string, unknown>, opts: OfflineOptions = {}): Promise<OfflineRun> {
  const resources: OfflineResource[] = [];
  const cloud = new MockCloud();
  const failures: unknown[] = [];
  const onRejection = (e: unknown) => failures.push(e);
  process.on("unhandledRejection", onRejection);
  try {
    await pulumi.runtime.setMocks(
      {
        async newResource(args: pulumi.runtime.MockResourceArgs) {
          const id = `${args.name}-id`;
          resources.push({ type: args.type, name: args.name, id, inputs: unwrapSecrets(args.inputs) as Record<string, unknown> });
          try {
            return { id, state: await fabricate(cloud, args.type, args.name, args.inputs) };
          } catch (e) {
            failures.push(new Error(`${args.type} ${args.name}: ${(e as Error).message}`));
            throw e;
          }
        },
        call(args: pulumi.runtime.MockCallArgs) {
          if (args.token === "openstack:networking/getNetwork:getNetwork") return { id: "external-network-id", name: args.inputs.name };
          if (args.token === "openstack:images/getImage:getImage") return { id: `image-id-${String(args.inputs.name)}`, name: args.inputs.name };
          return args.inputs;
        },
      },
      opts.project ?? "fleet",
      opts.stack ?? "plan",
      true,
      // What the CLI names the organization of a stack in a self-managed (file) backend.
      "organization",
    );
    pulumi.runtime.setAllConfig(flattenConfigValues(config), []);
    const program = opts.program ?? PROGRAM;
    let mod: Record<string, unknown>;
    try {
      // The program's exports are a promise: it reads the stack's last outputs before it registers anything.
      mod = await (opts.load ?? freshRequire)(program);
    } catch (e) {
      throw new OfflineRunError(`the program failed: ${(e as Error).message}`);
    }
    const outputs: Record<string, unknown> = {};
    const settled = (async () => {
      for (const [k, v] of Object.entries(mod)) outputs[k] = unwrapSecrets(await settle(v));
      await waitForRPCs();
      // Registrations started inside applies finish a tick after their apply resolves.
      await new Promise((r) => setTimeout(r, 20));
      await waitForRPCs();
    })();
    // A failed apply leaves its dependents unresolved forever: stop at the first failure instead of waiting.
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    let done = false;
    settled.then(
      () => (done = true),
      (e: unknown) => failures.push(e),
    );
    while (!done && failures.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (failures.length > 0) throw new OfflineRunError(`the program failed: ${failures.map((f) => (f as Error).message ?? String(f)).join("; ")}`);
    if (!done) throw new OfflineRunError(`the program did not finish within ${opts.timeoutMs ?? 120_000} ms`);
    if (resources.length === 0) throw new OfflineRunError("the program registered no resources (was its module already loaded in this process?)");
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
