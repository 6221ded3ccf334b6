/**
 * What @pulumi/command does on `create`/`delete`, done with the OpenSSH client: pinned host key
 * (StrictHostKeyChecking yes against a known_hosts holding exactly that key), key auth, one optional jump host with
 * its own key and pin, stdin fed, exit status and output returned. The audit uses it on real stacks; the lab runs
 * every remote command of an `up` through it.
 */
import { createPrivateKey } from "crypto";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import * as path from "path";
import { privateOpenssh } from "./openssh-key";
import { runAsync, RunResult } from "../process";

export class SshConnectionError extends Error {}

export interface SshEndpoint {
  host: string;
  port?: number;
  user?: string;
  privateKey?: string;
  privateKeyPassword?: string;
  password?: string;
  hostKey?: string;
  dialErrorLimit?: number;
}

export interface SshConnection extends SshEndpoint {
  proxy?: SshEndpoint;
}

const HOST = /^[A-Za-z0-9][A-Za-z0-9.:-]*$/;
const USER = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const HOST_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|rsa-sha2-(256|512)) [A-Za-z0-9+/]+=*(\s.*)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A key the OpenSSH client can read: OpenSSH format as is, any PEM converted (the Go client reads both). */
function clientKey(where: string, key: string, passphrase?: string): string {
  if (key.includes("BEGIN OPENSSH PRIVATE KEY")) {
    if (passphrase) throw new SshConnectionError(`${where}: encrypted OpenSSH keys are not supported`);
    return key.endsWith("\n") ? key : `${key}\n`;
  }
  try {
    return privateOpenssh(createPrivateKey({ key, passphrase }));
  } catch (e) {
    throw new SshConnectionError(`${where}: privateKey is not a readable private key: ${(e as Error).message}`);
  }
}

function endpointBlock(alias: string, e: SshEndpoint, where: string, dir: string, jump?: string): { config: string[]; files: Record<string, string> } {
  if (!e.host || !HOST.test(e.host)) throw new SshConnectionError(`${where}: bad host ${JSON.stringify(e.host)}`);
  const user = e.user ?? "root";
  if (!USER.test(user)) throw new SshConnectionError(`${where}: bad user ${JSON.stringify(user)}`);
  const port = Number(e.port ?? 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SshConnectionError(`${where}: bad port ${JSON.stringify(e.port)}`);
  if (!e.hostKey) throw new SshConnectionError(`${where}: no hostKey: unpinned connections are refused`);
  const hostKey = e.hostKey.trim();
  if (!HOST_KEY.test(hostKey)) throw new SshConnectionError(`${where}: hostKey is not an OpenSSH public key line`);
  if (e.password && !e.privateKey) throw new SshConnectionError(`${where}: password authentication is not supported; use privateKey`);
  if (!e.privateKey) throw new SshConnectionError(`${where}: no privateKey (no SSH agent is used)`);
  const [type, blob] = hostKey.split(/\s+/);
  const known = port === 22 ? e.host : `[${e.host}]:${port}`;
  const files = {
    [`${alias}.key`]: clientKey(where, e.privateKey, e.privateKeyPassword),
    [`${alias}.known`]: `${known} ${type} ${blob}\n`,
  };
  const config = [
    `Host ${alias}`,
    `  HostName ${e.host}`,
    `  Port ${port}`,
    `  User ${user}`,
    `  IdentityFile ${path.join(dir, `${alias}.key`)}`,
    `  UserKnownHostsFile ${path.join(dir, `${alias}.known`)}`,
    ...(jump ? [`  ProxyJump ${jump}`] : []),
  ];
  return { config, files };
}

const COMMON = [
  "Host *",
  "  StrictHostKeyChecking yes",
  "  GlobalKnownHostsFile /dev/null",
  "  CheckHostIP no",
  "  UpdateHostKeys no",
  "  BatchMode yes",
  "  IdentitiesOnly yes",
  "  PasswordAuthentication no",
  "  ConnectTimeout 10",
  "  ServerAliveInterval 15",
  "  LogLevel ERROR",
];

export interface RemoteRun {
  /** Wraps the ssh argv, e.g. to run the client in another network namespace; none: run it as is. */
  wrap?: (argv: string[]) => string[];
  /** Where temporary key files go (0700, removed afterwards). */
  tmpRoot: string;
  connection: SshConnection;
  command: string;
  stdin?: string;
  environment?: Record<string, string>;
  where: string;
  timeoutMs?: number;
}

const DIAL_FAILURE =
  /ssh: connect to host|Connection refused|Connection timed out|No route to host|kex_exchange_identification|Connection closed by .* port|Network is unreachable/;

/** Answers from a reachable server: dialing again cannot help. */
const FINAL = /Host key verification failed|IDENTIFICATION HAS CHANGED|Permission denied|Too many authentication failures/;

/**
 * Writes the client config for a connection (keys, pinned host keys, the jump host) into `dir` and returns the ssh
 * argv up to the destination: append `--` and a command, or options such as `-N -L` before it.
 */
export function sshArgv(connection: SshConnection, dir: string, where: string, environment: Record<string, string> = {}): string[] {
  const jump = connection.proxy ? endpointBlock("fleet-proxy", connection.proxy, `${where} (proxy)`, dir) : undefined;
  const target = endpointBlock("fleet-target", connection, where, dir, jump ? "fleet-proxy" : undefined);
  const env = Object.entries(environment).map(([k, v]) => {
    if (!ENV_NAME.test(k) || /["\n\\]/.test(v)) throw new SshConnectionError(`${where}: environment ${k} cannot be passed`);
    return `  SetEnv ${k}="${v}"`;
  });
  const config = [...target.config, ...env, ...(jump?.config ?? []), ...COMMON, ""].join("\n");
  for (const [name, content] of Object.entries({ ...target.files, ...(jump?.files ?? {}), config })) {
    writeFileSync(path.join(dir, name), content, { mode: 0o600 });
  }
  return ["ssh", "-F", path.join(dir, "config"), "fleet-target"];
}

export async function runRemote(r: RemoteRun): Promise<RunResult> {
  const dir = mkdtempSync(path.join(r.tmpRoot, "ssh-"));
  try {
    const ssh = [...sshArgv(r.connection, dir, r.where, r.environment), "--", r.command];
    const argv = r.wrap ? r.wrap(ssh) : ssh;
    const limit = Math.max(1, Math.min(r.connection.dialErrorLimit ?? 10, 20));
    for (let attempt = 1; ; attempt++) {
      const res = await runAsync(argv, { input: r.stdin ?? "", timeoutMs: r.timeoutMs ?? 1_800_000 });
      if (res.code !== 255 || !DIAL_FAILURE.test(res.stderr) || FINAL.test(res.stderr) || attempt >= limit) return res;
      await new Promise((ok) => setTimeout(ok, 500));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
