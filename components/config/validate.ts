import { fleetConfigSchema, ParsedFleetConfig, RawFleetConfig } from "./schema";
import { FleetConfigError, keyPath, show, valueAt } from "./errors";
import { FleetConfig, GATEWAY_ROLE, RoleSpec, ServerSpec } from "./types";
import { cidrsOverlap, isCidr, isIpv4, serverAddress, serverCapacity } from "../network/addressing";
import { PortRange } from "../model";
import { policyErrors } from "../firewall/policy";
import { resolveSource } from "../deploy/source";
import { DeployConfigError } from "../deploy/errors";

const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ROLE_NAME = /^[a-z][a-z0-9-]{0,15}$/;
/** Safe as an X.509 CN, an OpenVPN ccd file name and a profile file name. */
const ENGINEER = /^[a-z][a-z0-9_-]{0,31}$/;
const RESERVED_SOURCES = ["vpn", "public"];

/**
 * Parses and checks the whole stack config. Pure: throws FleetConfigError listing
 * every problem (key path + bad value) before any resource could be registered.
 */
export function parseFleetConfig(raw: RawFleetConfig | Record<string, unknown>): FleetConfig {
  const parsed = fleetConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FleetConfigError(
      parsed.error.issues.map((i) => {
        const value = valueAt(raw, i.path);
        const got = i.code === "unrecognized_keys" ? "" : ` (got ${show(value)})`;
        return `${keyPath(i.path)}: ${i.message}${got}`;
      }),
    );
  }
  const problems: string[] = [];
  const c = parsed.data;
  const roles = normaliseRoles(c, problems);
  checkServers(c, roles, problems);
  checkNetworks(c, problems);
  checkEngineers(c, problems);
  checkDeploy(c, roles, problems);
  if (problems.length > 0) throw new FleetConfigError(problems);

  const servers: ServerSpec[] = c.servers.map((s, i) => {
    const role = roles[s.role];
    return {
      name: s.name,
      role: s.role,
      flavor: s.flavor ?? role.flavor ?? c.cloud.flavor,
      image: s.image ?? role.image ?? c.cloud.image,
      privateIp: serverAddress(c.network.cidr, i),
      public: role.public,
    };
  });
  return {
    cloud: c.cloud,
    network: c.network,
    roles,
    servers,
    vpn: c.vpn,
    firewall: c.firewall,
    deploy: c.deploy,
    gatewayRole: GATEWAY_ROLE,
  };
}

function parsePorts(ports: (number | string)[], where: ReadonlyArray<PropertyKey>, problems: string[]): PortRange[] {
  const out: PortRange[] = [];
  ports.forEach((p, i) => {
    if (typeof p === "number") {
      out.push({ from: p, to: p });
      return;
    }
    const [a, b] = p.split("-").map(Number);
    if (a < 1 || b > 65535 || a > b) {
      problems.push(`${keyPath([...where, i])}: must be a range "from-to" within 1–65535 with from <= to (got ${show(p)})`);
      return;
    }
    out.push({ from: a, to: b });
  });
  return out;
}

function normaliseRoles(c: ParsedFleetConfig, problems: string[]): Record<string, RoleSpec> {
  const roles: Record<string, RoleSpec> = {};
  const defined = { ...c.roles };
  // The gateway role is built in; config may only tune its flavor/image or add rules.
  if (!defined[GATEWAY_ROLE]) defined[GATEWAY_ROLE] = { public: true, allow: [] };
  for (const [name, r] of Object.entries(defined).sort(([a], [b]) => a.localeCompare(b))) {
    if (!ROLE_NAME.test(name) || RESERVED_SOURCES.includes(name)) {
      problems.push(
        `fleet:roles.${name}: a role name must be lowercase letters, digits and "-", at most 16 characters, and not "vpn" or "public" (got ${show(name)})`,
      );
      continue;
    }
    if (name === GATEWAY_ROLE && c.roles[name] && c.roles[name].public === false) {
      problems.push(`fleet:roles.${name}.public: the gateway is always public (got false)`);
    }
    roles[name] = {
      public: name === GATEWAY_ROLE ? true : (r.public ?? false),
      flavor: r.flavor,
      image: r.image,
      allow: r.allow.map((rule, i) => ({
        proto: rule.proto,
        from: rule.from,
        ports: parsePorts(rule.ports, ["roles", name, "allow", i, "ports"], problems),
      })),
    };
  }
  // Sources, port clashes and public ports on private roles: the firewall's own policy check.
  problems.push(...policyErrors(roles, { gatewayRole: GATEWAY_ROLE, vpn: { subnet: c.vpn.subnet, port: c.vpn.port, proto: c.vpn.proto } }));
  return roles;
}

function checkServers(c: ParsedFleetConfig, roles: Record<string, RoleSpec>, problems: string[]): void {
  if (c.servers.length === 0) {
    problems.push(`fleet:servers: must list at least one server (got [])`);
    return;
  }
  const seen = new Map<string, number>();
  c.servers.forEach((s, i) => {
    if (!HOSTNAME.test(s.name)) {
      problems.push(
        `fleet:servers[${i}].name: ${show(s.name)} is not a valid hostname (lowercase letters, digits and "-", 1–63 characters, not starting or ending with "-")`,
      );
    }
    const first = seen.get(s.name);
    if (first !== undefined) problems.push(`fleet:servers[${i}].name: ${show(s.name)} is already the name of fleet:servers[${first}]`);
    else seen.set(s.name, i);
    if (!roles[s.role] && ROLE_NAME.test(s.role)) {
      problems.push(`fleet:servers[${i}].role: role ${show(s.role)} is not defined in fleet:roles (defined: ${Object.keys(roles).join(", ")})`);
    } else if (!roles[s.role]) {
      problems.push(`fleet:servers[${i}].role: ${show(s.role)} is not a valid role name`);
    }
  });
  const gateways = c.servers.filter((s) => s.role === GATEWAY_ROLE).length;
  if (gateways !== 1) {
    problems.push(`fleet:servers: exactly one server must have role "${GATEWAY_ROLE}", the VPN gateway and jump host (found ${gateways})`);
  }
}

function checkNetworks(c: ParsedFleetConfig, problems: string[]): void {
  const cidrOk = isCidr(c.network.cidr);
  if (!cidrOk) problems.push(`fleet:network.cidr: not an IPv4 network in CIDR form like 10.20.0.0/24 (got ${show(c.network.cidr)})`);
  else if (serverCapacity(c.network.cidr) < c.servers.length) {
    problems.push(
      `fleet:network.cidr: ${c.network.cidr} is too small for ${c.servers.length} servers (it fits ${serverCapacity(c.network.cidr)}; servers start at the 10th address)`,
    );
  }
  const vpnOk = isCidr(c.vpn.subnet);
  if (!vpnOk) problems.push(`fleet:vpn.subnet: not an IPv4 network in CIDR form like 10.8.0.0/24 (got ${show(c.vpn.subnet)})`);
  if (cidrOk && vpnOk && cidrsOverlap(c.network.cidr, c.vpn.subnet)) {
    problems.push(`fleet:vpn.subnet: ${c.vpn.subnet} overlaps fleet:network.cidr ${c.network.cidr}; the VPN needs its own range`);
  }
  c.vpn.adminCidrs.forEach((a, i) => {
    if (!isCidr(a)) problems.push(`fleet:vpn.adminCidrs[${i}]: not an IPv4 network in CIDR form (got ${show(a)})`);
  });
  c.vpn.dns.forEach((a, i) => {
    if (!isIpv4(a)) problems.push(`fleet:vpn.dns[${i}]: not an IPv4 address (got ${show(a)})`);
  });
  c.network.dnsNameservers.forEach((a, i) => {
    if (!isIpv4(a)) problems.push(`fleet:network.dnsNameservers[${i}]: not an IPv4 address (got ${show(a)})`);
  });
}

function checkEngineers(c: ParsedFleetConfig, problems: string[]): void {
  const seen = new Set<string>();
  c.vpn.engineers.forEach((e, i) => {
    if (!ENGINEER.test(e)) {
      problems.push(
        `fleet:vpn.engineers[${i}]: ${show(e)} is not safe as a certificate CN and file name (lowercase letter first, then letters, digits, "_" or "-", at most 32)`,
      );
    } else if (seen.has(e)) problems.push(`fleet:vpn.engineers[${i}]: ${show(e)} is listed twice`);
    seen.add(e);
  });
}

function checkDeploy(c: ParsedFleetConfig, roles: Record<string, RoleSpec>, problems: string[]): void {
  if (!c.deploy) return;
  c.deploy.roles.forEach((r, i) => {
    if (!roles[r]) problems.push(`fleet:deploy.roles[${i}]: role ${show(r)} is not defined in fleet:roles`);
    else if (c.servers.length > 0 && !c.servers.some((s) => s.role === r)) problems.push(`fleet:deploy.roles[${i}]: no server has role ${show(r)}`);
  });
  // The deploy component's own source check (URL schemes, SHA/tag revisions, a readable local tree).
  try {
    resolveSource(c.deploy.app, c.deploy.source);
  } catch (e) {
    if (!(e instanceof DeployConfigError)) throw e;
    problems.push(`fleet:deploy.source: ${e.message.replace(/^deploy [^:]*: /, "")} (got ${show(c.deploy.source)})`);
  }
}
