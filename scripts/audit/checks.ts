/**
 * What to audit on each host, read from the stack's own record of what it applied: every remote command's
 * connection (pinned host key included) and stdin bundle, and each instance's user data. Works on the lab's state
 * and on `pulumi stack export --show-secrets` alike, so the audit checks exactly what `pulumi up` last ran.
 */
import { unwrapSecrets } from "../../components/pulumi/secrets";
import { parse } from "yaml";
import { BundleFiles, decodeBundle, remoteScript } from "../../components/remote/bundle";
import { SSHD_DROP_IN } from "../../components/server/cloud-init";

export interface StateResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/** A remote command as recorded: what to run again for a repair. */
export interface RecordedCommand {
  name: string;
  connection: Record<string, unknown>;
  create: string;
  stdin: string;
}

export interface HostAudit {
  host: string;
  connection: Record<string, unknown>;
  /** The audit.sh bundle for this host (without main.sh/lib.sh). */
  files: BundleFiles;
  checks: string[];
  repairs: { firewall?: { apply: RecordedCommand; confirm: RecordedCommand }; vpn?: RecordedCommand; deploy?: RecordedCommand };
}

/** Resources of a `pulumi stack export` document (names from the URN's last part). */
export function fromStackExport(doc: unknown): StateResource[] {
  const resources = ((doc as { deployment?: { resources?: unknown[] } }).deployment?.resources ?? []) as Record<string, unknown>[];
  return resources.map((r) => ({
    type: String(r.type),
    name: String(r.urn).split("::").pop()!,
    inputs: unwrapSecrets(r.inputs ?? {}) as Record<string, unknown>,
  }));
}

function recorded(r: StateResource | undefined): RecordedCommand | undefined {
  if (!r || typeof r.inputs.create !== "string" || typeof r.inputs.stdin !== "string") return undefined;
  return { name: r.name, connection: r.inputs.connection as Record<string, unknown>, create: r.inputs.create, stdin: r.inputs.stdin };
}

/** The sshd drop-in the instance's cloud-config writes. */
function sshdFromUserData(userData: unknown): string | undefined {
  if (typeof userData !== "string") return undefined;
  const doc = parse(userData.replace(/^#cloud-config\n/, "")) as { write_files?: { path: string; content: string }[] } | null;
  return doc?.write_files?.find((f) => f.path === SSHD_DROP_IN)?.content;
}

/** One audit per server that has a `<host>-ready` command, by host name. */
export function planAudit(resources: StateResource[]): HostAudit[] {
  const commands = new Map(resources.filter((r) => r.type === "command:remote:Command").map((r) => [r.name, r]));
  const instances = new Map(resources.filter((r) => r.type === "openstack:compute/instance:Instance").map((r) => [r.name, r]));
  const vpn = [...commands.values()].find((r) => r.name.endsWith("-vpn-configure"));
  const hostOf = (c: unknown) => (c as { host?: string } | undefined)?.host;
  const out: HostAudit[] = [];
  // By name: the state's order is the order resources finished, which differs from run to run.
  const hosts = [...commands.keys()].filter((n) => n.endsWith("-ready")).map((n) => n.slice(0, -"-ready".length));
  for (const host of [...new Set(hosts)].sort()) {
    const ready = commands.get(`${host}-ready`);
    if (!ready) continue;
    const connection = ready.inputs.connection as Record<string, unknown>;
    const a: HostAudit = { host, connection, files: {}, checks: [], repairs: {} };
    const apply = recorded(commands.get(`${host}-firewall`));
    const confirm = recorded(commands.get(`${host}-firewall-confirm`));
    if (apply) {
      const b = decodeBundle(apply.stdin);
      Object.assign(a.files, {
        fw_ipsets: b.ipsets,
        "fw_rules.v4": b["rules.v4"],
        "fw_rules.v6": b["rules.v6"],
        "firewall-lib.sh": remoteScript("firewall-lib"),
      });
      a.checks.push("firewall");
      if (confirm) a.repairs.firewall = { apply, confirm };
    }
    const vpnCmd = recorded(vpn);
    if (vpnCmd && hostOf(vpnCmd.connection) === hostOf(connection)) {
      const b = decodeBundle(vpnCmd.stdin);
      Object.assign(a.files, { "vpn_fleet.conf": b["server.conf"], "vpn_allow-list": b["allow-list"] });
      a.checks.push("vpn");
      a.repairs.vpn = vpnCmd;
    }
    const sshd = sshdFromUserData(instances.get(host)?.inputs.userData);
    if (sshd !== undefined) {
      a.files.sshd_config = sshd;
      a.checks.push("sshd");
    }
    const activate = [...commands.values()].find((r) => new RegExp(`^[a-z][a-z0-9-]*-activate-${host}$`).test(r.name));
    const act = recorded(activate);
    if (act) {
      const b = decodeBundle(act.stdin);
      Object.assign(a.files, { app: b.app, release: b.release, health_url: b.health_url });
      a.checks.push("deploy");
      a.repairs.deploy = act;
    }
    out.push(a);
  }
  return out;
}

export interface CheckResult {
  check: string;
  inSync: boolean;
  detail: string;
}

/** audit.sh's lines; a check it did not report counts as drifted (the host could not tell). */
export function parseAudit(expected: string[], stdout: string): CheckResult[] {
  const seen = new Map<string, CheckResult>();
  for (const line of stdout.split("\n")) {
    const m = /^([a-z]+) (in-sync|drifted)(?:: (.*))?$/.exec(line.trim());
    if (m) seen.set(m[1], { check: m[1], inSync: m[2] === "in-sync", detail: m[3] ?? "" });
  }
  return expected.map((c) => seen.get(c) ?? { check: c, inSync: false, detail: "no answer from the host" });
}
