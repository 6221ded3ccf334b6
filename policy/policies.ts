import { PolicyResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { decodeBundle } from "../components/remote/bundle";

/**
 * The fleet's guardrails, checked by `pulumi preview --policy-pack policy` on every
 * resource the program registers. Each rule is a plain object so tests call it directly.
 */

const WORLD = new Set(["0.0.0.0/0", "::/0"]);
const SSH = 22;

export const SEC_GROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule";
export const NOVA_SEC_GROUP = "openstack:compute/secGroup:SecGroup";
export const REMOTE_COMMAND = "command:remote:Command";
export const COPY_TO_REMOTE = "command:remote:CopyToRemote";
export const INSTANCE = "openstack:compute/instance:Instance";
export const PORT = "openstack:networking/port:Port";
export const FIP_ASSOCIATE = "openstack:networking/floatingIpAssociate:FloatingIpAssociate";
export const NOVA_FIP_ASSOCIATE = "openstack:compute/floatingIpAssociate:FloatingIpAssociate";
/** Rackspace classic's public network: an instance attached to it has a public address. */
export const RACKSPACE_PUBLICNET = "00000000-0000-0000-0000-000000000000";
export const DEFAULT_PUBLIC_ROLES = ["gateway", "web"];

const coversSsh = (min: unknown, max: unknown) => {
  // OpenStack: no port range means every port.
  const lo = typeof min === "number" && min > 0 ? min : 1;
  const hi = typeof max === "number" && max > 0 ? max : 65535;
  return lo <= SSH && SSH <= hi;
};
const tcpOrAny = (proto: unknown) =>
  proto === undefined || proto === null || proto === "" || proto === "any" || String(proto).toLowerCase() === "tcp" || proto === "6";

export const noSshFromWorld: ResourceValidationPolicy = {
  name: "no-ssh-from-world",
  description: "No security-group rule opens SSH (tcp 22) to 0.0.0.0/0 or ::/0; reach SSH through the VPN or narrow fleet:vpn.adminCidrs.",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (args.type === SEC_GROUP_RULE) {
      const p = args.props;
      if (p.direction !== "ingress") return;
      // Neither a prefix nor a remote group: OpenStack admits every address.
      const remote = p.remoteIpPrefix ?? (p.remoteGroupId ? undefined : p.ethertype === "IPv6" ? "::/0" : "0.0.0.0/0");
      if (typeof remote === "string" && WORLD.has(remote) && tcpOrAny(p.protocol) && coversSsh(p.portRangeMin, p.portRangeMax)) {
        report(`security group rule ${args.name} opens SSH (tcp ${p.portRangeMin ?? "any"}-${p.portRangeMax ?? "any"}) to ${remote}`);
      }
    } else if (args.type === NOVA_SEC_GROUP) {
      for (const [i, r] of ((args.props.rules ?? []) as Record<string, unknown>[]).entries()) {
        if (typeof r.cidr === "string" && WORLD.has(r.cidr) && tcpOrAny(r.ipProtocol) && coversSsh(r.fromPort, r.toPort)) {
          report(`security group ${args.name} rules[${i}] opens SSH (tcp ${String(r.fromPort)}-${String(r.toPort)}) to ${r.cidr}`);
        }
      }
    }
  },
};

const hasHostKey = (c: unknown) =>
  !!c && typeof c === "object" && typeof (c as { hostKey?: unknown }).hostKey === "string" && (c as { hostKey: string }).hostKey.trim() !== "";

export const remoteCommandsPinHostKeys: ResourceValidationPolicy = {
  name: "remote-commands-pin-host-keys",
  description: "Every remote command's SSH connection, and its proxy (jump host), pins the server's host key.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== REMOTE_COMMAND && args.type !== COPY_TO_REMOTE) return;
    const conn = args.props.connection as Record<string, unknown> | undefined;
    if (!hasHostKey(conn)) report(`${args.name}: connection to ${String(conn?.host ?? "?")} has no hostKey; any host answering there would be trusted`);
    if (conn?.proxy !== undefined && conn.proxy !== null && !hasHostKey(conn.proxy)) {
      report(`${args.name}: proxy ${String((conn.proxy as Record<string, unknown>).host ?? "?")} has no hostKey`);
    }
  },
};

function findByIdOrDependency(resources: PolicyResource[], from: PolicyResource, prop: string, type: string): PolicyResource | undefined {
  const deps = from.propertyDependencies?.[prop] ?? [];
  const byDep = resources.find((r) => r.type === type && deps.some((d) => d.urn === r.urn));
  if (byDep) return byDep;
  const id = from.props[prop];
  return resources.find((r) => r.type === type && r.props.id !== undefined && r.props.id === id);
}

/** Dependencies first: they are known at preview, when new resources' ids are not. */
function instanceOfPort(resources: PolicyResource[], port: PolicyResource): PolicyResource | undefined {
  const instances = resources.filter((r) => r.type === INSTANCE);
  const byDep = instances.find((r) => (r.propertyDependencies?.networks ?? []).some((d) => d.urn === port.urn));
  if (byDep) return byDep;
  const id = port.props.id;
  if (id === undefined) return undefined;
  return instances.find((r) => ((r.props.networks ?? []) as Record<string, unknown>[]).some((n) => n.port === id));
}

function roleOf(instance: PolicyResource): string | undefined {
  const role = (instance.props.metadata as Record<string, unknown> | undefined)?.["fleet-role"];
  return typeof role === "string" ? role : undefined;
}

export const publicAddressesOnlyForPublicRoles: StackValidationPolicy = {
  name: "public-addresses-only-for-public-roles",
  description: "Only instances whose fleet-role metadata names a public role get a floating IP or Rackspace PublicNet.",
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      publicRoles: { type: "array", items: { type: "string" }, default: DEFAULT_PUBLIC_ROLES, description: "Roles allowed to have a public address." },
    },
  },
  validateStack: (args: StackValidationArgs, report) => {
    const allowed = new Set(args.getConfig<{ publicRoles?: string[] }>().publicRoles ?? DEFAULT_PUBLIC_ROLES);
    const check = (instance: PolicyResource | undefined, via: PolicyResource, how: string) => {
      if (!instance) return report(`${via.name}: ${how} is attached to something that is not a fleet instance`, via.urn);
      const role = roleOf(instance);
      if (role === undefined) report(`${instance.name}: has a public address (${how}) but no fleet-role metadata`, instance.urn);
      else if (!allowed.has(role))
        report(`${instance.name}: role ${role} is not allowed a public address (${how}); public roles: ${[...allowed].sort().join(", ")}`, instance.urn);
    };
    for (const r of args.resources) {
      if (r.type === FIP_ASSOCIATE) {
        const port = findByIdOrDependency(args.resources, r, "portId", PORT);
        check(port && instanceOfPort(args.resources, port), r, `floating IP ${r.name}`);
      } else if (r.type === NOVA_FIP_ASSOCIATE) {
        check(findByIdOrDependency(args.resources, r, "instanceId", INSTANCE), r, `floating IP ${r.name}`);
      } else if (r.type === INSTANCE && ((r.props.networks ?? []) as Record<string, unknown>[]).some((n) => n.uuid === RACKSPACE_PUBLICNET)) {
        check(r, r, "PublicNet");
      }
    }
  },
};

const AEAD = /^(AES-(128|192|256)-GCM|CHACHA20-POLY1305)$/i;
const BUNDLE_LINE = /^[A-Za-z0-9][A-Za-z0-9_.-]* [A-Za-z0-9+/=]*$/;

/** Problems in an OpenVPN config that would let a non-AEAD cipher or compression in. */
export function openvpnCipherProblems(conf: string): string[] {
  const problems: string[] = [];
  let dataCiphers = false;
  for (const raw of conf.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    if (line === "") continue;
    const [opt, ...rest] = line.split(/\s+/);
    const value = rest.join(" ");
    if (opt === "data-ciphers") {
      dataCiphers = true;
      for (const c of value.split(":")) if (!AEAD.test(c)) problems.push(`data-ciphers lists ${c}, which is not AEAD`);
    } else if (opt === "data-ciphers-fallback" || opt === "cipher") {
      if (!AEAD.test(value)) problems.push(`${opt} ${value} is not AEAD`);
    } else if (opt === "comp-lzo" || opt === "compress") {
      problems.push(`${line}: compression enables VORACLE-style attacks`);
    } else if (opt === "allow-compression" && value !== "no") {
      problems.push(`allow-compression ${value}: must be no`);
    }
  }
  if (!dataCiphers) problems.push("no data-ciphers line: the AEAD-only list must be explicit");
  return problems;
}

export const vpnAeadCiphersOnly: ResourceValidationPolicy = {
  name: "vpn-aead-ciphers-only",
  description: "The OpenVPN server config shipped to the gateway allows AEAD data ciphers only (GCM, CHACHA20-POLY1305) and no compression.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== REMOTE_COMMAND) return;
    const stdin = args.props.stdin;
    if (typeof stdin !== "string" || !stdin.split("\n").every((l) => l === "" || BUNDLE_LINE.test(l))) return;
    const conf = decodeBundle(stdin)["server.conf"];
    if (conf === undefined) return;
    for (const p of openvpnCipherProblems(conf)) report(`${args.name}: server.conf: ${p}`);
  },
};

export const fleetPolicies = [noSshFromWorld, remoteCommandsPinHostKeys, publicAddressesOnlyForPublicRoles, vpnAeadCiphersOnly];
