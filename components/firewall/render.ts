import { createHash } from "crypto";
import { HostFacts, PortRange, RolePolicy, VpnSettings } from "../model";
import { canonicalCidr, Family, familyOf, sortAddresses } from "../network/addressing";
import { FirewallInputError } from "./errors";
import { effectiveRules, EffectiveRule, policyErrors, SourceRef, sourceRoles } from "./policy";

/**
 * ipset hash:net rejects a /0 prefix, so "everywhere" becomes its two halves.
 * Everything else passes through canonicalised.
 */
export function ipsetNets(cidr: string): string[] {
  const c = canonicalCidr(cidr);
  if (!c) throw new FirewallInputError(`not a CIDR: ${JSON.stringify(cidr)}`);
  if (c.cidr === "0.0.0.0/0") return ["0.0.0.0/1", "128.0.0.0/1"];
  if (c.cidr === "::/0") return ["::/1", "8000::/1"];
  return [c.cidr];
}

/**
 * Pure renderer: policy + the servers' addresses -> per host an `ipset restore` file
 * and iptables-restore / ip6tables-restore files.
 *
 * Design (see docs in components/firewall/README.md):
 * - Allow-lists are ipsets, so a host's rule count depends on its role's policy, never on the fleet size.
 * - We own FLEET-* chains only. Files are loaded with `--noflush`, which flushes just the chains a file
 *   declares, so Docker's / fail2ban's chains survive. The built-in INPUT/FORWARD chains are declared
 *   only to set their policy (noflush does not flush built-ins).
 * - The jumps into our chains are `-I <builtin> 1 -j FLEET-…` lines. On a host that already has the jump
 *   the apply/boot scripts drop that line before loading (see firewall-lib.sh), so re-applying never
 *   duplicates it, while the file stays self-contained for a plain full restore (netfilter-persistent).
 */

export interface FirewallInput {
  hosts: HostFacts[];
  roles: Record<string, RolePolicy>;
  gatewayRole: string;
  vpn: VpnSettings;
  /** The private network (IPv4 CIDR) the gateway forwards VPN traffic into. */
  privateCidr: string;
  /** Who may reach the gateway's SSH directly. */
  adminCidrs: string[];
  /** Masquerade VPN traffic into the private network (for hosts without a route back to the VPN subnet). */
  nat?: boolean;
}

export interface HostFirewall {
  /** `ipset restore` input: `create`/`add` lines, sets before the rules that use them. */
  ipsets: string;
  rulesV4: string;
  rulesV6: string;
  /** Short sha256 of the three files: the applied-rules identity. */
  hash: string;
}

export const CHAIN_INPUT = "FLEET-INPUT";
export const CHAIN_FORWARD = "FLEET-FWD";
export const CHAIN_DROP = "FLEET-DROP";
export const CHAIN_NAT = "FLEET-POSTROUTING";

/** Fixed sizes: `ipset create -exist` only tolerates an existing set created with identical options. */
const SET_OPTS = "hashsize 1024 maxelem 65536";
const LOG_LIMIT = "-m limit --limit 10/min --limit-burst 20";
const PING_LIMIT = "-m limit --limit 20/second --limit-burst 50";
/** iptables multiport takes at most 15 ports, a range counting as two. */
const MULTIPORT_MAX = 15;

export function roleSetName(role: string, family: Family): string {
  return family === 4 ? `fleet-r-${role}` : `fleet-r6-${role}`;
}

export function netSetName(name: "vpn" | "admin", family: Family): string {
  return family === 4 ? `fleet-n-${name}` : `fleet-n6-${name}`;
}

interface SetDef {
  name: string;
  type: "hash:ip" | "hash:net";
  family: Family;
  members: string[];
}

/** Everything derived from the fleet once, so rendering N hosts costs O(N) each, not a re-validation. */
export interface PreparedFleet {
  input: FirewallInput;
  byName: Map<string, HostFacts>;
  roleMembers: Map<string, { v4: string[]; v6: string[] }>;
  vpnNets: { v4: string[]; v6: string[] };
  adminNets: { v4: string[]; v6: string[] };
  privateCidr: string;
  vpnSubnet: { family: Family; cidr: string };
  setText: Map<string, string>;
}

function inputProblems(input: FirewallInput): string[] {
  const problems = policyErrors(input.roles, { gatewayRole: input.gatewayRole, vpn: input.vpn });
  const priv = canonicalCidr(input.privateCidr);
  if (!priv || priv.family !== 4) problems.push(`fleet:network.cidr: not an IPv4 CIDR: ${JSON.stringify(input.privateCidr)}`);
  if (!canonicalCidr(input.vpn.subnet)) problems.push(`fleet:vpn.subnet: not a CIDR: ${JSON.stringify(input.vpn.subnet)}`);
  input.adminCidrs.forEach((c, i) => {
    if (!canonicalCidr(c)) problems.push(`fleet:vpn.adminCidrs[${i}]: not a CIDR: ${JSON.stringify(c)}`);
  });
  const seen = new Set<string>();
  for (const h of input.hosts) {
    if (seen.has(h.name)) problems.push(`server "${h.name}": the name is used twice`);
    seen.add(h.name);
    if (!(h.role in input.roles)) problems.push(`server "${h.name}": unknown role "${h.role}"`);
    if (familyOf(h.privateIp) !== 4 || h.privateIp.includes("/"))
      problems.push(`server "${h.name}": privateIp is not an IPv4 address: ${JSON.stringify(h.privateIp)}`);
    if (h.privateIp6 !== undefined && (familyOf(h.privateIp6) !== 6 || h.privateIp6.includes("/"))) {
      problems.push(`server "${h.name}": privateIp6 is not an IPv6 address: ${JSON.stringify(h.privateIp6)}`);
    }
  }
  return problems;
}

function split(cidrs: string[]): { v4: string[]; v6: string[] } {
  const nets = cidrs.flatMap(ipsetNets);
  return {
    v4: sortAddresses(nets.filter((n) => familyOf(n) === 4)),
    v6: sortAddresses(nets.filter((n) => familyOf(n) === 6)),
  };
}

/** Validates once (throws FirewallInputError naming every bad key/host) and indexes the fleet. */
export function prepareFleet(input: FirewallInput): PreparedFleet {
  const problems = inputProblems(input);
  if (problems.length > 0) throw new FirewallInputError(`invalid firewall input:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  const roleMembers = new Map<string, { v4: string[]; v6: string[] }>();
  for (const role of Object.keys(input.roles)) roleMembers.set(role, { v4: [], v6: [] });
  for (const h of input.hosts) {
    const m = roleMembers.get(h.role)!;
    m.v4.push(h.privateIp);
    if (h.privateIp6) m.v6.push(h.privateIp6);
  }
  for (const m of roleMembers.values()) {
    m.v4 = sortAddresses(m.v4);
    m.v6 = sortAddresses(m.v6);
  }
  // With NAT, VPN traffic reaches the hosts from the gateway's own address, so the gateway
  // counts as VPN wherever the VPN is allowed (the matrix models the same).
  const gatewayIps = input.nat
    ? input.hosts.filter((h) => h.role === input.gatewayRole).flatMap((h) => [h.privateIp, ...(h.privateIp6 ? [h.privateIp6] : [])])
    : [];
  return {
    input,
    byName: new Map(input.hosts.map((h) => [h.name, h])),
    roleMembers,
    vpnNets: split([input.vpn.subnet, ...gatewayIps]),
    adminNets: split(input.adminCidrs),
    privateCidr: canonicalCidr(input.privateCidr)!.cidr,
    vpnSubnet: canonicalCidr(input.vpn.subnet)!,
    setText: new Map(),
  };
}

function setsFor(fleet: PreparedFleet, rules: EffectiveRule[]): SetDef[] {
  const sets: SetDef[] = [];
  const roles = new Set<string>();
  let admin = false;
  for (const r of rules) {
    for (const s of r.from) {
      if (s.kind === "role") roles.add(s.role);
      if (s.kind === "admin") admin = true;
    }
  }
  for (const family of [4, 6] as Family[]) {
    const pick = (m: { v4: string[]; v6: string[] }) => (family === 4 ? m.v4 : m.v6);
    for (const role of roles) sets.push({ name: roleSetName(role, family), type: "hash:ip", family, members: pick(fleet.roleMembers.get(role)!) });
    // The VPN set exists on every host: the SSH failsafe uses it.
    sets.push({ name: netSetName("vpn", family), type: "hash:net", family, members: pick(fleet.vpnNets) });
    if (admin) sets.push({ name: netSetName("admin", family), type: "hash:net", family, members: pick(fleet.adminNets) });
  }
  return sets.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function renderSets(fleet: PreparedFleet, sets: SetDef[]): string {
  let out = "";
  for (const s of sets) {
    // A set's text is the same on every host that uses it: render it once per fleet.
    let text = fleet.setText.get(s.name);
    if (text === undefined) {
      const lines = [`create ${s.name} ${s.type} family ${s.family === 4 ? "inet" : "inet6"} ${SET_OPTS}`];
      for (const m of s.members) lines.push(`add ${s.name} ${m}`);
      text = lines.join("\n") + "\n";
      fleet.setText.set(s.name, text);
    }
    out += text;
  }
  return out;
}

function sourceMatch(s: SourceRef, family: Family): string | undefined {
  switch (s.kind) {
    case "role":
      return `-m set --match-set ${roleSetName(s.role, family)} src`;
    case "vpn":
      return `-m set --match-set ${netSetName("vpn", family)} src`;
    case "admin":
      return `-m set --match-set ${netSetName("admin", family)} src`;
    case "public":
      return undefined;
  }
}

/** Port ranges as `--dport`/`--dports` arguments, chunked to multiport's 15-slot limit. */
export function portMatches(proto: string, ports: PortRange[]): string[] {
  const sorted = [...ports].sort((a, b) => a.from - b.from || a.to - b.to);
  if (sorted.length === 1) {
    const r = sorted[0];
    return [`-p ${proto} --dport ${r.from === r.to ? r.from : `${r.from}:${r.to}`}`];
  }
  const chunks: string[][] = [];
  let cur: string[] = [];
  let used = 0;
  for (const r of sorted) {
    const cost = r.from === r.to ? 1 : 2;
    if (used + cost > MULTIPORT_MAX) {
      chunks.push(cur);
      cur = [];
      used = 0;
    }
    cur.push(r.from === r.to ? `${r.from}` : `${r.from}:${r.to}`);
    used += cost;
  }
  chunks.push(cur);
  return chunks.map((c) => `-p ${proto} -m multiport --dports ${c.join(",")}`);
}

function sourceKey(s: SourceRef): string {
  return s.kind === "role" ? `role:${s.role}` : s.kind;
}

function allowLines(rules: EffectiveRule[], family: Family): string[] {
  const out: string[] = [];
  for (const rule of rules) {
    const sources = [...rule.from].sort((a, b) => (sourceKey(a) < sourceKey(b) ? -1 : sourceKey(a) > sourceKey(b) ? 1 : 0));
    for (const src of sources) {
      for (const ports of portMatches(rule.proto, rule.ports)) {
        const m = sourceMatch(src, family);
        out.push(`-A ${CHAIN_INPUT} ${ports}${m ? ` ${m}` : ""} -m comment --comment "${rule.origin}" -j ACCEPT`);
      }
    }
  }
  return out;
}

const ICMP4_BASELINE = [
  `-A ${CHAIN_INPUT} -p icmp --icmp-type destination-unreachable -j ACCEPT`,
  `-A ${CHAIN_INPUT} -p icmp --icmp-type time-exceeded -j ACCEPT`,
  `-A ${CHAIN_INPUT} -p icmp --icmp-type parameter-problem -j ACCEPT`,
  `-A ${CHAIN_INPUT} -p icmp --icmp-type echo-request ${PING_LIMIT} -j ACCEPT`,
];

/**
 * RFC 4890 §4.4 for an end host. ND and MLD are untracked by conntrack, so they must be
 * accepted explicitly and before the INVALID drop; ND only with hop limit 255 (on-link).
 */
const ICMP6_BASELINE = [
  ...["destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem"].map(
    (t) => `-A ${CHAIN_INPUT} -p ipv6-icmp --icmpv6-type ${t} -j ACCEPT`,
  ),
  ...["router-solicitation", "router-advertisement", "neighbour-solicitation", "neighbour-advertisement", "redirect"].map(
    (t) => `-A ${CHAIN_INPUT} -p ipv6-icmp --icmpv6-type ${t} -m hl --hl-eq 255 -j ACCEPT`,
  ),
  // MLD (130-132, 143) comes from link-local sources; switches doing MLD snooping need it for ND.
  ...["130", "131", "132", "143"].map((t) => `-A ${CHAIN_INPUT} -s fe80::/10 -p ipv6-icmp --icmpv6-type ${t} -j ACCEPT`),
  `-A ${CHAIN_INPUT} -p ipv6-icmp --icmpv6-type echo-request ${PING_LIMIT} -j ACCEPT`,
  // DHCPv6 replies to a multicast solicit are not matched by conntrack.
  `-A ${CHAIN_INPUT} -s fe80::/10 -d fe80::/10 -p udp --sport 547 --dport 546 -j ACCEPT`,
];

function renderRules(fleet: PreparedFleet, host: HostFacts, rules: EffectiveRule[], family: Family): string {
  const { input } = fleet;
  const isGateway = host.role === input.gatewayRole;
  const L: string[] = [];
  L.push(`# fleet firewall for ${host.name} (role ${host.role}), IPv${family}. Generated; load with --noflush.`);
  L.push("*filter");
  L.push(":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]");
  L.push(`:${CHAIN_DROP} - [0:0]`, `:${CHAIN_FORWARD} - [0:0]`, `:${CHAIN_INPUT} - [0:0]`);
  L.push(`-I INPUT 1 -j ${CHAIN_INPUT}`, `-I FORWARD 1 -j ${CHAIN_FORWARD}`);
  L.push(`-A ${CHAIN_INPUT} -i lo -j ACCEPT`);
  L.push(`-A ${CHAIN_INPUT} -s ${family === 4 ? "127.0.0.0/8" : "::1/128"} -j DROP`);
  L.push(`-A ${CHAIN_INPUT} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`);
  if (family === 4) L.push(...ICMP4_BASELINE);
  else L.push(...ICMP6_BASELINE);
  L.push(`-A ${CHAIN_INPUT} -m conntrack --ctstate INVALID -j DROP`);
  L.push(...allowLines(rules, family));
  L.push(`-A ${CHAIN_INPUT} -j ${CHAIN_DROP}`);
  L.push(`-A ${CHAIN_DROP} ${LOG_LIMIT} -j LOG --log-prefix "fleet-drop: " --log-level 4`);
  // Fleet-internal senders get an immediate refusal (fast failures, clear probes); the internet gets silence.
  const vpnSet = netSetName("vpn", family);
  if (family === 4) {
    L.push(`-A ${CHAIN_DROP} -s ${fleet.privateCidr} -p tcp -j REJECT --reject-with tcp-reset`);
    L.push(`-A ${CHAIN_DROP} -s ${fleet.privateCidr} -j REJECT --reject-with icmp-admin-prohibited`);
  }
  L.push(`-A ${CHAIN_DROP} -p tcp -m set --match-set ${vpnSet} src -j REJECT --reject-with tcp-reset`);
  L.push(`-A ${CHAIN_DROP} -m set --match-set ${vpnSet} src -j REJECT --reject-with ${family === 4 ? "icmp-admin-prohibited" : "icmp6-adm-prohibited"}`);
  L.push(`-A ${CHAIN_DROP} -j DROP`);
  if (isGateway && fleet.vpnSubnet.family === family) {
    L.push(`-A ${CHAIN_FORWARD} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`);
    if (family === 4) L.push(`-A ${CHAIN_FORWARD} -i tun+ -s ${fleet.vpnSubnet.cidr} -d ${fleet.privateCidr} -j ACCEPT`);
  }
  L.push("COMMIT");
  if (isGateway && family === 4) {
    L.push("*nat", `:${CHAIN_NAT} - [0:0]`, `-I POSTROUTING 1 -j ${CHAIN_NAT}`);
    if (input.nat && fleet.vpnSubnet.family === 4) L.push(`-A ${CHAIN_NAT} -s ${fleet.vpnSubnet.cidr} -d ${fleet.privateCidr} -j MASQUERADE`);
    L.push("COMMIT");
  }
  return L.join("\n") + "\n";
}

function shortHash(parts: string[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex").slice(0, 16);
}

export function renderPrepared(fleet: PreparedFleet, hostName: string): HostFirewall {
  const host = fleet.byName.get(hostName);
  if (!host) throw new FirewallInputError(`no server named "${hostName}" in the fleet (known: ${[...fleet.byName.keys()].sort().join(", ")})`);
  const rules = effectiveRules(host.role, fleet.input.roles, fleet.input);
  const ipsets = renderSets(fleet, setsFor(fleet, rules));
  const rulesV4 = renderRules(fleet, host, rules, 4);
  const rulesV6 = renderRules(fleet, host, rules, 6);
  return { ipsets, rulesV4, rulesV6, hash: shortHash([ipsets, rulesV4, rulesV6]) };
}

export function renderHostFirewall(input: FirewallInput, hostName: string): HostFirewall {
  return renderPrepared(prepareFleet(input), hostName);
}

/**
 * The roles whose members' addresses a host of `role` has in its ruleset: the sources its rules admit, and with NAT
 * the gateway (VPN traffic arrives from its address). Rendering a host from these hosts alone gives its ruleset.
 */
export function rolesReadBy(role: string, policy: Omit<FirewallInput, "hosts">): string[] {
  const roles = new Set(sourceRoles(effectiveRules(role, policy.roles, { gatewayRole: policy.gatewayRole, vpn: policy.vpn })));
  if (policy.nat) roles.add(policy.gatewayRole);
  return [...roles].sort();
}

/** All hosts at once, validating once: what library users and the firewall bench use. */
export function renderFleetFirewalls(input: FirewallInput): Record<string, HostFirewall> {
  const fleet = prepareFleet(input);
  const out: Record<string, HostFirewall> = {};
  for (const name of [...fleet.byName.keys()].sort()) out[name] = renderPrepared(fleet, name);
  return out;
}

/** Rules a file adds (`-A`/`-I` lines): the number the issue caps at 40. */
export function ruleCount(rules: string): number {
  return rules.split("\n").filter((l) => l.startsWith("-A ") || l.startsWith("-I ")).length;
}
