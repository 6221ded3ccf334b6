import { FleetConfig } from "../../components/config/types";
import { SSH_PORT } from "../../components/firewall/policy";
import { firewallInputFromConfig } from "../../components/fleet/policy-input";
import { compareFlows, Flow, flowDelta, formatRange, planModel, PlanOptions, PlanServer } from "./model";

/**
 * What a pull request changes, reviewer's view: flows, servers, engineers, deploys.
 * Every change carries a risk level; the list is sorted riskiest first.
 */

export type Risk = "high" | "medium" | "low";

export type ChangeKind =
  | "flow-opened"
  | "flow-closed"
  | "server-added"
  | "server-removed"
  | "server-changed"
  | "engineer-added"
  | "engineer-removed"
  | "revision-changed"
  | "setting-changed";

export interface Change {
  risk: Risk;
  kind: ChangeKind;
  /** One line a reviewer reads, e.g. `public -> web tcp 8443`. */
  subject: string;
  /** Why it has this risk. */
  reason: string;
  flow?: Flow;
}

const RISK_ORDER: Record<Risk, number> = { high: 0, medium: 1, low: 2 };
const KIND_ORDER: ChangeKind[] = [
  "flow-opened",
  "engineer-added",
  "server-added",
  "server-changed",
  "setting-changed",
  "revision-changed",
  "flow-closed",
  "server-removed",
  "engineer-removed",
];

const touchesSsh = (f: Flow) => f.proto === "tcp" && f.ports.from <= SSH_PORT && SSH_PORT <= f.ports.to;

function flowChanges(base: FleetConfig, head: FleetConfig): Change[] {
  const delta = flowDelta([firewallInputFromConfig(base), firewallInputFromConfig(head)]);
  // A flow implied by the same port open to the internet is reported once, as the public one.
  const opened = delta.filter((d) => !d.allowed[0] && d.allowed[1] && d.shown[1]).map((d) => d.flow);
  const closed = delta.filter((d) => d.allowed[0] && !d.allowed[1] && d.shown[0]).map((d) => d.flow);
  // SSH from the VPN is built in everywhere; a role the VPN reaches on anything else for the
  // first time is a new reach into the private network.
  const vpnReachedBefore = new Set(delta.filter((d) => d.flow.from === "vpn" && d.allowed[0] && !touchesSsh(d.flow)).map((d) => d.flow.to));
  const out: Change[] = [];
  for (const f of opened) {
    const subject = `${f.from} -> ${f.to} ${formatRange(f.proto, f.ports)}`;
    if (f.from === "public") out.push({ risk: "high", kind: "flow-opened", subject, reason: "a new port open to the internet", flow: f });
    else if (touchesSsh(f)) out.push({ risk: "high", kind: "flow-opened", subject, reason: "SSH reach changes", flow: f });
    else if (f.from === "vpn" && !vpnReachedBefore.has(f.to)) {
      out.push({ risk: "high", kind: "flow-opened", subject, reason: `role ${f.to} becomes reachable from the VPN beyond SSH`, flow: f });
    } else out.push({ risk: "medium", kind: "flow-opened", subject, reason: "a new allowed flow", flow: f });
  }
  for (const f of closed) {
    const subject = `${f.from} -> ${f.to} ${formatRange(f.proto, f.ports)}`;
    if (touchesSsh(f)) out.push({ risk: "medium", kind: "flow-closed", subject, reason: "SSH reach changes (check nobody is locked out)", flow: f });
    else out.push({ risk: "low", kind: "flow-closed", subject, reason: "traffic that worked will be dropped", flow: f });
  }
  return out;
}

function serverChanges(base: PlanServer[], head: PlanServer[]): Change[] {
  const out: Change[] = [];
  const before = new Map(base.map((s) => [s.name, s]));
  const after = new Map(head.map((s) => [s.name, s]));
  for (const s of head) {
    const old = before.get(s.name);
    const what = `${s.name} (${[s.role, s.privateIp, s.public ? "public" : undefined].filter(Boolean).join(", ")})`;
    if (!old) {
      out.push(
        s.public
          ? { risk: "high", kind: "server-added", subject: what, reason: "a new server with a public address" }
          : { risk: "medium", kind: "server-added", subject: what, reason: "a new server" },
      );
      continue;
    }
    const fields = (["role", "privateIp", "public", "flavor", "image"] as const).filter((k) => old[k] !== s[k]);
    if (fields.length === 0) continue;
    const detail = fields.map((k) => `${k} ${String(old[k] ?? "(from the cloud)")} -> ${String(s[k] ?? "(from the cloud)")}`).join(", ");
    const risk = s.public && !old.public ? "high" : "medium";
    const reason = s.public && !old.public ? "the server gets a public address" : "the server is changed or re-created";
    out.push({ risk, kind: "server-changed", subject: `${s.name}: ${detail}`, reason });
  }
  for (const s of base) {
    if (!after.has(s.name))
      out.push({
        risk: "medium",
        kind: "server-removed",
        subject: `${s.name} (${[s.role, s.privateIp].filter(Boolean).join(", ")})`,
        reason: "the server and its disk are destroyed",
      });
  }
  return out;
}

function listChanges(base: string[], head: string[]): { added: string[]; removed: string[] } {
  return { added: head.filter((x) => !base.includes(x)), removed: base.filter((x) => !head.includes(x)) };
}

function settingChanges(base: FleetConfig, head: FleetConfig): Change[] {
  const settings: [string, unknown, unknown][] = [
    ["fleet:network.cidr", base.network.cidr, head.network.cidr],
    ["fleet:vpn.subnet", base.vpn.subnet, head.vpn.subnet],
    ["fleet:vpn.port", `${base.vpn.proto} ${base.vpn.port}`, `${head.vpn.proto} ${head.vpn.port}`],
    ["fleet:vpn.adminCidrs", [...base.vpn.adminCidrs].sort().join(", "), [...head.vpn.adminCidrs].sort().join(", ")],
    ["fleet:cloud.flavour", base.cloud.flavour, head.cloud.flavour],
  ];
  return settings
    .filter(([, a, b]) => a !== b)
    .map(([key, a, b]) => ({
      risk: "medium" as const,
      kind: "setting-changed" as const,
      subject: `${key}: ${String(a)} -> ${String(b)}`,
      reason: "changes every server or every VPN client",
    }));
}

export function planDiff(base: FleetConfig, head: FleetConfig, opts: { base?: PlanOptions; head?: PlanOptions } = {}): Change[] {
  const b = planModel(base, opts.base);
  const h = planModel(head, opts.head);
  const out: Change[] = [...flowChanges(base, head), ...serverChanges(b.servers, h.servers), ...settingChanges(base, head)];
  const eng = listChanges(b.engineers, h.engineers);
  for (const e of eng.added)
    out.push({ risk: "high", kind: "engineer-added", subject: e, reason: "a new person gets a VPN certificate into the private network" });
  for (const e of eng.removed)
    out.push({ risk: "low", kind: "engineer-removed", subject: e, reason: "their certificate is no longer admitted; live sessions drop" });
  const revBefore = new Map(b.deploys.map((d) => [d.role, d]));
  const revAfter = new Map(h.deploys.map((d) => [d.role, d]));
  for (const role of [...new Set([...revBefore.keys(), ...revAfter.keys()])].sort()) {
    const x = revBefore.get(role);
    const y = revAfter.get(role);
    if (x?.revision === y?.revision && x?.source === y?.source && x?.app === y?.app) continue;
    const show = (d?: { app: string; revision: string }) => (d ? `${d.app}@${d.revision}` : "nothing");
    out.push({ risk: "medium", kind: "revision-changed", subject: `${role}: ${show(x)} -> ${show(y)}`, reason: "a rolling deploy runs on the role's servers" });
  }
  return sortChanges(out);
}

export function sortChanges(changes: Change[]): Change[] {
  return [...changes].sort(
    (a, b) =>
      RISK_ORDER[a.risk] - RISK_ORDER[b.risk] ||
      KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
      (a.flow && b.flow ? compareFlows(a.flow, b.flow) : 0) ||
      (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0),
  );
}
