/**
 * The openstack provider, as the lab needs it: networks, subnets and ports are
 * bookkeeping (ids and addresses), floating IPs are addresses on the lab's
 * public bridge, and an instance becomes a lab host: a systemd Debian container whose real cloud-init reads the
 * instance's user data from a NoCloud seed.
 */
import { createHash, randomUUID } from "crypto";
import { Address4 } from "ip-address";
import { parse } from "yaml";
import { attachPublic, bootHost, createHost, destroyHost, detachPublic, HostRecord, labImage, saveFabric, writeSeed } from "../hosts";
import { FIRST_PUBLIC_HOST, PUBLIC_CIDR, RESERVED_HOST_NAMES } from "../layout";
import { runAsync } from "../sh";
import { CreateArgs, EmulationError, EmulatorContext, Handler, Inputs } from "./handler";
import { Json, ResourceRecord } from "./state";

/**
 * The lab has no network at boot, so every package the user data asks for must be in the image; say which are
 * missing before booting (cloud-init itself would only log apt's failure).
 */
async function checkPackages(host: string, userData: string, installed: (pkg: string) => Promise<boolean>): Promise<void> {
  if (!userData.startsWith("#cloud-config")) return;
  const doc = parse(userData) as { packages?: unknown[] } | null;
  const names = (doc?.packages ?? []).map((p) => (Array.isArray(p) ? String(p[0]) : String(p)));
  const missing: string[] = [];
  for (const p of names) if (!(await installed(p))) missing.push(p);
  if (missing.length > 0) {
    throw new EmulationError(
      `instance ${host}: the lab image lacks packages the user data asks for: ${missing.join(", ")}: add them to lab/image/packages.txt`,
    );
  }
}

/** Rackspace classic's well-known networks. */
export const PUBLICNET = "00000000-0000-0000-0000-000000000000";
export const SERVICENET = "11111111-1111-1111-1111-111111111111";

interface Port {
  networkId: string;
  ips: { ip: string; subnetId?: string }[];
}

/** Everything the openstack handlers know about the emulated cloud. */
export class Cloud {
  readonly subnets = new Map<string, { cidr: string; networkId: string; gatewayIp?: string }>();
  readonly networks = new Map<string, { name: string }>();
  readonly ports = new Map<string, Port>();
  /** floating address -> port it is associated with */
  readonly floatingByPort = new Map<string, string>();
  readonly floatingIds = new Map<string, string>();
  /** instance id -> host name, and port id -> host name */
  readonly instanceHosts = new Map<string, string>();
  readonly portHosts = new Map<string, string>();
  private readonly usedPublic = new Set<string>();
  private readonly usedPrivate = new Set<string>();
  private readonly dpkg = new Map<string, Promise<boolean>>();

  constructor(readonly ctx: EmulatorContext) {}

  notePublic(ip: string): void {
    this.usedPublic.add(ip);
  }

  allocatePublic(): string {
    const net = new Address4(PUBLIC_CIDR);
    const base = net.startAddress().bigInt();
    for (let i = FIRST_PUBLIC_HOST; i < 255; i++) {
      const ip = Address4.fromBigInt(base + BigInt(i)).correctForm();
      if (!this.usedPublic.has(ip)) {
        this.usedPublic.add(ip);
        return ip;
      }
    }
    throw new EmulationError(`the lab's public range ${PUBLIC_CIDR} is exhausted`);
  }

  notePrivate(ip: string): void {
    this.usedPrivate.add(ip);
  }

  allocatePrivate(subnetId: string): string {
    const sub = this.subnets.get(subnetId);
    if (!sub) throw new EmulationError(`unknown subnet ${subnetId}`);
    const net = new Address4(sub.cidr);
    const start = net.startAddress().bigInt();
    const end = net.endAddress().bigInt();
    for (let i = start + 2n; i < end; i++) {
      const ip = Address4.fromBigInt(i).correctForm();
      if (ip !== sub.gatewayIp && !this.usedPrivate.has(ip)) {
        this.usedPrivate.add(ip);
        return ip;
      }
    }
    throw new EmulationError(`subnet ${sub.cidr} has no free address`);
  }

  /** ip with the prefix length of the subnet that holds it (a /24 if none does). */
  cidrOf(ip: string, subnetId?: string): string {
    const candidates = subnetId && this.subnets.has(subnetId) ? [this.subnets.get(subnetId)!] : [...this.subnets.values()];
    const addr = new Address4(ip);
    for (const s of candidates) {
      const net = new Address4(s.cidr);
      if (addr.isInSubnet(net)) return `${ip}/${net.subnetMask}`;
    }
    return `${ip}/24`;
  }

  installed(pkg: string): Promise<boolean> {
    if (!this.dpkg.has(pkg)) {
      this.dpkg.set(
        pkg,
        // The packages of the lab's image (a Nova image has what its builder baked in).
        runAsync(["dpkg-query", `--admindir=${labImage()}/var/lib/dpkg`, "-W", "-f=${Status}", pkg]).then(
          (r) => r.code === 0 && r.stdout.includes("install ok installed"),
        ),
      );
    }
    return this.dpkg.get(pkg)!;
  }

  host(name: string | undefined): HostRecord | undefined {
    return name === undefined ? undefined : this.ctx.fabric.hosts[name];
  }
}

const id = () => randomUUID();

/** Stable ids for looked-up networks, so re-runs see the same values. */
export function lookupId(kind: string, name: string): string {
  const h = createHash("sha256").update(`${kind}:${name}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function simple(extra?: (a: CreateArgs) => Record<string, Json>): Handler {
  return { create: async (a) => ({ id: id(), outputs: extra ? extra(a) : {} }) };
}

function networkHandler(cloud: Cloud): Handler {
  return {
    create: async (a) => {
      const nid = id();
      cloud.networks.set(nid, { name: String(a.inputs.name ?? a.name) });
      return { id: nid, outputs: { name: String(a.inputs.name ?? a.name) } };
    },
    adopt: (r) => void cloud.networks.set(r.id!, { name: String(r.outputs.name ?? r.name) }),
  };
}

function subnetHandler(cloud: Cloud): Handler {
  const learn = (sid: string, inputs: Inputs) => {
    const cidr = String(inputs.cidr ?? "");
    if (!Address4.isValid(cidr)) throw new EmulationError(`subnet ${inputs.name ?? sid}: the lab needs an IPv4 cidr, got ${JSON.stringify(inputs.cidr)}`);
    const net = new Address4(cidr);
    const gatewayIp = inputs.noGateway ? undefined : String(inputs.gatewayIp ?? Address4.fromBigInt(net.startAddress().bigInt() + 1n).correctForm());
    cloud.subnets.set(sid, { cidr, networkId: String(inputs.networkId ?? ""), gatewayIp });
    return gatewayIp;
  };
  return {
    create: async (a) => {
      const sid = id();
      const gatewayIp = learn(sid, a.inputs);
      return { id: sid, outputs: { gatewayIp: gatewayIp ?? "", ipVersion: 4 } };
    },
    adopt: (r) => void learn(r.id!, r.inputs),
  };
}

function portHandler(cloud: Cloud): Handler {
  const learn = (pid: string, inputs: Inputs, ips: string[]) => {
    const fixed = (inputs.fixedIps as Inputs[] | undefined) ?? [];
    cloud.ports.set(pid, { networkId: String(inputs.networkId ?? ""), ips: ips.map((ip, i) => ({ ip, subnetId: fixed[i]?.subnetId })) });
    ips.forEach((ip) => cloud.notePrivate(ip));
  };
  return {
    create: async (a) => {
      const fixed = (a.inputs.fixedIps as Inputs[] | undefined) ?? [];
      const ips = fixed.map((f) => (f.ipAddress ? String(f.ipAddress) : cloud.allocatePrivate(String(f.subnetId))));
      const pid = id();
      learn(pid, a.inputs, ips);
      const mac = `fa:16:3e:${createHash("sha1").update(pid).digest("hex").slice(0, 6).match(/../g)!.join(":")}`;
      return {
        id: pid,
        outputs: {
          allFixedIps: ips,
          macAddress: mac,
          allSecurityGroupIds: (a.inputs.securityGroupIds as Json[] | undefined) ?? [],
          fixedIps: fixed.map((f, i) => ({ ...f, ipAddress: ips[i] })),
        },
      };
    },
    adopt: (r) => learn(r.id!, r.inputs, (r.outputs.allFixedIps as string[]) ?? []),
  };
}

function floatingIpHandler(cloud: Cloud): Handler {
  return {
    create: async (a) => {
      const address = a.inputs.address ? String(a.inputs.address) : cloud.allocatePublic();
      cloud.notePublic(address);
      const fid = id();
      cloud.floatingIds.set(fid, address);
      if (a.inputs.portId) associate(cloud, address, String(a.inputs.portId));
      return { id: fid, outputs: { address, fixedIp: "" } };
    },
    adopt: (r) => {
      const address = String(r.outputs.address);
      cloud.notePublic(address);
      cloud.floatingIds.set(r.id!, address);
      if (r.inputs.portId) cloud.floatingByPort.set(String(r.inputs.portId), address);
    },
    delete: async (r) => {
      if (r.inputs.portId) dissociate(cloud, String(r.inputs.portId));
    },
  };
}

function associate(cloud: Cloud, address: string, portId: string): void {
  cloud.floatingByPort.set(portId, address);
  const host = cloud.host(cloud.portHosts.get(portId));
  if (host) {
    attachPublic(cloud.ctx.L, host, address);
    saveFabric(cloud.ctx.L, cloud.ctx.fabric);
  }
}

function dissociate(cloud: Cloud, portId: string): void {
  cloud.floatingByPort.delete(portId);
  const host = cloud.host(cloud.portHosts.get(portId));
  if (host?.publicIp) {
    detachPublic(cloud.ctx.L, host);
    saveFabric(cloud.ctx.L, cloud.ctx.fabric);
  }
}

/** The floating address of an associate: an address, or the id of a FloatingIp resource. */
function floatingAddress(cloud: Cloud, v: unknown): string {
  const s = String(v ?? "");
  if (Address4.isValid(s)) return s;
  const a = cloud.floatingIds.get(s);
  if (!a) throw new EmulationError(`floatingIpAssociate: unknown floating IP ${JSON.stringify(v)}`);
  return a;
}

function networkingAssociateHandler(cloud: Cloud): Handler {
  return {
    create: async (a) => {
      const address = floatingAddress(cloud, a.inputs.floatingIp);
      const portId = String(a.inputs.portId ?? "");
      if (!cloud.ports.has(portId)) throw new EmulationError(`floatingIpAssociate ${a.name}: unknown port ${JSON.stringify(a.inputs.portId)}`);
      associate(cloud, address, portId);
      return { id: `${address}:${portId}`, outputs: { fixedIp: cloud.ports.get(portId)!.ips[0]?.ip ?? "" } };
    },
    adopt: (r) => void cloud.floatingByPort.set(String(r.inputs.portId), floatingAddress(cloud, r.inputs.floatingIp)),
    delete: async (r) => dissociate(cloud, String(r.inputs.portId)),
  };
}

function computeAssociateHandler(cloud: Cloud): Handler {
  const hostOf = (inputs: Inputs) => cloud.host(cloud.instanceHosts.get(String(inputs.instanceId)));
  return {
    create: async (a) => {
      const address = floatingAddress(cloud, a.inputs.floatingIp);
      const host = hostOf(a.inputs);
      if (!host) throw new EmulationError(`compute floatingIpAssociate ${a.name}: unknown instance ${JSON.stringify(a.inputs.instanceId)}`);
      attachPublic(cloud.ctx.L, host, address);
      saveFabric(cloud.ctx.L, cloud.ctx.fabric);
      return { id: `${address}/${a.inputs.instanceId}`, outputs: {} };
    },
    delete: async (r) => {
      const host = hostOf(r.inputs);
      if (host?.publicIp) {
        detachPublic(cloud.ctx.L, host);
        saveFabric(cloud.ctx.L, cloud.ctx.fabric);
      }
    },
  };
}

interface NetworkAttachment {
  uuid?: string;
  name?: string;
  port?: string;
  fixedIpV4?: string;
}

function instanceHandler(cloud: Cloud): Handler {
  const adoptInstance = (r: ResourceRecord) => {
    const name = String(r.outputs.name ?? r.name);
    cloud.instanceHosts.set(r.id!, name);
    for (const n of (r.inputs.networks as NetworkAttachment[] | null) ?? []) if (n.port) cloud.portHosts.set(n.port, name);
    const host = cloud.host(name);
    if (host?.publicIp) cloud.notePublic(host.publicIp);
  };
  return {
    deleteBeforeReplace: true,
    create: async (a) => {
      const name = String(a.inputs.name ?? a.name);
      if (RESERVED_HOST_NAMES.has(name)) throw new EmulationError(`instance ${name}: the lab keeps this name for its own namespaces; rename the server`);
      if (!/^[a-z0-9]([a-z0-9-]{0,62})$/.test(name)) throw new EmulationError(`instance ${JSON.stringify(name)}: not a usable lab host name`);
      const networks = ((a.inputs.networks as NetworkAttachment[] | undefined) ?? []).map((n) => ({ ...n }));
      const privateCidrs: string[] = [];
      let publicIp: string | undefined;
      const ports: string[] = [];
      for (const n of networks) {
        if (n.port) {
          const port = cloud.ports.get(n.port);
          if (!port) throw new EmulationError(`instance ${name}: unknown port ${n.port}`);
          ports.push(n.port);
          port.ips.forEach((p) => privateCidrs.push(cloud.cidrOf(p.ip, p.subnetId)));
          n.fixedIpV4 = port.ips[0]?.ip ?? "";
          n.uuid = port.networkId;
        } else if (n.uuid === PUBLICNET) {
          publicIp = n.fixedIpV4 ?? cloud.allocatePublic();
          n.fixedIpV4 = publicIp;
          n.name = "public";
        } else if (n.uuid === SERVICENET) {
          n.name = "private";
          n.fixedIpV4 = "";
        } else if (n.uuid && cloud.networks.has(n.uuid)) {
          const subnet = [...cloud.subnets.entries()].find(([, s]) => s.networkId === n.uuid);
          if (!subnet && !n.fixedIpV4) throw new EmulationError(`instance ${name}: network ${n.uuid} has no subnet to take an address from`);
          const ip = n.fixedIpV4 ?? cloud.allocatePrivate(subnet![0]);
          cloud.notePrivate(ip);
          n.fixedIpV4 = ip;
          privateCidrs.push(cloud.cidrOf(ip, subnet?.[0]));
          n.name = cloud.networks.get(n.uuid)!.name;
        } else {
          throw new EmulationError(
            `instance ${name}: network ${JSON.stringify(n.uuid ?? n.name)} is not one the lab knows (a Network resource, a Port, PublicNet or ServiceNet)`,
          );
        }
      }
      for (const p of ports) {
        const fip = cloud.floatingByPort.get(p);
        if (fip) publicIp = fip;
      }
      const metadata = (a.inputs.metadata as Record<string, string> | undefined) ?? {};
      const role = String(metadata.role ?? metadata["fleet-role"] ?? "");
      const userData = (a.inputs.userData as string | undefined) ?? "";
      await checkPackages(name, userData, (p) => cloud.installed(p));
      const iid = id();
      const host = await createHost(cloud.ctx.L, cloud.ctx.fabric, { name, role, privateCidrs, publicIp });
      try {
        writeSeed(host, userData, iid);
        await bootHost(cloud.ctx.L, host);
      } catch (e) {
        await destroyHost(cloud.ctx.L, cloud.ctx.fabric, name);
        throw e;
      }
      saveFabric(cloud.ctx.L, cloud.ctx.fabric);
      cloud.instanceHosts.set(iid, name);
      ports.forEach((p) => cloud.portHosts.set(p, name));
      const privateIp = privateCidrs[0]?.split("/")[0] ?? "";
      return {
        id: iid,
        outputs: {
          name,
          accessIpV4: publicIp ?? privateIp,
          accessIpV6: "",
          // Glance resolves the image's name to an id; the machine id the program keys its steps on includes it.
          imageId: `lab-image-${String(a.inputs.imageName ?? "")}`,
          networks: networks as unknown as Json,
          allMetadata: metadata,
          powerState: "active",
        },
      };
    },
    adopt: adoptInstance,
    delete: async (r) => {
      await destroyHost(cloud.ctx.L, cloud.ctx.fabric, String(r.outputs.name ?? r.name));
    },
  };
}

function keypairHandler(): Handler {
  return {
    create: async (a) => {
      const pub = String(a.inputs.publicKey ?? "");
      const blob = Buffer.from(pub.split(/\s+/)[1] ?? "", "base64");
      return { id: String(a.inputs.name ?? a.name), outputs: { fingerprint: createHash("md5").update(blob).digest("hex").match(/../g)?.join(":") ?? "" } };
    },
  };
}

export function openstackHandlers(cloud: Cloud): Record<string, Handler> {
  return {
    "openstack:networking/network:Network": networkHandler(cloud),
    "openstack:networking/subnet:Subnet": subnetHandler(cloud),
    "openstack:networking/router:Router": simple(),
    "openstack:networking/routerInterface:RouterInterface": simple(),
    "openstack:networking/routerRoute:RouterRoute": simple(),
    "openstack:networking/secGroup:SecGroup": simple(),
    "openstack:networking/secGroupRule:SecGroupRule": simple(),
    "openstack:networking/port:Port": portHandler(cloud),
    "openstack:networking/floatingIp:FloatingIp": floatingIpHandler(cloud),
    "openstack:networking/floatingIpAssociate:FloatingIpAssociate": networkingAssociateHandler(cloud),
    "openstack:compute/floatingIpAssociate:FloatingIpAssociate": computeAssociateHandler(cloud),
    "openstack:compute/instance:Instance": instanceHandler(cloud),
    "openstack:compute/keypair:Keypair": keypairHandler(),
  };
}

/** Data sources (invokes) the lab answers. */
export function openstackCall(token: string, inputs: Inputs): Record<string, Json> {
  switch (token) {
    case "openstack:networking/getNetwork:getNetwork": {
      const name = String(inputs.name ?? inputs.networkId ?? "");
      return { id: inputs.networkId ? String(inputs.networkId) : lookupId("network", name), name, external: true, region: "" };
    }
    default:
      throw new EmulationError(`the lab does not emulate the data source ${token}; add it to lab/emulator/openstack.ts`);
  }
}
