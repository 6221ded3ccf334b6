import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import * as tls from "@pulumi/tls";
import * as command from "@pulumi/command";
import { CloudFlavour, RACKSPACE_PUBLICNET, RACKSPACE_SERVICENET } from "../network/network";
import { isIpv4 } from "../network/addressing";
import { Connection, scriptCommand } from "../remote/script";
import { renderCloudInit, volumeDevice } from "./cloud-init";
import { ServerHandle } from "./handle";

export type ProxyConnection = command.types.input.remote.ProxyConnectionArgs;

export interface ServerArgs {
  /** Hostname and instance name. */
  hostname: string;
  role: string;
  flavor: pulumi.Input<string>;
  image: pulumi.Input<string>;
  flavour: CloudFlavour;
  networkId: pulumi.Input<string>;
  subnetId: pulumi.Input<string>;
  /**
   * Pins the private address (it must lie in the network's servers' range, outside Neutron's allocation pools).
   * Without it the cloud allocates one, and `privateIp` reads it back from the port (or, on Rackspace classic, from
   * the instance's isolated network).
   */
  privateIp?: string;
  /** Give the server a public address: a floating IP (openstack) or PublicNet (rackspace-classic). */
  public: boolean;
  /** Connect to the public address instead of going through `proxy` (the gateway itself). */
  connectPublic: boolean;
  /** openstack: the pool (external network name) for floating IPs. */
  floatingIpPool?: pulumi.Input<string>;
  securityGroupIds?: pulumi.Input<string>[];
  /** CIDRs this server may send from besides its own address (the gateway routes the VPN subnet). */
  allowedSourceCidrs?: string[];
  allowTcpForwarding?: boolean;
  routes?: { to: string; via: pulumi.Input<string> }[];
  packages?: string[];
  /** The jump host for servers reached through the gateway. */
  proxy?: pulumi.Input<ProxyConnection>;
  availabilityZone?: string;
  /**
   * The admin key to authorise. Fleet shares one across servers (the private half never leaves
   * Pulumi state, so per-server keys would add resources, not safety); standalone, a key is made.
   */
  adminKey?: tls.PrivateKey;
  /**
   * A Cinder volume to map at boot (it must exist and be available), formatted when empty and mounted by
   * cloud-init. The instance is then replaced, never rebuilt, on an image change, and the new one gets the volume.
   */
  volume?: { id: pulumi.Input<string>; mountPoint: string; filesystem: string };
  /**
   * The image's id, for a server with a volume (its disks are then mapped by id). Fleet looks each image up once for
   * all its servers; without it the server looks its own up.
   */
  imageId?: pulumi.Input<string>;
}

/** A server's private (IPv4) address, from what the cloud reports for its port or network. */
function firstAddress(name: string, ips: string[]): string {
  const ip = ips.find(isIpv4);
  if (!ip) throw new Error(`server ${name}: the cloud reported no IPv4 address on the private network (got ${JSON.stringify(ips)})`);
  return ip;
}

/** Every host gets what the firewall and deploys need, so adding a deploy later never rebuilds a server. */
const BASE_PACKAGES = ["ca-certificates", "curl", "git", "ipset", "iptables", "python3"];

/**
 * One server: a stack-generated SSH host key (pinned by every connection), an admin key,
 * cloud-init user-data, the instance, a public address if asked, and a readiness step.
 */
/**
 * How the command provider dials a host: each TCP connect may take perDialTimeout seconds, and it retries up to
 * dialErrorLimit times, backing off 0.1 s × 1.5ⁿ up to 5 s between tries (pulumi-command v1.2.1,
 * provider/pkg/provider/remote/connection.go dialWithRetry). The server is ACTIVE before its first dial, so this
 * only has to cover sshd starting: a host that refuses gives up after about 40 s, one that drops packets after
 * about 90 s (the provider's defaults, 10 × 15 s, and the 40 × 15 s used before, took 161 s and up to 13 minutes).
 */
export const SSH_DIAL = { dialErrorLimit: 16, perDialTimeout: 3 } as const;

export class Server extends pulumi.ComponentResource implements ServerHandle {
  readonly name: string;
  readonly role: string;
  readonly privateIp: pulumi.Output<string>;
  readonly publicIp: pulumi.Output<string | undefined>;
  readonly hostPublicKey: pulumi.Output<string>;
  /** Secret: the admin private key (OpenSSH format). */
  readonly adminPrivateKey: pulumi.Output<string>;
  readonly connection: pulumi.Output<Connection>;
  readonly instance: openstack.compute.Instance;
  readonly ready: command.remote.Command;
  /** The instance id and image id (see ServerHandle.machineId). */
  readonly machineId: pulumi.Output<string>;

  constructor(name: string, args: ServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fleet:server:Server", name, {}, opts);
    this.name = args.hostname;
    this.role = args.role;
    const hostKey = new tls.PrivateKey(`${name}-host`, { algorithm: "ED25519" }, { parent: this });
    const adminKey = args.adminKey ?? new tls.PrivateKey(`${name}-admin`, { algorithm: "ED25519" }, { parent: this });
    this.hostPublicKey = hostKey.publicKeyOpenssh.apply((k) => k.trim());
    this.adminPrivateKey = pulumi.secret(adminKey.privateKeyOpenssh);

    const routes = pulumi.all((args.routes ?? []).map((r) => pulumi.all([r.to, r.via]).apply(([to, via]) => ({ to, via }))));
    const volume = args.volume;
    const volumeId = volume ? pulumi.output(volume.id) : pulumi.output("");
    const userData = pulumi
      .all([hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh, adminKey.publicKeyOpenssh, routes, volumeId])
      .apply(([priv, pub, admin, rs, vid]) =>
        renderCloudInit({
          hostname: args.hostname,
          role: args.role,
          hostKey: { privateOpenssh: priv, publicOpenssh: pub },
          adminPublicKeys: [admin],
          packages: [...BASE_PACKAGES, ...(args.packages ?? [])],
          allowTcpForwarding: args.allowTcpForwarding ?? false,
          routes: rs,
          ...(volume ? { volume: { device: volumeDevice(vid), mountPoint: volume.mountPoint, filesystem: volume.filesystem } } : {}),
        }),
      );

    const classic = args.flavour === "rackspace-classic";
    let networks: openstack.types.input.compute.InstanceNetwork[];
    let port: openstack.networking.Port | undefined;
    if (classic) {
      networks = [
        ...(args.public ? [{ uuid: RACKSPACE_PUBLICNET }] : []),
        { uuid: RACKSPACE_SERVICENET },
        { uuid: args.networkId, ...(args.privateIp ? { fixedIpV4: args.privateIp } : {}) },
      ];
    } else {
      port = new openstack.networking.Port(
        name,
        {
          networkId: args.networkId,
          fixedIps: [{ subnetId: args.subnetId, ...(args.privateIp ? { ipAddress: args.privateIp } : {}) }],
          securityGroupIds: args.securityGroupIds,
          allowedAddressPairs: (args.allowedSourceCidrs ?? []).map((c) => ({ ipAddress: c })),
          adminStateUp: true,
        },
        // The address the cloud gave stays the port's: the provider never reads fixed_ip back, and an update without
        // one would ask Neutron for a new address. So an unpinned port keeps whatever address its inputs last named
        // (a stack from before allocation keeps its old fixed addresses); a pin, set or changed, still applies.
        { parent: this, ignoreChanges: args.privateIp ? [] : ["fixedIps[0].ipAddress"] },
      );
      networks = [{ port: port.id }];
    }

    this.instance = new openstack.compute.Instance(
      name,
      {
        name: args.hostname,
        flavorName: args.flavor,
        imageName: args.image,
        availabilityZone: args.availabilityZone,
        networks,
        userData: pulumi.secret(userData),
        metadata: { "fleet-role": args.role },
        // With a volume the disks are mapped explicitly: the image as the local root disk (the provider boots
        // from block devices alone, so the image must be one of them), the volume as a second disk that outlives
        // the instance (terraform-provider-openstack v1.54.1, getImageIDFromConfig).
        blockDevices: volume
          ? [
              {
                uuid: args.imageId ?? openstack.images.getImageOutput({ name: args.image, mostRecent: true }, { parent: this }).id,
                sourceType: "image",
                destinationType: "local",
                bootIndex: 0,
                deleteOnTermination: true,
              },
              { uuid: volume.id, sourceType: "volume", destinationType: "volume", bootIndex: -1, deleteOnTermination: false },
            ]
          : undefined,
      },
      // A replacement (new user data, --replace) must get the port the old instance holds: Nova refuses a port that
      // is still in use (409), so the old instance goes first. The port, its address and its floating IP stay, so no
      // peer's allow-list changes; the cost is the server's downtime, which a replaced server has anyway (its disk is
      // new). terraform-provider-openstack v1.54.1, resource_openstack_compute_instance_v2.go: user_data is ForceNew.
      { parent: this, deleteBeforeReplace: true },
    );

    let publicIp: pulumi.Output<string | undefined> = pulumi.output(undefined);
    const attached: pulumi.Resource[] = [this.instance];
    if (args.public && classic) {
      publicIp = this.instance.accessIpV4;
    } else if (args.public && port) {
      // The description names the stack and server: after an interrupted up, `npm run recover` finds the address
      // the cloud made for a create the state never recorded (a floating IP has no name).
      const fip = new openstack.networking.FloatingIp(
        name,
        { pool: args.floatingIpPool ?? "PUBLICNET", description: `${pulumi.getProject()}/${pulumi.getStack()}/${name}` },
        { parent: this },
      );
      attached.push(
        new openstack.networking.FloatingIpAssociate(name, { floatingIp: fip.address, portId: port.id }, { parent: this, dependsOn: [this.instance] }),
      );
      publicIp = fip.address;
    }
    this.publicIp = publicIp;
    // What the cloud gave the server, never what the config expected: allow-lists, routes and connections use it.
    this.privateIp = port
      ? port.allFixedIps.apply((ips) => firstAddress(name, ips))
      : pulumi.all([this.instance.networks, args.networkId]).apply(([nets, id]) =>
          firstAddress(
            name,
            (nets ?? []).filter((n) => n.uuid === id).map((n) => n.fixedIpV4 ?? ""),
          ),
        );

    const host = args.connectPublic ? pulumi.all([publicIp, this.privateIp]).apply(([pub, priv]) => pub ?? priv) : this.privateIp;
    this.connection = pulumi.secret(
      pulumi.all([host, this.hostPublicKey, adminKey.privateKeyOpenssh, pulumi.output(args.proxy)]).apply(([h, hk, pk, proxy]) => {
        const c: Connection = { host: h, port: 22, user: "root", privateKey: pk, hostKey: hk, ...SSH_DIAL };
        if (!args.connectPublic && proxy) c.proxy = proxy;
        return c;
      }),
    );

    // The machine is the instance *and* its image: an image change rebuilds the instance in place (same id, disk
    // wiped; resource_openstack_compute_instance_v2.go, Update: image changes call servers.Rebuild), and every step
    // keyed on the machine must then run again there.
    this.machineId = pulumi.all([this.instance.id, this.instance.imageId]).apply(([id, image]) => `${id} ${image ?? ""}`.trim());
    this.ready = scriptCommand(
      `${name}-ready`,
      { connection: this.connection, script: "wait-ready", files: { instance: this.machineId } },
      { parent: this, dependsOn: attached },
    );
    this.registerOutputs({
      name: this.name,
      role: this.role,
      privateIp: this.privateIp,
      publicIp: this.publicIp,
      hostPublicKey: this.hostPublicKey,
    });
  }

  /** This server as the jump host (`connection.proxy`) for the others. */
  asProxy(): pulumi.Output<ProxyConnection> {
    return pulumi.secret(
      this.connection.apply((c) => ({
        host: c.host,
        port: c.port,
        user: c.user,
        privateKey: c.privateKey,
        hostKey: c.hostKey,
        dialErrorLimit: c.dialErrorLimit,
        perDialTimeout: c.perDialTimeout,
      })),
    );
  }
}
