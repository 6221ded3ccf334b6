import { Proto } from "../model";
import { alignColumns } from "../text/columns";
import { canonicalCidr, within } from "../network/addressing";
import { effectiveRules, EffectiveRule, SourceRef } from "./policy";
import { FirewallInput } from "./render";

/**
 * Who can reach what, computed from the policy model alone (never from the iptables
 * text), so the lab can hold the real rulesets to it. IPv4 view of the fleet.
 */
export interface MatrixEntry {
  /** A role, "vpn", "public", or "admin" (only listed when the admin CIDRs are not the whole internet). */
  from: string;
  /** Destination role. */
  to: string;
  proto: Proto;
  /** The first port of a run of ports every rule treats alike (one policy range, or the part of it no other splits). */
  port: number;
  /** The run's last port: equal to `port` for a single port. */
  toPort: number;
  allowed: boolean;
}

const EVERYWHERE = "0.0.0.0/0";

function adminIsEverywhere(input: FirewallInput): boolean {
  return input.adminCidrs.some((c) => canonicalCidr(c)?.cidr === EVERYWHERE);
}

/** Does `cidrs` contain every address a sender of kind `from` may use? */
function coveredBy(input: FirewallInput, from: string, cidrs: string[]): boolean {
  const inAny = (addr: string) => cidrs.some((c) => within(addr, c));
  if (from === "public") return cidrs.some((c) => canonicalCidr(c)?.cidr === EVERYWHERE);
  if (from === "admin") return true;
  if (from === "vpn") return inAny(input.vpn.subnet);
  const ips = input.hosts.filter((h) => h.role === from).map((h) => h.privateIp);
  return ips.length > 0 && ips.every(inAny);
}

function sourceAdmits(input: FirewallInput, src: SourceRef, from: string): boolean {
  switch (src.kind) {
    case "public":
      return true;
    case "role":
      return src.role === from;
    case "vpn":
      // With NAT the gateway's own address carries VPN traffic, so the gateway is let in as "vpn" too.
      return from === "vpn" || (input.nat === true && from === input.gatewayRole);
    case "admin":
      return coveredBy(input, from, input.adminCidrs);
  }
}

function rulesAllow(input: FirewallInput, rules: EffectiveRule[], from: string, proto: Proto, port: number): boolean {
  return rules.some((r) => r.proto === proto && r.ports.some((p) => p.from <= port && port <= p.to) && r.from.some((s) => sourceAdmits(input, s, from)));
}

/** May a sender of kind `from` open proto/port on hosts of role `to`? */
export function isAllowed(input: FirewallInput, from: string, to: string, proto: Proto, port: number): boolean {
  return rulesAllow(input, effectiveRules(to, input.roles, input), from, proto, port);
}

export function matrixSources(input: FirewallInput): string[] {
  const roles = Object.keys(input.roles).sort();
  return [...roles, "vpn", "public", ...(adminIsEverywhere(input) || input.adminCidrs.length === 0 ? [] : ["admin"])];
}

/**
 * The ports any role's policy names (22/tcp and the VPN port included), as runs every rule treats alike: a range is
 * one run unless another rule's range starts or ends inside it. Sorted by port, then proto.
 */
export function policySegments(input: FirewallInput): { proto: Proto; from: number; to: number }[] {
  const ranges = new Map<Proto, { from: number; to: number }[]>();
  for (const role of Object.keys(input.roles)) {
    for (const r of effectiveRules(role, input.roles, input)) ranges.set(r.proto, [...(ranges.get(r.proto) ?? []), ...r.ports]);
  }
  const out: { proto: Proto; from: number; to: number }[] = [];
  for (const [proto, rs] of ranges) {
    // A run starts at every range's first port and after every range's last; it lasts to the next such point.
    const cuts = [...new Set(rs.flatMap((r) => [r.from, r.to + 1]))].sort((a, b) => a - b);
    for (let i = 0; i + 1 < cuts.length; i++) {
      if (rs.some((r) => r.from <= cuts[i] && cuts[i] <= r.to)) out.push({ proto, from: cuts[i], to: cuts[i + 1] - 1 });
    }
  }
  return out.sort((a, b) => a.from - b.from || (a.proto < b.proto ? -1 : a.proto > b.proto ? 1 : 0));
}

/** Both ends of every run (policySegments): the ports to probe to hold hosts to the matrix. */
export function policyPorts(input: FirewallInput): { proto: Proto; port: number }[] {
  const seen = new Map<string, { proto: Proto; port: number }>();
  for (const seg of policySegments(input)) {
    for (const port of new Set([seg.from, seg.to])) seen.set(`${seg.proto}/${port}`, { proto: seg.proto, port });
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || (a.proto < b.proto ? -1 : a.proto > b.proto ? 1 : 0));
}

export function connectivityMatrix(input: FirewallInput): MatrixEntry[] {
  const segments = policySegments(input);
  const roles = Object.keys(input.roles).sort();
  const rulesOf = new Map(roles.map((r) => [r, effectiveRules(r, input.roles, input)]));
  const out: MatrixEntry[] = [];
  for (const from of matrixSources(input)) {
    for (const to of roles) {
      for (const { proto, from: port, to: toPort } of segments) {
        // Every port of a run is treated alike, so its first port speaks for it.
        out.push({ from, to, proto, port, toPort, allowed: rulesAllow(input, rulesOf.get(to)!, from, proto, port) });
      }
    }
  }
  return out;
}

/**
 * A text table: one row per (from, to), one column per port, "yes" / "-".
 * Deterministic, so it diffs cleanly in a PR report.
 */
export function formatMatrix(entries: MatrixEntry[]): string {
  if (entries.length === 0) return "(empty matrix)\n";
  const portKey = (e: MatrixEntry) => `${e.port === e.toPort ? e.port : `${e.port}–${e.toPort}`}/${e.proto}`;
  const cols = [...new Map(entries.map((e) => [portKey(e), e])).values()].sort((a, b) => a.port - b.port || (a.proto < b.proto ? -1 : 1)).map(portKey);
  const rows = new Map<string, Map<string, boolean>>();
  for (const e of entries) {
    const k = `${e.from}\u0000${e.to}`;
    if (!rows.has(k)) rows.set(k, new Map());
    rows.get(k)!.set(portKey(e), e.allowed);
  }
  const header = ["from", "to", ...cols];
  const body = [...rows.entries()].map(([k, cells]) => {
    const [from, to] = k.split("\u0000");
    return [from, to, ...cols.map((c) => (cells.get(c) === undefined ? " " : cells.get(c) ? "yes" : "-"))];
  });
  const rule = header.map((h, i) => "-".repeat(Math.max([...h].length, ...body.map((r) => [...r[i]].length))));
  return alignColumns([header, rule, ...body]);
}
