/**
 * What to do with the operations an interrupted `pulumi up` left pending: for each resource the engine was creating,
 * the cloud object it made (if any), found by what the program set on it, so `pulumi refresh
 * --import-pending-creates` gives the state what the cloud holds. A pending create with no cloud object (a remote
 * command, a key, or a create the cloud never started) is dropped: the next `up` creates or runs it again.
 */

import { createHash } from "crypto";
import { unwrapSecrets, wrapSecret } from "../../components/pulumi/secrets";

/**
 * The plaintext user data of each pending instance create, from a `pulumi stack export --show-secrets` document
 * (secrets as {sig, plaintext: JSON text}); held in memory only.
 */
export function pendingUserData(ops: PendingOperation[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of ops) {
    if (o.type !== "creating" || o.resource.type !== "openstack:compute/instance:Instance") continue;
    const v = unwrapSecrets(o.resource.inputs?.userData);
    if (typeof v === "string") out[o.resource.urn] = v;
  }
  return out;
}

export interface PendingOperation {
  type: string;
  resource: { urn: string; type: string; inputs?: Record<string, unknown> };
}

export interface CloudObjects {
  servers: { id: string; name: string; ports: string[] }[];
  ports: { id: string; name: string }[];
  floatingIps: { id: string; description: string; portId: string | null; address: string }[];
  securityGroups: { id: string; name: string }[];
  securityGroupRules: {
    id: string;
    securityGroupId: string;
    direction: string;
    ethertype: string;
    protocol: string | null;
    portRangeMin: number | null;
    portRangeMax: number | null;
    remoteIpPrefix: string | null;
    remoteGroupId: string | null;
  }[];
  networks: { id: string; name: string }[];
  subnets: { id: string; name: string }[];
  routers: { id: string; name: string }[];
  /** Each router's extra routes, as Neutron lists them on the router. */
  routerRoutes: { routerId: string; destination: string; nexthop: string }[];
  volumes: { id: string; name: string }[];
}

export interface Recovery {
  /** Pending creates the cloud holds: URN and cloud id, for --import-pending-creates. */
  imports: { urn: string; id: string; what: string }[];
  /** Pending creates with nothing in the cloud: cleared; the next up makes them. */
  dropped: { urn: string; why: string }[];
  /** Pending creates whose cloud object cannot be told apart from others: recovery stops and names them. */
  ambiguous: { urn: string; why: string }[];
}

const nameOf = (urn: string) => urn.split("::").pop() ?? urn;
const str = (v: unknown) => (typeof v === "string" ? v : undefined);

/** The candidates a pending create may have made, by the inputs the program gave it. */
function candidates(op: PendingOperation, cloud: CloudObjects): { ids: string[]; what: string } | undefined {
  const i = op.resource.inputs ?? {};
  const byName = (list: { id: string; name: string }[]) => {
    const name = str(i.name);
    return name ? list.filter((x) => x.name === name).map((x) => x.id) : [];
  };
  switch (op.resource.type) {
    case "openstack:compute/instance:Instance": {
      // The server on the port the program gave it (a port is one server's), else (Rackspace classic) by name.
      const ports = ((i.networks as { port?: string }[] | undefined) ?? []).map((n) => n.port).filter((p): p is string => !!p);
      const onPorts = cloud.servers.filter((s) => s.ports.some((p) => ports.includes(p))).map((s) => s.id);
      // A server Nova had not yet bound its port to holds no port: then by name, among servers holding none.
      const ids =
        ports.length === 0
          ? cloud.servers.filter((s) => s.name === str(i.name)).map((s) => s.id)
          : onPorts.length > 0
            ? onPorts
            : cloud.servers.filter((s) => s.name === str(i.name) && s.ports.length === 0).map((s) => s.id);
      return { ids, what: `server ${str(i.name) ?? nameOf(op.resource.urn)}` };
    }
    case "openstack:networking/port:Port":
      return { ids: byName(cloud.ports), what: `port ${str(i.name)}` };
    case "openstack:networking/floatingIp:FloatingIp": {
      const d = str(i.description);
      return { ids: d ? cloud.floatingIps.filter((f) => f.description === d).map((f) => f.id) : [], what: `floating IP "${d ?? ""}"` };
    }
    case "openstack:networking/floatingIpAssociate:FloatingIpAssociate": {
      // The provider's id for an association is the floating IP's.
      const ids = cloud.floatingIps.filter((f) => f.address === str(i.floatingIp) && f.portId !== null && f.portId === str(i.portId)).map((f) => f.id);
      return { ids, what: `floating IP ${str(i.floatingIp)} on port ${str(i.portId)}` };
    }
    case "openstack:networking/secGroup:SecGroup":
      return { ids: byName(cloud.securityGroups), what: `security group ${str(i.name)}` };
    case "openstack:networking/secGroupRule:SecGroupRule": {
      const ids = cloud.securityGroupRules
        .filter(
          (r) =>
            r.securityGroupId === str(i.securityGroupId) &&
            r.direction === str(i.direction) &&
            r.ethertype === (str(i.ethertype) ?? "IPv4") &&
            (r.protocol ?? undefined) === str(i.protocol) &&
            (r.portRangeMin ?? undefined) === (i.portRangeMin as number | undefined) &&
            (r.portRangeMax ?? undefined) === (i.portRangeMax as number | undefined) &&
            (r.remoteIpPrefix ?? undefined) === str(i.remoteIpPrefix) &&
            (r.remoteGroupId ?? undefined) === str(i.remoteGroupId),
        )
        .map((r) => r.id);
      return { ids, what: `security group rule ${nameOf(op.resource.urn)}` };
    }
    case "openstack:networking/network:Network":
      return { ids: byName(cloud.networks), what: `network ${str(i.name)}` };
    case "openstack:networking/subnet:Subnet":
      return { ids: byName(cloud.subnets), what: `subnet ${str(i.name)}` };
    case "openstack:networking/router:Router":
      return { ids: byName(cloud.routers), what: `router ${str(i.name)}` };
    case "openstack:networking/routerRoute:RouterRoute": {
      // The provider's id for a route is "<router>-route-<destination>-<next hop>" (terraform-provider-openstack
      // v1.54.1, networking_router_route_v2.go); Neutron has no object of its own for it.
      const ids = cloud.routerRoutes
        .filter((r) => r.routerId === str(i.routerId) && r.destination === str(i.destinationCidr) && r.nexthop === str(i.nextHop))
        .map((r) => `${r.routerId}-route-${r.destination}-${r.nexthop}`);
      return { ids, what: `route to ${str(i.destinationCidr)} via ${str(i.nextHop)}` };
    }
    case "openstack:blockstorage/volume:Volume":
      return { ids: byName(cloud.volumes), what: `volume ${str(i.name)}` };
    default:
      return undefined;
  }
}

/**
 * `owned`: cloud ids the state already holds (never imported twice). Only pending *creates* are planned: a pending
 * update or delete names a resource the state still has, which `pulumi refresh` reads back.
 */
export function planRecovery(ops: PendingOperation[], cloud: CloudObjects, owned: Set<string>): Recovery {
  const out: Recovery = { imports: [], dropped: [], ambiguous: [] };
  for (const op of ops.filter((o) => o.type === "creating")) {
    const urn = op.resource.urn;
    const c = candidates(op, cloud);
    if (!c) {
      out.dropped.push({ urn, why: `${op.resource.type} holds nothing in the cloud; the next up makes it again` });
      continue;
    }
    const ids = [...new Set(c.ids)].filter((id) => !owned.has(id));
    if (ids.length === 1) out.imports.push({ urn, id: ids[0], what: c.what });
    else if (ids.length === 0) out.dropped.push({ urn, why: `the cloud has no ${c.what}; the next up creates it` });
    else out.ambiguous.push({ urn, why: `the cloud has ${ids.length} objects that may be ${c.what}: ${ids.sort().join(", ")}` });
  }
  return out;
}

/**
 * The stack's exported deployment with the recovery applied: each pending create the cloud holds becomes a resource
 * with the cloud's id and the inputs the program gave it (so the next up sees no change where there is none), the
 * others are dropped. Appended after every resource it can depend on: nothing could depend on a create that never
 * finished. `pulumi refresh` then reads each one's real state.
 */
export function applyRecovery<D extends { resources?: unknown[]; pending_operations?: PendingOperation[] }>(
  deployment: D,
  plan: Recovery,
  /** urn → the plaintext user data of a pending instance (from an export with --show-secrets, never written). */
  userData: Record<string, string> = {},
): D {
  const ids = new Map(plan.imports.map((i) => [i.urn, i.id]));
  const creates = (deployment.pending_operations ?? []).filter((o) => o.type === "creating");
  const adopted = creates
    .filter((o) => ids.has(o.resource.urn))
    .map((o) => {
      const outputs: Record<string, unknown> = { ...(o.resource.inputs ?? {}), id: ids.get(o.resource.urn) };
      const ud = userData[o.resource.urn];
      // The provider keeps user data as its SHA-1 in hex (a StateFunc); a record with the data itself would differ
      // from every new diff and replace the server. The hash stays a secret, as the provider's output is.
      if (ud !== undefined) outputs.userData = wrapSecret(createHash("sha1").update(ud).digest("hex"), "state");
      return { ...o.resource, id: ids.get(o.resource.urn), outputs };
    });
  return {
    ...deployment,
    resources: [...(deployment.resources ?? []), ...adopted],
    pending_operations: (deployment.pending_operations ?? []).filter((o) => o.type !== "creating"),
  };
}
