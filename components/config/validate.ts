import { z } from "zod";
import { ParsedFleetConfig, RawFleetConfig, roleSchema, serverSchema, topLevelSchemas } from "./schema";
import { FleetConfigError, keyPath, show, valueAt } from "./errors";
import { describeIssue, nearest } from "./messages";
import { appEnvProblems } from "./app-env";
import { FleetConfig, GATEWAY_ROLE, RoleSpec, ServerSpec } from "./types";
import { cidrsOverlap, inServerRange, isCidr, isIpv4, parseCidr, serverCapacity, serverRange } from "../network/addressing";
import { PortRange } from "../model";
import { policyErrors, SSH_PORT } from "../firewall/policy";
import { resolveSource } from "../deploy/source";
import { DeployConfigError } from "../deploy/errors";

const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ROLE_NAME = /^[a-z][a-z0-9-]{0,15}$/;
/** Safe as an X.509 CN, an OpenVPN ccd file name and a profile file name. */
const ENGINEER = /^[a-z][a-z0-9_-]{0,31}$/;
const RESERVED_SOURCES = ["vpn", "public"];
/** Every top-level key under `fleet:`; appEnv is the app's secret environment. */
export const CONFIG_KEYS = [...Object.keys(topLevelSchemas), "appEnv"] as const;

type Server = ParsedFleetConfig["servers"][number];

/** What parsed, kept with its position so messages name the right key. */
interface Parsed {
  /** Each object key as parsed; after a problem in it, only the fields that parsed (see parseObject). */
  c: { [K in Exclude<keyof ParsedFleetConfig, "servers" | "roles">]?: Partial<NonNullable<ParsedFleetConfig[K]>> };
  /** Roles that parsed; `roleNames` also has those that did not (a reference to them is not "unknown"). */
  roles: ParsedFleetConfig["roles"];
  roleNames: string[];
  /** [index in fleet:servers, server] for every server that parsed. */
  servers: [number, Server][];
  /** How many entries fleet:servers has, parsed or not (undefined when it is not a list). */
  serverCount?: number;
  /** Raw roles of the servers, parsed or not, for the gateway count. */
  serverRoles: unknown[];
}

/**
 * Parses and checks the whole stack config. Pure: throws FleetConfigError listing every problem
 * (key path, bad value, what to write) in one pass. Each top-level key, each server and each role
 * is parsed on its own, and the cross-field checks run on whatever parsed, so a type error in one
 * place never hides a problem in another. `appEnv` (a secret) is checked without echoing values.
 */
export function parseFleetConfig(raw: RawFleetConfig): FleetConfig {
  const problems: string[] = [];
  const input: RawFleetConfig = raw && typeof raw === "object" && !Array.isArray(raw) ? raw : {};
  for (const key of Object.keys(input)) {
    if ((CONFIG_KEYS as readonly string[]).includes(key)) continue;
    const near = nearest(key, CONFIG_KEYS);
    problems.push(`fleet:${key}: unknown config key${near ? `; did you mean fleet:${near}?` : ""} (known: ${CONFIG_KEYS.join(", ")})`);
  }
  const p = parseParts(input, problems);
  if (input.appEnv !== undefined) problems.push(...appEnvProblems(input.appEnv));
  const roles = normaliseRoles(p, problems);
  checkServers(p, roles, problems);
  checkNetworks(p, problems);
  checkVpn(p, problems);
  checkPorts(p, problems);
  checkDeploy(p, roles, problems);
  checkRetire(p, problems);
  if (problems.length > 0) throw new FleetConfigError(problems);

  // No problems means every key parsed whole.
  const c = p.c as unknown as ParsedFleetConfig;
  const servers: ServerSpec[] = p.servers.map(([, s]) => {
    const role = roles[s.role];
    return {
      name: s.name,
      role: s.role,
      flavor: s.flavor ?? role.flavor ?? c.cloud.flavor,
      image: s.image ?? role.image ?? c.cloud.image,
      ...(s.privateIp !== undefined ? { privateIp: s.privateIp } : {}),
      ...(role.volume ? { volume: role.volume } : {}),
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
    retire: c.retire ?? [],
    gatewayRole: GATEWAY_ROLE,
  };
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, root: unknown, path: PropertyKey[], problems: string[]): T | undefined {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  for (const issue of r.error.issues) problems.push(...describeIssue(issue, root, path, schema));
  return undefined;
}

/**
 * An object key that failed as a whole is parsed again field by field (problems were already reported),
 * so the fields that are fine still take part in the cross-field checks. The result is marked partial.
 */
function parseObject<T>(schema: z.ZodType<T>, value: unknown, root: unknown, path: PropertyKey[], problems: string[]): T | undefined {
  const whole = parseWith(schema, value, root, path, problems);
  if (whole !== undefined || value === null || typeof value !== "object" || Array.isArray(value)) return whole;
  let def = (schema as unknown as { _zod: { def: { innerType?: z.ZodType; shape?: Record<string, z.ZodType> } } })._zod.def;
  while (def.innerType) def = (def.innerType as unknown as { _zod: { def: typeof def } })._zod.def;
  if (!def.shape) return undefined;
  const partial: Record<string, unknown> = { [PARTIAL]: true };
  for (const [k, field] of Object.entries(def.shape)) {
    const r = field.safeParse((value as Record<string, unknown>)[k]);
    if (r.success) partial[k] = r.data;
  }
  return partial as T;
}
const PARTIAL = Symbol("partial");

function parseParts(raw: RawFleetConfig, problems: string[]): Parsed {
  const c: Parsed["c"] = {};
  c.cloud = parseObject(topLevelSchemas.cloud, raw.cloud, raw, ["cloud"], problems);
  c.network = parseObject(topLevelSchemas.network, raw.network, raw, ["network"], problems);
  c.vpn = parseObject(topLevelSchemas.vpn, raw.vpn, raw, ["vpn"], problems);
  c.firewall = parseObject(topLevelSchemas.firewall, raw.firewall, raw, ["firewall"], problems);
  if (raw.deploy !== undefined) c.deploy = parseObject(topLevelSchemas.deploy, raw.deploy, raw, ["deploy"], problems);
  c.retire = parseWith(topLevelSchemas.retire, raw.retire, raw, ["retire"], problems);

  const roles: ParsedFleetConfig["roles"] = {};
  const rolesRaw = parseWith(topLevelSchemas.roles, raw.roles, raw, ["roles"], problems) ?? {};
  for (const [name, r] of Object.entries(rolesRaw)) {
    const parsed = parseWith(roleSchema, r ?? {}, raw, ["roles", name], problems);
    if (parsed) roles[name] = parsed;
  }

  const servers: [number, Server][] = [];
  const serversRaw = parseWith(topLevelSchemas.servers, raw.servers, raw, ["servers"], problems);
  (serversRaw ?? []).forEach((s, i) => {
    const parsed = parseWith(serverSchema, s, raw, ["servers", i], problems);
    if (parsed) servers.push([i, parsed]);
  });
  const serverRoles = (serversRaw ?? []).map((s) => (s && typeof s === "object" ? (s as { role?: unknown }).role : undefined));
  return { c, roles, roleNames: Object.keys(rolesRaw), servers, serverCount: serversRaw?.length, serverRoles };
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

function normaliseRoles(p: Parsed, problems: string[]): Record<string, RoleSpec> {
  const roles: Record<string, RoleSpec> = {};
  const defined: ParsedFleetConfig["roles"] = { ...p.roles };
  // The gateway role is built in; config may only tune its flavor/image or add rules.
  if (!p.roleNames.includes(GATEWAY_ROLE)) defined[GATEWAY_ROLE] = { public: true, allow: [] };
  for (const name of p.roleNames) {
    if (!ROLE_NAME.test(name) || RESERVED_SOURCES.includes(name)) {
      problems.push(
        `fleet:roles.${name}: a role name must be lowercase letters, digits and "-", at most 16 characters, and not "vpn" or "public" (got ${show(name)})`,
      );
    }
  }
  for (const [name, r] of Object.entries(defined).sort(([a], [b]) => a.localeCompare(b))) {
    if (!ROLE_NAME.test(name) || RESERVED_SOURCES.includes(name)) continue;
    if (name === GATEWAY_ROLE && r.public === false) problems.push(`fleet:roles.${name}.public: the gateway is always public (got false)`);
    if (name === GATEWAY_ROLE && r.volume) problems.push(`fleet:roles.${name}.volume: the gateway keeps no data; give a volume to the role that does`);
    roles[name] = {
      public: name === GATEWAY_ROLE ? true : (r.public ?? false),
      flavor: r.flavor,
      image: r.image,
      ...(r.volume ? { volume: r.volume } : {}),
      allow: r.allow.map((rule, i) => ({
        proto: rule.proto,
        from: rule.from,
        ports: parsePorts(rule.ports, ["roles", name, "allow", i, "ports"], problems),
      })),
    };
  }
  // Roles that did not parse still exist as names: give them an empty policy for the reference checks.
  const forPolicy: Record<string, RoleSpec> = { ...roles };
  for (const name of p.roleNames) if (!forPolicy[name]) forPolicy[name] = { public: true, allow: [] };
  const v = p.c.vpn;
  const vpn = v?.subnet !== undefined && v.port !== undefined && v.proto !== undefined ? { subnet: v.subnet, port: v.port, proto: v.proto } : undefined;
  // Sources, port clashes and public ports on private roles: the firewall's own policy check.
  problems.push(...policyErrors(forPolicy, { gatewayRole: GATEWAY_ROLE, vpn }));
  return roles;
}

function checkServers(p: Parsed, roles: Record<string, RoleSpec>, problems: string[]): void {
  if (p.serverCount === 0) {
    problems.push(`fleet:servers: must list at least one server, the gateway, e.g. [{ name: gw-1, role: gateway }] (got [])`);
    return;
  }
  const known = new Set([...Object.keys(roles), ...p.roleNames]);
  const seen = new Map<string, number>();
  for (const [i, s] of p.servers) {
    if (!HOSTNAME.test(s.name)) {
      problems.push(
        `fleet:servers[${i}].name: ${show(s.name)} is not a valid hostname (lowercase letters, digits and "-", 1–63 characters, not starting or ending with "-")`,
      );
    }
    const first = seen.get(s.name);
    if (first !== undefined) problems.push(`fleet:servers[${i}].name: ${show(s.name)} is already the name of fleet:servers[${first}]`);
    else seen.set(s.name, i);
    if (!known.has(s.role) && ROLE_NAME.test(s.role)) {
      problems.push(`fleet:servers[${i}].role: role ${show(s.role)} is not defined in fleet:roles (defined: ${[...known].sort().join(", ")})`);
    } else if (!known.has(s.role)) {
      problems.push(`fleet:servers[${i}].role: ${show(s.role)} is not a valid role name`);
    }
  }
  if (p.serverCount === undefined) return;
  const gateways = p.serverRoles.filter((r) => r === GATEWAY_ROLE).length;
  if (gateways !== 1) {
    problems.push(`fleet:servers: exactly one server must have role "${GATEWAY_ROLE}", the VPN gateway and jump host (found ${gateways})`);
  }
}

/** fleet:retire names stateful servers leaving on purpose: hostnames, each once, none still in fleet:servers. */
function checkRetire(p: Parsed, problems: string[]): void {
  const listed = new Map(p.servers.map(([i, s]) => [s.name, i]));
  const seen = new Set<string>();
  ((p.c.retire ?? []) as string[]).forEach((name, i) => {
    const key = `fleet:retire[${i}]`;
    if (!HOSTNAME.test(name)) problems.push(`${key}: ${show(name)} is not a valid hostname`);
    else if (seen.has(name)) problems.push(`${key}: ${show(name)} is listed twice`);
    else if (listed.has(name)) {
      problems.push(`${key}: ${show(name)} is still fleet:servers[${listed.get(name)}]; remove it there to retire it, or from fleet:retire to keep it`);
    }
    seen.add(name);
  });
}

function checkNetworks(p: Parsed, problems: string[]): void {
  const { network, vpn } = p.c;
  const cidr = network?.cidr;
  const cidrOk = cidr !== undefined && isCidr(cidr);
  if (cidr !== undefined && !cidrOk) problems.push(`fleet:network.cidr: not an IPv4 network in CIDR form like 10.20.0.0/24 (got ${show(cidr)})`);
  else if (cidrOk && p.serverCount !== undefined && serverCapacity(cidr) < p.serverCount) {
    problems.push(`fleet:network.cidr: ${cidr} is too small for ${p.serverCount} servers (it fits ${serverCapacity(cidr)}; servers start at the 10th address)`);
  }
  const pinnedBy = new Map<string, number>();
  for (const [i, s] of p.servers) {
    if (s.privateIp === undefined) continue;
    const key = `fleet:servers[${i}].privateIp`;
    if (!isIpv4(s.privateIp)) problems.push(`${key}: not an IPv4 address (got ${show(s.privateIp)})`);
    else if (cidrOk && !inServerRange(cidr, s.privateIp)) {
      const r = serverRange(cidr);
      problems.push(`${key}: ${s.privateIp} is outside the servers' range of fleet:network.cidr ${cidr} (${r.start} to ${r.end})`);
    } else if (pinnedBy.has(s.privateIp)) problems.push(`${key}: ${s.privateIp} is already pinned by fleet:servers[${pinnedBy.get(s.privateIp)}]`);
    else pinnedBy.set(s.privateIp, i);
  }
  network?.dnsNameservers?.forEach((a, i) => {
    if (!isIpv4(a)) problems.push(`fleet:network.dnsNameservers[${i}]: not an IPv4 address (got ${show(a)})`);
  });
  if (!vpn) return;
  const subnet = vpn.subnet;
  const vpnOk = subnet !== undefined && isCidr(subnet);
  if (subnet !== undefined && !vpnOk) problems.push(`fleet:vpn.subnet: not an IPv4 network in CIDR form like 10.8.0.0/24 (got ${show(subnet)})`);
  if (cidrOk && vpnOk && cidrsOverlap(cidr, subnet)) {
    problems.push(`fleet:vpn.subnet: ${subnet} overlaps fleet:network.cidr ${cidr}; the VPN needs its own range`);
  }
  vpn.adminCidrs?.forEach((a, i) => {
    if (!isCidr(a)) problems.push(`fleet:vpn.adminCidrs[${i}]: not an IPv4 network in CIDR form, e.g. 203.0.113.7/32 (got ${show(a)})`);
  });
  vpn.dns?.forEach((a, i) => {
    if (!isIpv4(a)) problems.push(`fleet:vpn.dns[${i}]: not an IPv4 address (got ${show(a)})`);
  });
}

/** The OpenVPN server takes the subnet's first host address; clients share the rest (topology subnet). */
export function vpnClientCapacity(subnet: string): number {
  const a = parseCidr(subnet);
  if (!a) return 0;
  return Math.max(0, 2 ** (32 - a.subnetMask) - 3);
}

function checkVpn(p: Parsed, problems: string[]): void {
  const vpn = p.c.vpn;
  if (!vpn) return;
  const engineers = vpn.engineers ?? [];
  const seen = new Set<string>();
  engineers.forEach((e, i) => {
    if (!ENGINEER.test(e)) {
      problems.push(
        `fleet:vpn.engineers[${i}]: ${show(e)} is not safe as a certificate CN and file name (lowercase letter first, then letters, digits, "_" or "-", at most 32)`,
      );
    } else if (seen.has(e)) problems.push(`fleet:vpn.engineers[${i}]: ${show(e)} is listed twice`);
    seen.add(e);
  });
  const a = vpn.subnet === undefined ? undefined : parseCidr(vpn.subnet);
  if (a && (a.subnetMask > 29 || vpnClientCapacity(vpn.subnet!) < engineers.length)) {
    problems.push(
      `fleet:vpn.subnet: ${vpn.subnet} is too small for ${engineers.length} engineers (it has room for ${vpnClientCapacity(vpn.subnet!)} clients; ` +
        `a VPN subnet must be a /29 or larger, e.g. 10.8.0.0/24)`,
    );
  }
  if (vpn.earlyRenewalHours !== undefined && vpn.certValidityHours !== undefined && vpn.earlyRenewalHours >= vpn.certValidityHours) {
    problems.push(
      `fleet:vpn.earlyRenewalHours: ${vpn.earlyRenewalHours} must be below fleet:vpn.certValidityHours (${vpn.certValidityHours}), ` +
        `or every up would renew every certificate`,
    );
  }
}

/**
 * Ports that two things would both claim on a host: sshd has 22/tcp everywhere, OpenVPN has its port on the
 * gateway, the app has deploy.port on the deploy roles. Role rules may open the app's port (that is their
 * point) but never 22/tcp or the VPN port; those are policyErrors'.
 */
function checkPorts(p: Parsed, problems: string[]): void {
  const { vpn, deploy } = p.c;
  if (vpn && vpn.proto === "tcp" && vpn.port === SSH_PORT) {
    problems.push(`fleet:vpn.port: tcp 22 is the gateway's SSH port (sshd listens there); pick another, e.g. 1194 or 443`);
  }
  if (!deploy) return;
  if (deploy.port === SSH_PORT) {
    problems.push(`fleet:deploy.port: 22 is the SSH port on every host (sshd listens there); pick another, e.g. 8080`);
  } else if (vpn && vpn.proto === "tcp" && deploy.port === vpn.port && deploy.roles?.includes(GATEWAY_ROLE)) {
    problems.push(`fleet:deploy.port: ${deploy.port} is the gateway's VPN port (fleet:vpn.port, tcp); pick another`);
  }
}

function checkDeploy(p: Parsed, roles: Record<string, RoleSpec>, problems: string[]): void {
  const deploy = p.c.deploy;
  if (!deploy) return;
  const known = new Set([...Object.keys(roles), ...p.roleNames]);
  deploy.roles?.forEach((r, i) => {
    if (!known.has(r)) problems.push(`fleet:deploy.roles[${i}]: role ${show(r)} is not defined in fleet:roles`);
    else if (p.serverCount !== undefined && p.serverCount > 0 && !p.serverRoles.includes(r)) {
      problems.push(`fleet:deploy.roles[${i}]: no server has role ${show(r)}`);
    }
  });
  // The deploy component's own source check (URL schemes, SHA/tag revisions, a readable local tree).
  if (deploy.source === undefined) return;
  try {
    resolveSource(deploy.app ?? "app", deploy.source);
  } catch (e) {
    if (!(e instanceof DeployConfigError)) throw e;
    const kind = Object.keys(deploy.source)[0];
    problems.push(`fleet:deploy.source.${kind}: ${e.message.replace(/^deploy [^:]*: /, "")} (got ${show(valueAt(deploy.source, [kind]))})`);
  }
}
