/**
 * Pulumi mock runtime for unit tests: records every registration and fabricates the
 * computed outputs providers would return (addresses, keys). Private key outputs are
 * returned as secrets, as the real tls provider marks them (the mock monitor does not
 * apply additionalSecretOutputs by itself).
 */
import { isSecret, secretValue, unwrapSecrets, wrapSecret } from "../../../components/pulumi/secrets";
import * as pulumi from "@pulumi/pulumi";
import { hostReports } from "./host-reports";
import { decodeBundle } from "../../../components/remote/bundle";
import { readFileSync } from "fs";
import * as path from "path";
import { flattenConfigValues, parseStackYaml } from "../../../components/config/stack-yaml";
import { MockCloud } from "../../../scripts/offline/cloud";
import * as tlsEmu from "../../../scripts/offline/tls";

export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  /** What the mock cloud answered (a port's allocated address, a floating IP), set once the resource is created. */
  outputs?: Record<string, unknown>;
  /** The URNs the SDK sent as this resource's dependencies: explicit ones and every property's, without repeats. */
  dependencies: string[];
}

export const registered: Registered[] = [];
/** Every provider function the program called (invokes), by token, in order. */
export const invoked: { token: string; inputs: Record<string, unknown> }[] = [];
/** Instance ids to hand out instead of `<name>-id`: a new id is what a replaced instance looks like. */
export const instanceIds: Record<string, string> = {};
/** The outputs of the stack's last update, as the engine's readStackOutputs gives them (none: a new stack). */
export const previousOutputs: { value: Record<string, unknown> } = { value: {} };
/** Each program run creates its subnet first, which starts the mock cloud's allocation afresh. */
const cloud = new MockCloud();

const TLS: Record<string, (inputs: Record<string, any>) => Record<string, unknown> | Promise<Record<string, unknown>>> = {
  "tls:index/privateKey:PrivateKey": tlsEmu.privateKey,
  "tls:index/selfSignedCert:SelfSignedCert": tlsEmu.selfSignedCert,
  "tls:index/certRequest:CertRequest": tlsEmu.certRequest,
  "tls:index/locallySignedCert:LocallySignedCert": tlsEmu.locallySignedCert,
};

/**
 * tls resources get real keys and certificates (scripts/offline/tls.ts), cached per name and
 * inputs like the engine's state would keep them, so re-running a program is deterministic.
 */
const tlsCache = new Map<string, Record<string, unknown>>();

async function outputsFor(type: string, name: string, inputs: Record<string, unknown>): Promise<Record<string, unknown>> {
  const tls = TLS[type];
  if (tls) {
    const plain = unwrap(inputs) as Record<string, any>;
    const key = `${type}|${name}|${JSON.stringify(plain)}`;
    let out = tlsCache.get(key);
    if (!out) {
      out = { ...plain, ...(await tls(plain)) };
      tlsCache.set(key, out);
    }
    const secrets = tlsEmu.TLS_SECRET_OUTPUTS[type] ?? [];
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, secrets.includes(k) ? wrapSecret(v) : v]));
  }
  const made = cloud.outputs(type, name, inputs);
  if (made) return made;
  switch (type) {
    case "command:remote:Command":
      // The provider always answers with the command's output; empty is what a silent script prints.
      // firewall-confirm reports the ruleset it saw the kernel run (components/firewall/firewall-confirm.sh's last line).
      if (name.endsWith("-firewall-confirm")) {
        const hash = decodeBundle(String(unwrap(inputs.stdin))).hash;
        return { ...inputs, stdout: hostReports.firewallConfirmed(hash), stderr: "" };
      }
      // deploy-activate reports the release it made live (components/deploy/deploy-activate.sh).
      if (/-activate-/.test(name)) {
        const b = decodeBundle(String(unwrap(inputs.stdin)));
        return { ...inputs, stdout: hostReports.releaseLive(b.app, name, b.release), stderr: "" };
      }
      // vpn-configure reports the allow-list the running daemon reads (components/vpn/vpn-configure.sh's last line).
      if (name.endsWith("-vpn-configure")) {
        const names = String(decodeBundle(String(unwrap(inputs.stdin)))["allow-list"])
          .split("\n")
          .filter(Boolean)
          .map((l) => l.split(" ")[0])
          .sort();
        return { ...inputs, stdout: hostReports.vpnAdmits(names), stderr: "" };
      }
      return { ...inputs, stdout: "", stderr: "" };
    default:
      return { ...inputs };
  }
}

/** What each registration request carried as dependencies, until the mock's newResource picks it up. */
const pendingDependencies = new Map<string, string[]>();

/** A registration request as the SDK sends it to the (mock) engine. */
export interface RegisterRequest {
  getType(): string;
  getName(): string;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(f: (deps: { getUrnsList(): string[] }) => void): void };
  getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
}

/**
 * Calls `listener` with every registration request the SDK sends to the mock monitor set up last. The mock runtime
 * hands newResource no dependencies: this is where they can be read, as the engine would get them.
 */
export function onRegistration(listener: (req: RegisterRequest) => void): void {
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: RegisterRequest, cb: unknown): unknown };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    listener(req);
    return register(req, cb);
  };
}

/**
 * `preview`: the run is a preview of a new stack. What a provider computes (addresses, ids, keys) is unknown, as
 * the engine answers a create it has not done: only the inputs come back.
 */
export function installMocks(opts: { preview?: boolean } = {}): void {
  pulumi.runtime.setMocks(
    {
      async newResource(args: pulumi.runtime.MockResourceArgs) {
        const key = `${args.type}::${args.name}`;
        const r: Registered = { type: args.type, name: args.name, inputs: args.inputs, dependencies: pendingDependencies.get(key) ?? [] };
        pendingDependencies.delete(key);
        registered.push(r);
        const id = args.type === "openstack:compute/instance:Instance" && instanceIds[args.name] ? instanceIds[args.name] : `${args.name}-id`;
        const outputs = opts.preview ? { ...args.inputs } : await outputsFor(args.type, args.name, args.inputs);
        r.outputs = outputs;
        // A preview's create has no id yet: the SDK takes "" as unknown.
        return { id: opts.preview ? "" : id, state: outputs };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        invoked.push({ token: args.token, inputs: args.inputs });
        if (args.token === "openstack:networking/getNetwork:getNetwork") return { id: "ext-net-id", name: args.inputs.name };
        if (args.token === "pulumi:pulumi:readStackOutputs") return { name: args.inputs.name, outputs: previousOutputs.value, secretOutputNames: [] };
        if (args.token === "openstack:images/getImage:getImage") return { id: `image-id-${String(args.inputs.name)}`, name: args.inputs.name };
        return args.inputs;
      },
    },
    "fleet",
    "test",
    opts.preview ?? false,
    // What the CLI names the organization of a stack in a self-managed (file) backend.
    "organization",
  );
  onRegistration((req) => {
    const deps = new Set(req.getDependenciesList());
    req.getPropertydependenciesMap().forEach((d) => d.getUrnsList().forEach((u) => deps.add(u)));
    pendingDependencies.set(`${req.getType()}::${req.getName()}`, [...deps].sort());
  });
}

export function resetRegistered(): void {
  registered.length = 0;
  invoked.length = 0;
}

/** The `config:` map of a stack file, as `pulumi.runtime.setAllConfig` wants it. */
export function stackConfig(file = "Pulumi.dev.yaml"): Record<string, unknown> {
  return parseStackYaml(readFileSync(path.join(__dirname, "..", "..", "..", file), "utf8"), file);
}

export function setConfig(config: Record<string, unknown>): void {
  pulumi.runtime.setAllConfig(flattenConfigValues(config), []);
}

/**
 * Resolves an Output in a test. An apply that throws leaves its output pending forever
 * under mocks, so give up with a clear error instead of hanging the suite.
 */
export function resolve<T>(o: pulumi.Input<T>, timeoutMs = 60_000): Promise<T> {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`output did not resolve within ${timeoutMs} ms (an apply probably threw)`)), timeoutMs);
    pulumi.output(o).apply((v) => {
      clearTimeout(timer);
      ok(v as T);
    });
  });
}

/** Strings found anywhere in a value, and whether each sits inside a secret wrapper. */
export function strings(value: unknown, inSecret = false, out: { s: string; secret: boolean }[] = []): { s: string; secret: boolean }[] {
  if (typeof value === "string") out.push({ s: value, secret: inSecret });
  else if (Array.isArray(value)) value.forEach((v) => strings(v, inSecret, out));
  else if (value && typeof value === "object") {
    if (isSecret(value)) strings(secretValue(value), true, out);
    else for (const v of Object.values(value)) strings(v, inSecret, out);
  }
  return out;
}

/** A registration's inputs with every secret replaced by its value. */
export const unwrap = unwrapSecrets;

export { registrationsSettled } from "./settled";
