/**
 * cloud-init, as far as it matters for the fleet, applied to a lab host in the
 * order cloud-init runs its modules: bootcmd, write_files, users/groups, ssh
 * (host keys, authorized keys), sshd starts, packages (checked, not installed),
 * runcmd, deferred write_files; then the status files `cloud-init status --wait`
 * reads, so readiness checks behave as on a cloud image.
 */
import { parse } from "yaml";
import { gunzipSync } from "zlib";
import { HostRecord, hostExec, startSshd } from "./hosts";
import { RunResult } from "./sh";

export class CloudInitError extends Error {}

type Cfg = Record<string, unknown>;

/** Single-quotes one word for sh; what cloud-init's shlex-join does for list entries. */
export function shQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function parseUserData(host: string, userData: string | undefined): Cfg {
  if (!userData || userData.trim() === "") return {};
  if (userData.startsWith("#!")) return { runcmd: [userData] };
  if (!userData.startsWith("#cloud-config")) {
    throw new CloudInitError(`instance ${host}: user-data is neither #cloud-config nor a #! script`);
  }
  let doc: unknown;
  try {
    doc = parse(userData);
  } catch (e) {
    throw new CloudInitError(`instance ${host}: user-data is not valid YAML: ${(e as Error).message}`);
  }
  if (doc !== null && (typeof doc !== "object" || Array.isArray(doc))) {
    throw new CloudInitError(`instance ${host}: #cloud-config must be a mapping`);
  }
  return (doc ?? {}) as Cfg;
}

function packageName(p: unknown): string {
  if (typeof p === "string") return p;
  if (Array.isArray(p) && typeof p[0] === "string") return p[0];
  throw new CloudInitError(`packages entry ${JSON.stringify(p)} is not a name or [name, version]`);
}

/** Packages come from Debian on the machine: all must already be installed. */
export async function checkPackages(host: string, cfg: Cfg, dpkgStatus: (pkg: string) => Promise<boolean>): Promise<void> {
  const pkgs = ((cfg.packages as unknown[]) ?? []).map(packageName);
  const missing: string[] = [];
  for (const p of pkgs) if (!(await dpkgStatus(p))) missing.push(p);
  if (missing.length > 0) {
    throw new CloudInitError(
      `instance ${host}: cloud-init packages not installed on this machine: ${missing.join(", ")}: apt-get install -y ${missing.join(" ")}`,
    );
  }
}

/** A command entry as a line of sh: strings verbatim, lists quoted word by word. */
function scriptLine(entry: unknown): string {
  if (typeof entry === "string") return entry;
  if (Array.isArray(entry)) return entry.map((w) => shQuote(String(w))).join(" ");
  throw new CloudInitError(`command entry ${JSON.stringify(entry)} is neither a string nor a list`);
}

interface WriteFile {
  path: string;
  content?: string;
  encoding?: string;
  permissions?: string | number;
  owner?: string;
  append?: boolean;
  defer?: boolean;
}

function decodeContent(f: WriteFile): Buffer {
  const raw = f.content ?? "";
  switch ((f.encoding ?? "text").toLowerCase()) {
    case "b64":
    case "base64":
      return Buffer.from(raw, "base64");
    case "gz":
    case "gzip":
      return gunzipSync(Buffer.from(raw, "binary"));
    case "gz+b64":
    case "gzip+base64":
    case "gz+base64":
    case "gzip+b64":
      return gunzipSync(Buffer.from(raw, "base64"));
    case "text":
      return Buffer.from(raw, "utf8");
    default:
      throw new CloudInitError(`write_files ${f.path}: unknown encoding ${f.encoding}`);
  }
}

const DISABLE_ROOT_OPTS =
  'no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command="echo \'Please login as the user \\"NONE\\" rather than the user \\"root\\".\';echo;sleep 10;exit 142"';

const USER_NAME = /^[a-z_][a-z0-9_-]*\$?$/;

/** Everything below runs inside the host (its mount namespace) with argv, never a spliced command line. */
class Host {
  constructor(readonly rec: HostRecord) {}

  async sh(script: string, args: string[] = [], input?: string): Promise<RunResult> {
    return hostExec(this.rec, ["sh", "-c", script, "sh", ...args], input);
  }

  async must(argv: string[], input?: string): Promise<string> {
    const r = await hostExec(this.rec, argv, input);
    if (r.code !== 0) throw new CloudInitError(`host ${this.rec.name}: ${argv.join(" ")} failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async writeFile(file: string, content: Buffer | string, mode: string, owner = "root:root", append = false): Promise<void> {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content, "utf8");
    const r = await hostExec(
      this.rec,
      [
        "sh",
        "-c",
        'set -e; umask 022; mkdir -p -- "$(dirname -- "$1")"; umask 077; if [ "$2" = 1 ]; then base64 -d >>"$1"; else base64 -d >"$1"; fi; chmod "$3" -- "$1"; chown "$4" -- "$1"',
        "sh",
        file,
        append ? "1" : "0",
        mode,
        owner,
      ],
      data.toString("base64"),
    );
    if (r.code !== 0) throw new CloudInitError(`host ${this.rec.name}: write_files ${file}: ${r.stderr.trim()}`);
  }

  async home(user: string): Promise<{ home: string; group: string }> {
    const line = (await this.must(["getent", "passwd", user])).trim();
    const fields = line.split(":");
    const group = (await this.must(["id", "-gn", user])).trim();
    return { home: fields[5], group };
  }

  async authorize(user: string, keys: string[], options?: string): Promise<void> {
    if (keys.length === 0) return;
    const { home, group } = await this.home(user);
    const lines = keys.map((k) => (options ? `${options} ${k.trim()}` : k.trim())).join("\n") + "\n";
    await this.must(["install", "-d", "-m", "0700", "-o", user, "-g", group, `${home}/.ssh`]);
    await this.writeFile(`${home}/.ssh/authorized_keys`, lines, "0600", `${user}:${group}`, true);
  }

  async log(text: string): Promise<void> {
    await this.writeFile("/var/log/cloud-init-output.log", text, "0640", "root:root", true);
  }

  /** Runs a list of commands as one sh script, like cloud-init's runcmd/bootcmd; returns an error text or undefined. */
  async script(kind: string, entries: unknown[]): Promise<string | undefined> {
    if (entries.length === 0) return undefined;
    const body = `#!/bin/sh\n${entries.map(scriptLine).join("\n")}\n`;
    const file = `/var/lib/cloud/instance/scripts/${kind}`;
    await this.writeFile(file, body, "0700");
    const r = await hostExec(this.rec, [file], undefined, 600_000);
    await this.log(r.stdout + r.stderr);
    if (r.code !== 0) return `${kind} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-2000)}`;
    return undefined;
  }
}

async function createUser(h: Host, u: Cfg): Promise<void> {
  const name = String(u.name ?? "");
  if (!USER_NAME.test(name)) throw new CloudInitError(`host ${h.rec.name}: users entry has a bad name ${JSON.stringify(u.name)}`);
  const groups = typeof u.groups === "string" ? u.groups.split(",").map((g) => g.trim()) : ((u.groups as string[]) ?? []);
  for (const g of groups) {
    if ((await hostExec(h.rec, ["getent", "group", g])).code !== 0) await h.must(["groupadd", g]);
  }
  const exists = (await hostExec(h.rec, ["getent", "passwd", name])).code === 0;
  if (!exists) {
    const argv = ["useradd", "-m"];
    if (u.shell) argv.push("-s", String(u.shell));
    if (u.homedir) argv.push("-d", String(u.homedir));
    if (u.gecos) argv.push("-c", String(u.gecos));
    if (u.system) argv.push("--system");
    if (u.uid !== undefined) argv.push("-u", String(u.uid));
    if (groups.length > 0) argv.push("-G", groups.join(","));
    argv.push(name);
    await h.must(argv);
  } else if (groups.length > 0) {
    await h.must(["usermod", "-a", "-G", groups.join(","), name]);
  }
  if (u.lock_passwd !== false) await h.must(["usermod", "--lock", name]);
  const sudo = typeof u.sudo === "string" ? [u.sudo] : Array.isArray(u.sudo) ? (u.sudo as string[]) : [];
  if (sudo.length > 0) {
    await h.writeFile("/etc/sudoers.d/90-cloud-init-users", sudo.map((s) => `${name} ${s}\n`).join(""), "0440", "root:root", true);
  }
  await h.authorize(name, (u.ssh_authorized_keys as string[]) ?? []);
}

const HOST_KEY_TYPES = ["rsa", "ecdsa", "ed25519"];

async function sshModule(h: Host, cfg: Cfg): Promise<void> {
  const keys = cfg.ssh_keys as Record<string, string> | undefined;
  if (keys && Object.keys(keys).length > 0) {
    if (cfg.ssh_deletekeys !== false) await h.sh("rm -f /etc/ssh/ssh_host_*key*");
    for (const t of HOST_KEY_TYPES) {
      if (keys[`${t}_private`]) await h.writeFile(`/etc/ssh/ssh_host_${t}_key`, `${keys[`${t}_private`].trim()}\n`, "0600");
      if (keys[`${t}_public`]) await h.writeFile(`/etc/ssh/ssh_host_${t}_key.pub`, `${keys[`${t}_public`].trim()}\n`, "0644");
      if (keys[`${t}_certificate`]) await h.writeFile(`/etc/ssh/ssh_host_${t}_key-cert.pub`, `${keys[`${t}_certificate`].trim()}\n`, "0644");
    }
  } else {
    if (cfg.ssh_deletekeys !== false) await h.sh("rm -f /etc/ssh/ssh_host_*key*");
    const types = (cfg.ssh_genkeytypes as string[]) ?? HOST_KEY_TYPES;
    for (const t of types) await h.must(["ssh-keygen", "-q", "-t", t, "-N", "", "-f", `/etc/ssh/ssh_host_${t}_key`]);
  }
  if (typeof cfg.ssh_pwauth === "boolean") {
    await h.writeFile("/etc/ssh/sshd_config.d/50-cloud-init.conf", `PasswordAuthentication ${cfg.ssh_pwauth ? "yes" : "no"}\n`, "0600");
  }
  // Top-level keys go to root too: plain, or with a "please log in as" stub when disable_root (the default) is set.
  const topKeys = (cfg.ssh_authorized_keys as string[]) ?? [];
  await h.authorize("root", topKeys, cfg.disable_root === false ? undefined : DISABLE_ROOT_OPTS);
}

function statusJson(start: number, errors: string[]): { status: string; result: string } {
  const stage = (errs: string[]) => ({ errors: errs, start, finished: Date.now() / 1000 });
  const v1 = {
    datasource: "DataSourceNone [lab]",
    "init-local": stage([]),
    init: stage([]),
    "modules-config": stage([]),
    "modules-final": stage(errors),
    stage: null,
  };
  return {
    status: JSON.stringify({ v1 }, null, 1),
    result: JSON.stringify({ v1: { datasource: v1.datasource, errors } }, null, 1),
  };
}

/**
 * A later boot: cloud-init runs bootcmd on every boot (runcmd only on the first),
 * then sshd starts and the status files are written again (/run is fresh).
 */
export async function rebootHost(rec: HostRecord, userData: string | undefined): Promise<BootResult> {
  const started = Date.now() / 1000;
  const cfg = parseUserData(rec.name, userData);
  const h = new Host(rec);
  const errors: string[] = [];
  const e = await h.script("bootcmd", (cfg.bootcmd as unknown[]) ?? []);
  if (e) errors.push(e);
  await startSshd(rec);
  const st = statusJson(started, errors);
  await h.writeFile("/run/cloud-init/status.json", st.status, "0644");
  await h.writeFile("/run/cloud-init/result.json", st.result, "0644");
  return { errors };
}

export interface BootResult {
  /** Module failures, as `cloud-init status` reports them; the instance still boots. */
  errors: string[];
}

/**
 * Boots a lab host from its user-data. Bad user-data or missing packages throw
 * (the lab's way to say the stack cannot work here); a failing runcmd is
 * recorded like cloud-init does, so `cloud-init status --wait` exits non-zero.
 */
export async function bootHost(rec: HostRecord, userData: string | undefined, dpkgStatus: (pkg: string) => Promise<boolean>): Promise<BootResult> {
  const started = Date.now() / 1000;
  const cfg = parseUserData(rec.name, userData);
  await checkPackages(rec.name, cfg, dpkgStatus);
  const h = new Host(rec);
  const errors: string[] = [];
  const note = (e: string | undefined) => {
    if (e) errors.push(e);
  };
  note(await h.script("bootcmd", (cfg.bootcmd as unknown[]) ?? []));
  const files = (cfg.write_files as WriteFile[]) ?? [];
  const perms = (f: WriteFile) => (typeof f.permissions === "number" ? f.permissions.toString(8) : (f.permissions ?? "0644"));
  for (const f of files.filter((x) => !x.defer)) await h.writeFile(f.path, decodeContent(f), perms(f), f.owner ?? "root:root", f.append === true);
  for (const g of (cfg.groups as (string | Cfg)[]) ?? []) {
    const name = typeof g === "string" ? g : Object.keys(g)[0];
    if ((await hostExec(rec, ["getent", "group", name])).code !== 0) await h.must(["groupadd", name]);
  }
  for (const u of (cfg.users as (string | Cfg)[]) ?? []) {
    if (u === "default" || (typeof u === "object" && u.name === "default")) continue;
    await createUser(h, typeof u === "string" ? { name: u } : u);
  }
  await sshModule(h, cfg);
  await startSshd(rec);
  note(await h.script("runcmd", (cfg.runcmd as unknown[]) ?? []));
  for (const f of files.filter((x) => x.defer)) await h.writeFile(f.path, decodeContent(f), perms(f), f.owner ?? "root:root", f.append === true);
  const st = statusJson(started, errors);
  await h.writeFile("/run/cloud-init/status.json", st.status, "0644");
  await h.writeFile("/run/cloud-init/result.json", st.result, "0644");
  return { errors };
}
