/**
 * `lab up`: runs the stack's program (index.ts, the one `pulumi up` runs) under
 * the SDK's mock runtime with the lab emulator behind it, waits for every
 * registration, deletes what the program no longer declares, and records the
 * stack outputs.
 */
import { reboot } from "./reboot";
import * as pulumi from "@pulumi/pulumi";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as path from "path";
import { Emulator, Registration, Step } from "./emulator";
import { isSecretWrapper, Json, loadState, secret, saveState } from "./emulator/state";
import { ensureFabric, hostAlive, loadFabric, processAlive } from "./hosts";
import { layout, REPO_ROOT, StackLayout } from "./layout";
import { LAB_CORE, labUnavailable } from "./preflight";
import { projectName, readStackConfig, stackFilePath } from "./stackfile";
import { parseFleetConfig } from "../components/config/validate";
import { FleetConfigError } from "../components/config/errors";
import { rawConfigFrom, strayNamespaceWarnings } from "../components/config/load";

export class LabError extends Error {}

export interface UpOptions {
  stack: string;
  configFile?: string;
  /** The program to run; index.ts of the repo unless overridden (FLEET_LAB_PROGRAM). */
  program?: string;
  log?: (line: string) => void;
}

export interface UpResult {
  ok: boolean;
  error?: string;
  steps: Step[];
  /** Stack outputs; secrets wrapped (see emulator/state.ts `isSecretWrapper`). */
  outputs: Record<string, Json>;
  /** How many remote commands (create/delete) ran over SSH in this up. */
  remoteRuns: number;
  durationMs: number;
  /** What the deploys that ran in this up said (`shop on app-1: release … is live`), in step order. */
  deployed: string[];
}

export function preflight(): void {
  const why = labUnavailable(LAB_CORE);
  if (why) throw new LabError(`the lab cannot run here: ${why}`);
}

/** A stored host that no longer runs (reboot, manual kill) makes the state a lie; say so instead of guessing. */
function checkNotStale(L: StackLayout): void {
  const state = loadState(L.stateFile, L.stack);
  const fabric = loadFabric(L);
  for (const r of Object.values(state.resources)) {
    if (r.type !== "openstack:compute/instance:Instance") continue;
    const name = String(r.outputs.name ?? r.name);
    const host = fabric.hosts[name];
    if (!host || !hostAlive(host)) {
      throw new LabError(
        `lab state of stack ${L.stack} is stale: host ${name} is not running (machine restarted?). Run: npm run lab -- down --stack ${L.stack}; then up again`,
      );
    }
  }
}

type Anything = unknown;

/** Resolves outputs (and promises) inside the program's exports; secrets stay wrapped. */
async function resolveDeep(v: Anything): Promise<Json> {
  if (pulumi.Output.isInstance(v)) {
    const o = v as unknown as { promise(): Promise<Anything>; isSecret: Promise<boolean> };
    const [value, isSecret] = await Promise.all([o.promise(), o.isSecret]);
    const resolved = await resolveDeep(value);
    return isSecret ? secret(resolved) : resolved;
  }
  if (v instanceof Promise) return resolveDeep(await v);
  if (pulumi.Resource.isInstance(v)) return resolveDeep((v as pulumi.Resource).urn);
  if (Array.isArray(v)) return Promise.all(v.map(resolveDeep));
  if (v !== null && typeof v === "object") {
    const out: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined || typeof x === "function") continue;
      out[k] = await resolveDeep(x);
    }
    return out;
  }
  if (v === undefined) return null;
  return v as Json;
}

/** The SDK's mock monitor hands newResource no URN and no additionalSecretOutputs; capture them per request. */
function installMonitorTap(emulator: Emulator, next: { meta?: Omit<Registration, "inputs" | "custom" | "type" | "name"> }): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const settings = require("@pulumi/pulumi/runtime/settings") as { getMonitor(): Record<string, (...a: unknown[]) => unknown> };
  const mon = settings.getMonitor() as unknown as {
    registerResource(req: unknown, cb: unknown): unknown;
    newUrn(parent: string, type: string, name: string): string;
  };
  const orig = mon.registerResource.bind(mon);
  mon.registerResource = (req: unknown, cb: unknown) => {
    const r = req as { getParent(): string; getType(): string; getName(): string; getAdditionalsecretoutputsList(): string[] };
    // newResource is called synchronously at the start of the original, so this cannot be overtaken.
    next.meta = { urn: mon.newUrn(r.getParent(), r.getType(), r.getName()), additionalSecretOutputs: r.getAdditionalsecretoutputsList() };
    return orig(req, cb);
  };
  void emulator;
}

/**
 * The exports, unless a failure means they never resolve: outputs of a failed
 * resource stay pending forever, as they do in the engine. A timer keeps node
 * from exiting while we wait.
 */
async function untilSettled(exportsP: Promise<Json>, emulator: Emulator, quietLimitMs = 60_000): Promise<Record<string, Json>> {
  // A failed resource leaves promises the SDK waits on forever; stop waiting then.
  let done = false;
  const result = exportsP.finally(() => (done = true));
  let quietSince = Date.now();
  for (;;) {
    const tick = new Promise((r) => setTimeout(r, 100));
    await Promise.race([result, tick]);
    if (done) return (await result) as Record<string, Json>;
    if (emulator.busy) quietSince = Date.now();
    else if (emulator.firstError) return {};
    else if (Date.now() - quietSince > quietLimitMs) {
      throw new LabError(
        `the program's outputs did not resolve within ${quietLimitMs / 1000}s of the last registration (an Output waiting on something that never comes?)`,
      );
    }
  }
}

/**
 * FLEET_LAB_FAULT=reboot:HOST:before:RESOURCE power-cycles lab host HOST once, just before the engine changes
 * RESOURCE (e.g. `reboot:app-1:before:app-1-firewall-confirm`: a host that restarts between apply and confirm).
 * Lab tests use it to put a failure exactly where the real world can; the program never sees it.
 */
export function faultInjector(L: StackLayout, spec: string | undefined, log: (line: string) => void): ((name: string) => Promise<void>) | undefined {
  if (!spec) return undefined;
  const m = /^reboot:([a-z0-9-]+):before:([A-Za-z0-9-]+)$/.exec(spec);
  if (!m) throw new LabError(`FLEET_LAB_FAULT must be reboot:HOST:before:RESOURCE, got ${JSON.stringify(spec)}`);
  const [, host, resource] = m;
  let fired = false;
  return async (name) => {
    if (fired || name !== resource) return;
    fired = true;
    log(`  (lab fault) rebooting ${host} before ${resource}\n`);
    await reboot(L, host);
  };
}

export async function up(opts: UpOptions): Promise<UpResult> {
  const started = Date.now();
  const log = opts.log ?? (() => undefined);
  preflight();
  const L = layout(opts.stack);
  const project = projectName();
  const config = readStackConfig(stackFilePath(opts.stack, opts.configFile), project);
  // Validate before the lab makes anything: a bad stack must leave no state dir, namespace or bridge.
  if (!(opts.program ?? process.env.FLEET_LAB_PROGRAM)) checkStackConfig(config, project, log);
  mkdirSync(L.dir, { recursive: true, mode: 0o700 });
  const unlock = lockStack(L);
  try {
    return await upLocked(opts, L, project, config, log, started);
  } finally {
    unlock();
  }
}

/** The program's own validation (components/config), run on the stack file before anything exists. */
function checkStackConfig(config: Record<string, string>, project: string, log: (line: string) => void): void {
  const raw = rawConfigFrom(config, project);
  for (const w of strayNamespaceWarnings(Object.keys(config), project)) log(`warning: ${w}\n`);
  try {
    parseFleetConfig(raw);
  } catch (e) {
    if (e instanceof FleetConfigError) throw new LabError(e.message);
    throw e;
  }
}

/** One `up` per stack at a time: two would race for the same namespaces and state file. */
function lockStack(L: StackLayout): () => void {
  const file = path.join(L.dir, "up.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx", mode: 0o600 });
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(file, "utf8"));
      if (processAlive(pid)) throw new LabError(`another lab up (pid ${pid}) is running for stack ${L.stack}`);
      rmSync(file, { force: true });
    }
  }
  throw new LabError(`could not lock stack ${L.stack} (${file})`);
}

async function upLocked(
  opts: UpOptions,
  L: StackLayout,
  project: string,
  config: Record<string, string>,
  log: (line: string) => void,
  started: number,
): Promise<UpResult> {
  checkNotStale(L);
  ensureFabric(L);
  const state = loadState(L.stateFile, L.stack);
  const fabric = loadFabric(L);
  const emulator = new Emulator(L, state, fabric);
  // Progress as it happens, one line per resource that changed (as `pulumi up` streams its steps).
  emulator.onStep = (st) => {
    if (st.op !== "same") log(`${stepLine(st)}\n`);
  };
  emulator.beforeChange = faultInjector(L, process.env.FLEET_LAB_FAULT, log);

  pulumi.runtime.setAllConfig(config);
  const next: { meta?: Omit<Registration, "inputs" | "custom" | "type" | "name"> } = {};
  await pulumi.runtime.setMocks(
    {
      newResource: (args: pulumi.runtime.MockResourceArgs) => {
        const meta = next.meta;
        next.meta = undefined;
        if (!meta) throw new LabError(`${args.type} ${args.name}: reading existing resources (.get) is not supported in the lab`);
        return emulator.register({ ...meta, type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? true });
      },
      call: (args: pulumi.runtime.MockCallArgs) => emulator.call(args.token, args.inputs),
    },
    project,
    opts.stack,
    false,
  );
  installMonitorTap(emulator, next);

  // Failed registrations also reject promises inside the SDK that nobody awaits.
  const onRejection = (e: unknown) => emulator.fail(e);
  process.on("unhandledRejection", onRejection);
  let outputs: Record<string, Json> = {};
  try {
    const program = path.resolve(opts.program ?? process.env.FLEET_LAB_PROGRAM ?? path.join(REPO_ROOT, "index.ts"));
    log(`Updating (${opts.stack}) in the lab: ${path.relative(process.cwd(), program) || program} with ${stackFilePath(opts.stack, opts.configFile)}\n`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(program) as Record<string, unknown> | (() => unknown);
    const exported = typeof mod === "function" ? await mod() : typeof mod.default === "function" ? await (mod.default as () => unknown)() : mod;
    const plain = { ...(exported as Record<string, unknown>) };
    delete plain.__esModule;
    if (typeof mod !== "function" && typeof mod.default === "function") delete plain.default;
    outputs = await untilSettled(resolveDeep(plain), emulator);
  } catch (e) {
    emulator.fail(e);
  }
  await emulator.idle();
  if (!emulator.firstError) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const rpcs = (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
    await untilSettled(
      rpcs.then(() => ({})),
      emulator,
    ).catch((e: unknown) => emulator.fail(e));
  }
  await emulator.idle();
  if (!emulator.firstError) await emulator.deleteLeftovers();
  process.off("unhandledRejection", onRejection);
  saveState(L.stateFile, state);
  if (!emulator.firstError) writeFileSync(L.outputsFile, JSON.stringify(outputs, null, 1), { mode: 0o600 });
  const ran = new Set(emulator.steps.filter((s) => s.op !== "same" && s.op !== "delete").map((s) => s.urn));
  const deployed = Object.values(state.resources)
    .filter((r) => r.type === "command:remote:Command" && r.name.includes("-activate-") && ran.has(r.urn))
    // stdout is secret because the command's stdin is; only deploy-activate.sh's own status line is shown.
    .map(
      (r) =>
        String(displayOutputs(r.outputs.stdout ?? "", true))
          .trim()
          .split("\n")
          .pop() ?? "",
    )
    .filter((l) => /^[a-z][a-z0-9_-]* on [a-z0-9-]+: release [A-Za-z0-9._-]+ is /.test(l));
  return {
    ok: !emulator.firstError,
    error: emulator.firstError ? emulator.firstError.message : undefined,
    deployed,
    steps: emulator.steps,
    outputs,
    remoteRuns: emulator.commandStats.runs,
    durationMs: Date.now() - started,
  };
}

/** Outputs with secrets shown as [secret] (or revealed). */
export function displayOutputs(v: Json, showSecrets: boolean): Json {
  if (isSecretWrapper(v)) return showSecrets ? displayOutputs(v.value, true) : "[secret]";
  if (Array.isArray(v)) return v.map((x) => displayOutputs(x, showSecrets));
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, displayOutputs(x, showSecrets)]));
  return v;
}

const MARK: Record<string, string> = { create: "+", update: "~", replace: "+-", delete: "-", same: " " };
const VERB: Record<string, string> = { create: "created", update: "updated", replace: "replaced", delete: "deleted", same: "unchanged" };

export function stepLine(s: Step): string {
  const secs = s.ms >= 100 ? ` (${(s.ms / 1000).toFixed(1)}s)` : "";
  return ` ${MARK[s.op].padEnd(2)}  ${s.type}  ${s.name}  ${VERB[s.op]}${secs}${s.detail ? `  [${s.detail}]` : ""}`;
}

/** Outputs a person reads after every up; the rest (matrix, hashes, fingerprints) with --show-outputs or --json. */
const BRIEF_OUTPUTS = ["gatewayAddress", "revisions"];

/**
 * The end of an `up`, for a person: the steps were streamed already, so this is the short summary (what
 * changed, remote commands, time), the gateway and the servers, what went live, and what to do next.
 */
export function formatUp(r: UpResult, stack: string, opts: { showOutputs?: boolean } = {}): string {
  const lines: string[] = [""];
  if (r.ok) {
    const shown = opts.showOutputs ? Object.keys(r.outputs) : BRIEF_OUTPUTS.filter((k) => k in r.outputs);
    if (shown.length) lines.push("Outputs:");
    for (const k of shown) lines.push(`    ${k}: ${JSON.stringify(displayOutputs(r.outputs[k], false), null, 2).replace(/\n/g, "\n    ")}`);
    const servers = displayOutputs(r.outputs.servers ?? {}, false) as Record<string, { role?: string; privateIp?: string; publicIp?: string | null }>;
    if (!opts.showOutputs && Object.keys(servers).length) {
      lines.push("    servers:");
      const nw = Math.max(...Object.keys(servers).map((n) => n.length));
      for (const [n, v] of Object.entries(servers)) {
        lines.push(`        ${n.padEnd(nw)}  ${String(v.role ?? "").padEnd(8)}  ${String(v.privateIp ?? "").padEnd(15)}  ${v.publicIp ?? ""}`.trimEnd());
      }
    }
    const hidden = Object.keys(r.outputs).filter((k) => !shown.includes(k) && k !== "servers");
    if (!opts.showOutputs && hidden.length) lines.push(`    (${hidden.join(", ")}: npm run lab -- outputs, or up --show-outputs)`);
    lines.push("");
  } else {
    lines.push(`error: ${r.error}`, "");
  }
  if (r.deployed.length) lines.push("Deployed:", ...r.deployed.map((d) => `    ${d}`), "");
  const count = (op: string) => r.steps.filter((s) => s.op === op).length;
  const parts = ["create", "update", "replace", "delete"].filter((op) => count(op)).map((op) => `${count(op)} ${VERB[op]}`);
  lines.push(`Resources: ${[...parts, `${count("same")} unchanged`].join(", ")}`);
  lines.push(`Remote commands run: ${r.remoteRuns}`);
  lines.push(`Duration: ${(r.durationMs / 1000).toFixed(1)}s (stack ${stack})`);
  if (r.ok) lines.push("", `Next: npm run lab -- status   |   npm run lab -- exec HOST -- CMD   |   npm run lab -- down`);
  return lines.join("\n");
}
