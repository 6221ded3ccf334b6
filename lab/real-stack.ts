/**
 * A lab stack run by the real CLI (lab/pulumi-cli.ts) against the lab's OpenStack: `pulumi up` and what its event
 * stream reports, the stack's outputs and state, the hosts the lab's hypervisor booted for the stack's servers
 * (found through Nova's API), and taking it all down again.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "fs";
import * as path from "path";
import { cloudDir, cloudRunning, projectObjects, purgeTenant, tenantOf, adminPython } from "./openstack";
import { prepareRealStack, realStack, runPulumi, stackEnv } from "./pulumi-cli";
import { containerInit, hostArgv, HostRecord, sshdPid } from "./hosts";
import { LAPTOP_IPS, LAPTOPS, OPERATOR_IP, StackLayout } from "./layout";
import { removeLaptops } from "./laptops";
import { CLOUD_NS } from "./openstack";
import { inNs, netnsList, runAsync } from "./sh";
import { REPO_ROOT } from "./layout";
import { fromStackExport } from "../scripts/audit/checks";
import { auditFleet } from "../scripts/audit/run";

export class RealStackError extends Error {}

/** JSON as the CLI prints it. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface Step {
  op: string;
  urn: string;
  /** The resource's type token and name, from its URN. */
  type: string;
  name: string;
}

/** Type token and name of a URN (`urn:pulumi:STACK::PROJECT::PARENT$TYPE::NAME`). */
export function urnParts(urn: string): { type: string; name: string } {
  const [, , typePath, ...name] = urn.split("::");
  return { type: typePath.split("$").pop()!, name: name.join("::") };
}

/** The events but the debug diagnostics: what pulumi shows without --debug, as JSON lines. */
function shown(json: string): string {
  return events(json)
    .filter((e) => (e.diagnosticEvent as { severity?: string } | undefined)?.severity !== "debug")
    .map((e) => JSON.stringify(e))
    .join("\n");
}

/** Engine events, one JSON object a line, as `pulumi up|preview|destroy --json` streams them. */
function events(json: string): Record<string, unknown>[] {
  return json
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * The steps an `up --json` performed: each is announced by a resourcePreEvent whose metadata holds its op and URN
 * (Pulumi's apitype.EngineEvent, StepEventMetadata). Throws if the stream has no summary (the run died).
 */
export function eventSteps(json: string): Step[] {
  const ev = events(json);
  if (!ev.some((e) => e.summaryEvent)) throw new RealStackError(`pulumi printed no summary event: ${json.slice(-500)}`);
  return ev
    .map((e) => (e.resourcePreEvent as { metadata?: { op: string; urn: string } } | undefined)?.metadata)
    .filter((m): m is { op: string; urn: string } => m !== undefined)
    .map((m) => ({ op: m.op, urn: m.urn, ...urnParts(m.urn) }));
}

/** What a failed `--json` run said: its error diagnostics (the event stream carries them), else its stderr. */
export function eventErrors(r: { stdout: string; stderr: string }): string {
  const errors = events(r.stdout)
    .map((e) => e.diagnosticEvent as { severity: string; message: string; urn?: string } | undefined)
    .filter((d) => d?.severity === "error")
    // Each with the name of the resource it is about, as pulumi's own display heads it.
    .map((d) => `${d!.urn ? `${urnParts(d!.urn).name}: ` : ""}${d!.message.trim()}`);
  return (errors.length ? errors.join("\n") : r.stderr).slice(-4000);
}

/**
 * Remote commands whose create (or update) script ran over SSH in a run: command:remote:Command steps that create,
 * update or create a replacement. A replacement is three steps (create-replacement, replace, delete-replaced) and
 * one run; a delete runs a script only for commands made with runOnDelete, and is not counted.
 */
export function remoteRuns(steps: Step[]): number {
  return steps.filter((s) => s.type === "command:remote:Command" && ["create", "update", "create-replacement"].includes(s.op)).length;
}

/** The resources a run changed, once each by name (a replacement's three steps are one change). */
export function changedNames(steps: Step[], type?: string): string[] {
  return [...new Set(steps.filter((s) => s.op !== "same" && (type === undefined || s.type === type)).map((s) => s.name))];
}

export interface UpReport {
  ok: boolean;
  error?: string;
  /**
   * What the run shows at pulumi's default verbosity: its events but the debug diagnostics, and its stderr. (The
   * `--json` stream also carries the Node SDK's debug messages, which hold every resource's outputs in plaintext,
   * secrets included: see README, Known limits.)
   */
  printed: string;
  steps: Step[];
  remoteRuns: number;
  durationMs: number;
}

/**
 * `pulumi up --yes --skip-preview --json ARGS` of the stack, from its stack file (prepared first: cloud, tenant,
 * config; `secretKeys` stored encrypted, as `pulumi config set --secret` stores them).
 */
export async function realUp(
  L: StackLayout,
  stackFile: string,
  opts: { log?: (l: string) => void; args?: string[]; secretKeys?: string[] } = {},
): Promise<UpReport> {
  const log = opts.log ?? (() => undefined);
  const args = opts.args ?? [];
  const env = await prepareRealStack(L, stackFile, log, { secretKeys: opts.secretKeys });
  const t0 = Date.now();
  const r = await runPulumi(L, env, ["up", "--yes", "--skip-preview", "--json", ...args], (l) => log(l));
  const durationMs = Date.now() - t0;
  let steps: Step[] = [];
  try {
    steps = eventSteps(r.stdout);
  } catch (e) {
    return { ok: false, error: `${(e as Error).message}\n${r.stderr.slice(-2000)}`, printed: r.stderr, steps, remoteRuns: 0, durationMs };
  }
  const report = { steps, remoteRuns: remoteRuns(steps), durationMs, printed: `${shown(r.stdout)}\n${r.stderr}` };
  return r.code === 0 ? { ok: true, ...report } : { ok: false, error: eventErrors(r), ...report };
}

function envOf(L: StackLayout): Record<string, string> {
  const env = stackEnv(L);
  if (!env) throw new RealStackError(`lab stack ${L.stack} was never brought up: npm run lab -- up --stack ${L.stack}`);
  return env;
}

/** The stack's outputs (`pulumi stack output --json`), secrets shown unless `showSecrets` is false ("[secret]"). */
export async function stackOutputs(L: StackLayout, showSecrets = true): Promise<Record<string, Json>> {
  const r = await runPulumi(L, envOf(L), ["stack", "output", "--json", ...(showSecrets ? ["--show-secrets"] : [])]);
  if (r.code !== 0) throw new RealStackError(`pulumi stack output (stack ${L.stack}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Record<string, Json>;
}

/** The stack's checkpoint, secrets shown (`pulumi stack export --show-secrets`). */
export async function stackExport(L: StackLayout): Promise<{ deployment: { resources?: Json[] } }> {
  const r = await runPulumi(L, envOf(L), ["stack", "export", "--show-secrets"]);
  if (r.code !== 0) throw new RealStackError(`pulumi stack export (stack ${L.stack}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as { deployment: { resources?: Json[] } };
}

/**
 * `npm run audit` over the stack's own checkpoint (`pulumi stack export --show-secrets`), from the operator's
 * namespace, where pulumi runs: every host against what the stack applied. Resolves with the audit's exit code.
 */
export async function auditStack(L: StackLayout, opts: { repair?: boolean; json?: boolean; write: (text: string) => void }): Promise<number> {
  const resources = fromStackExport(await stackExport(L));
  if (resources.length === 0) throw new RealStackError(`lab stack ${L.stack} has no resources: run npm run lab -- up first`);
  const tmpRoot = path.join(L.dir, "tmp");
  mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  return auditFleet(resources, {
    wrap: (cmd) => inNs(CLOUD_NS, cmd),
    tmpRoot,
    repair: opts.repair ?? false,
    json: opts.json ?? false,
    repairHint: "npm run lab -- audit --repair",
    write: opts.write,
  });
}

/**
 * `npm run recover` (scripts/recover.ts) for a lab stack, as a user runs it: in the cloud's namespace, with the
 * stack's CLI environment and OpenStack credentials, its config file passed to `pulumi refresh`.
 */
export async function recoverStack(L: StackLayout, opts: { dryRun?: boolean } = {}): Promise<{ code: number; printed: string }> {
  const env = stackEnv(L);
  if (!env) throw new RealStackError(`lab stack ${L.stack} is not prepared: run npm run lab -- up first`);
  const R = realStack(L);
  const tsx = path.join(REPO_ROOT, "node_modules", ".bin", "tsx");
  const argv = [tsx, path.join(REPO_ROOT, "scripts", "recover.ts"), "--stack", R.stack, "--config-file", R.configFile, ...(opts.dryRun ? ["--dry-run"] : [])];
  const r = await runAsync(inNs(CLOUD_NS, argv), { env: { ...process.env, ...env }, timeoutMs: 600_000 });
  return { code: r.code, printed: r.stdout + r.stderr };
}

/** A Nova server of the stack and the host the lab hypervisor booted for it (lab/hypervisor/cli.ts, guest.json). */
export interface Guest extends HostRecord {
  id: string;
  status: string;
  addresses: Record<string, string[]>;
}

/** The stack's servers by name, as Nova reports them, each with its hypervisor host. */
export function stackGuests(L: StackLayout): Record<string, Guest> {
  const tenant = tenantOf(L.dir);
  if (!tenant || !cloudRunning()) return {};
  const out: Record<string, Guest> = {};
  for (const s of projectObjects(tenant.project).servers) {
    const f = path.join(cloudDir(), "hosts", s.id, "guest.json");
    if (!existsSync(f)) continue;
    out[s.name] = { ...(JSON.parse(readFileSync(f, "utf8")) as HostRecord), id: s.id, status: s.status, addresses: s.addresses };
  }
  return out;
}

export function guestRunning(g: Guest): boolean {
  return containerInit(g) !== 0;
}

export interface StatusEntry {
  name: string;
  kind: "server" | "operator" | "laptop";
  role: string;
  netns: string;
  privateIp: string | null;
  publicIp: string | null;
  /** Nova's status of the server ("" for the operator and laptops). */
  status: string;
  sshdPid: number | null;
  running: boolean;
}

/** The stack's servers (in the config's order, from its `servers` output), the operator and the laptops. */
export function stackStatus(L: StackLayout, outputs: Record<string, Json>): StatusEntry[] {
  const guests = stackGuests(L);
  const servers = (outputs.servers ?? {}) as Record<string, { role: string; privateIp: string; publicIp?: string }>;
  const present = new Set(netnsList());
  return [
    ...Object.entries(servers).map(([name, s]): StatusEntry => {
      const g = guests[name];
      return {
        name,
        kind: "server",
        role: s.role,
        netns: g?.netns ?? "",
        privateIp: s.privateIp ?? null,
        publicIp: s.publicIp ?? null,
        status: g?.status ?? "missing",
        sshdPid: g ? sshdPid(g) : null,
        running: g ? guestRunning(g) : false,
      };
    }),
    {
      name: "operator",
      kind: "operator",
      role: "operator",
      netns: CLOUD_NS,
      privateIp: null,
      publicIp: OPERATOR_IP,
      status: "",
      sshdPid: null,
      running: present.has(CLOUD_NS),
    },
    ...LAPTOPS.map((l): StatusEntry => ({
      name: l,
      kind: "laptop",
      role: "engineer laptop",
      netns: L.laptopNs(l),
      privateIp: null,
      publicIp: LAPTOP_IPS[l],
      status: "",
      sshdPid: null,
      running: present.has(L.laptopNs(l)),
    })),
  ];
}

/** argv that runs CMD inside a server's host, the operator's namespace (fl-os, where the CLI runs) or a laptop. */
export function labExecArgv(L: StackLayout, host: string, cmd: string[]): string[] {
  if (host === "operator") return inNs(CLOUD_NS, cmd);
  if ((LAPTOPS as readonly string[]).includes(host)) {
    if (!netnsList().includes(L.laptopNs(host))) throw new RealStackError(`laptop ${host} of stack ${L.stack} is not there: npm run lab -- up makes it`);
    return inNs(L.laptopNs(host), cmd);
  }
  const g = stackGuests(L)[host];
  if (!g) throw new RealStackError(`stack ${L.stack} has no server ${JSON.stringify(host)} (see: npm run lab -- status --stack ${L.stack})`);
  if (!guestRunning(g)) throw new RealStackError(`server ${host}'s host is not running (Nova says ${g.status})`);
  return hostArgv(g, cmd);
}

/** Hard-reboots a server through Nova's API and waits until Nova has it ACTIVE again. */
export function rebootServer(L: StackLayout, server: string): void {
  const tenant = tenantOf(L.dir);
  if (!tenant) throw new RealStackError(`lab stack ${L.stack} has no tenant: bring it up first`);
  const r = adminPython("reboot_server.py", [tenant.project, server]);
  if (r.code !== 0) throw new RealStackError(`reboot ${server}: ${r.stderr.trim().split("\n").slice(-3).join("\n")}`);
}

/**
 * Takes the stack down: `pulumi destroy` while its state exists, then whatever the project still holds in the cloud
 * (purged through the API), the engineers' laptops, and the stack's lab directory with every key and password in
 * it. Safe twice, and without state.
 */
export async function realDown(L: StackLayout, log: (l: string) => void = () => undefined): Promise<{ existed: boolean; destroyed: boolean; purged: number }> {
  // A stack the lab never made has no directory, no project in the cloud and no laptops.
  const existed = existsSync(L.dir);
  let destroyed = false;
  const env = stackEnv(L);
  if (env && cloudRunning()) {
    const r = await runPulumi(L, env, ["destroy", "--yes", "--skip-preview"], log);
    destroyed = r.code === 0;
  }
  const purged = purgeTenant(L.stack).before;
  removeLaptops(L);
  rmSync(L.dir, { recursive: true, force: true });
  return { existed: existed || purged > 0, destroyed, purged };
}
