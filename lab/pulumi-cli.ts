/**
 * The real `pulumi` CLI for a lab stack: the toolchain of scripts/toolchain.sh, a file backend and a passphrase
 * under the stack's lab directory, the stack's config in a file there (`--config-file`, so the repository's
 * Pulumi.<stack>.yaml is never written), the lab cloud's credentials as OS_* (as a user's come from clouds.yaml or
 * OS_*), and every run inside the cloud's namespace, where the OpenStack API is 127.0.0.1.
 */
import { randomBytes } from "crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { parse, stringify } from "yaml";
import { encryptedNote } from "../components/config/stack-yaml";
import { rawConfigFrom } from "../components/config/load";
import { parseFleetConfig } from "../components/config/validate";
import { FleetConfigError } from "../components/config/errors";
import { pulumiConfigProblems } from "../components/config/pulumi-env";
import { REPO_ROOT, StackLayout } from "./layout";
import { CLOUD_NS, cloud, cloudRunning, ensureTenant, tenantEnv, tenantSpec } from "./openstack";
import { runAsync, RunResult, runSync } from "./sh";
import { projectName, readStackConfig } from "../scripts/stack-file";

export class PulumiCliError extends Error {}

/** The environment that runs the toolchain with no downloads (`npm run toolchain -- --env`). */
export function toolchainEnv(): Record<string, string> {
  const r = runSync(["bash", path.join(REPO_ROOT, "scripts", "toolchain.sh"), "--env"]);
  if (r.code !== 0) {
    throw new PulumiCliError(
      "the Pulumi toolchain is not ready: npm run toolchain -- --src DIR (or FLEET_TOOLCHAIN_SRC) builds it; a pulumi on PATH at the SDK's version is used as it is",
    );
  }
  const env: Record<string, string> = {};
  for (const line of r.stdout.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

export interface RealStack {
  stack: string;
  /** Where `pulumi stack init` ran: a Pulumi.yaml naming the same project, and the stack's config file. */
  projectDir: string;
  configFile: string;
  backendDir: string;
  passphraseFile: string;
}

export function realStack(L: StackLayout): RealStack {
  const dir = path.join(L.dir, "pulumi");
  return {
    stack: L.stack,
    projectDir: path.join(dir, "project"),
    configFile: path.join(dir, "project", `Pulumi.${L.stack}.yaml`),
    backendDir: path.join(dir, "state"),
    passphraseFile: path.join(dir, "passphrase"),
  };
}

/** Every environment variable a lab `pulumi` run needs, but the cloud's credentials. */
function baseEnv(R: RealStack): Record<string, string> {
  return { ...toolchainEnv(), PULUMI_BACKEND_URL: `file://${R.backendDir}`, PULUMI_CONFIG_PASSPHRASE_FILE: R.passphraseFile };
}

/**
 * Makes the lab stack ready for the real CLI from a stack file: the cloud running, the stack's tenant, the stack
 * initialised in its own backend, its config file written from the stack file's `config:` (the same values, with
 * this stack's encryption salt). Returns the environment every `pulumi` run of the stack takes.
 */
export async function prepareRealStack(
  L: StackLayout,
  stackFile: string,
  log: (l: string) => void,
  opts: { secretKeys?: string[] } = {},
): Promise<Record<string, string>> {
  const project = projectName();
  // Secure values are encrypted with the source stack's key, which the lab's stack has not: they are left out.
  const { values: source, flat, encryptedKeys } = readStackConfig(stackFile, project);
  const note = encryptedNote(stackFile, encryptedKeys);
  if (note) log(`${note}\n`);
  let config;
  try {
    config = parseFleetConfig(rawConfigFrom(flat, project));
  } catch (e) {
    if (e instanceof FleetConfigError) throw new PulumiCliError(e.message);
    throw e;
  }
  // A config pulumi cannot hand to the program fails with only "argument list too long": say which key, first.
  const tooBig = pulumiConfigProblems(flat);
  if (tooBig.length) throw new PulumiCliError(`invalid stack config:\n  - ${tooBig.join("\n  - ")}`);
  const R = realStack(L);
  mkdirSync(R.projectDir, { recursive: true, mode: 0o700 });
  mkdirSync(R.backendDir, { recursive: true, mode: 0o700 });
  if (!existsSync(R.passphraseFile)) writeFileSync(R.passphraseFile, randomBytes(24).toString("base64url"), { mode: 0o600 });
  chmodSync(R.passphraseFile, 0o600);

  if (!cloudRunning()) {
    const code = await cloud("up", { log });
    if (code !== 0) throw new PulumiCliError("the lab's OpenStack did not start (see the lines above)");
  }
  const region = flat["openstack:region"] ?? "RegionOne";
  const tenant = ensureTenant(tenantSpec(L.stack, config, region), L.dir);
  const env = { ...baseEnv(R), ...tenant };

  if (!existsSync(R.configFile)) {
    copyFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), path.join(R.projectDir, "Pulumi.yaml"));
    const init = await pulumiIn(R, env, ["stack", "init", L.stack, "--cwd", R.projectDir, "--non-interactive"], () => undefined);
    if (init.code !== 0 && !/already exists/.test(init.stderr)) throw new PulumiCliError(`pulumi stack init ${L.stack}: ${init.stderr.trim()}`);
  }
  // Keys the stack keeps as secrets are set as a user sets them (`pulumi config set --secret`, the value on stdin):
  // encrypted in the config file, shown as [secret] by pulumi.
  const secretKeys = (opts.secretKeys ?? []).filter((k) => k in source);
  writeStackConfig(L, Object.fromEntries(Object.entries(source).filter(([k]) => !secretKeys.includes(k))));
  for (const key of secretKeys) {
    const v = source[key];
    const r = await pulumiIn(R, env, ["config", "set", "--secret", key], () => undefined, typeof v === "string" ? v : JSON.stringify(v));
    if (r.code !== 0) throw new PulumiCliError(`pulumi config set --secret ${key}: ${r.stderr.trim()}`);
  }
  return env;
}

/**
 * Writes a stack's config file (`config:` as a stack file has it), keeping the stack's encryption salt. Unchecked:
 * prepareRealStack checks first; a test may write a bad config on purpose, to see what the program says of it.
 */
export function writeStackConfig(L: StackLayout, config: Record<string, unknown>): void {
  const R = realStack(L);
  const current = existsSync(R.configFile) ? ((parse(readFileSync(R.configFile, "utf8")) ?? {}) as Record<string, unknown>) : {};
  const doc = { ...(current.encryptionsalt ? { encryptionsalt: current.encryptionsalt } : {}), config };
  writeFileSync(R.configFile, stringify(doc), { mode: 0o600 });
  chmodSync(R.configFile, 0o600);
}

/** The environment of a stack prepareRealStack made before (its backend and tenant), or undefined if none. */
export function stackEnv(L: StackLayout): Record<string, string> | undefined {
  const R = realStack(L);
  const tenant = tenantEnv(L.dir);
  if (!tenant || !existsSync(R.configFile)) return undefined;
  return { ...baseEnv(R), ...tenant };
}

/** argv of `pulumi ARGS` for the stack, inside the cloud's namespace. */
export function pulumiArgv(R: RealStack, args: string[]): string[] {
  const global = args[0] === "stack" && args[1] === "init";
  const stackArgs = global ? [] : ["--stack", R.stack];
  // `stack output`, `stack export`, `cancel` take no config file.
  const takesConfig = !global && !["stack", "cancel"].includes(args[0]);
  return ["ip", "netns", "exec", CLOUD_NS, "pulumi", ...args, ...stackArgs, ...(takesConfig ? ["--config-file", R.configFile] : [])];
}

/** `pulumi ARGS` for a lab stack, its output streamed to `log` as it comes; an up takes as long as it takes. */
function pulumiIn(R: RealStack, env: Record<string, string>, args: string[], log: (l: string) => void, input?: string): Promise<RunResult> {
  return runAsync(pulumiArgv(R, args), { cwd: REPO_ROOT, env, input, onOutput: log, timeoutMs: 0 });
}

/** Runs `pulumi ARGS` for a prepared lab stack (see prepareRealStack), streaming its output to `log`. */
export function runPulumi(L: StackLayout, env: Record<string, string>, args: string[], log: (l: string) => void = () => undefined): Promise<RunResult> {
  return pulumiIn(realStack(L), env, args, log);
}
