import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import { allocationPools, routerAddress } from "./addressing";

export type CloudFlavour = "openstack" | "rackspace-classic";

/** Rackspace classic's fixed networks; instances must list them explicitly. */
export const RACKSPACE_PUBLICNET = "00000000-0000-0000-0000-000000000000";
export const RACKSPACE_SERVICENET = "11111111-1111-1111-1111-111111111111";

export interface NetworkArgs {
  flavour: CloudFlavour;
  cidr: string;
  /** openstack flavour: the external network for the router (and floating IPs). */
  externalNetwork?: string;
  dnsNameservers?: string[];
  /** Addresses the config pins to servers: Neutron's allocation pools leave them out. */
  pinnedAddresses?: string[];
}

/**
 * The private network. openstack: Neutron network + subnet + router to the external network.
 * rackspace-classic: an isolated network (no router; instances also attach PublicNet/ServiceNet).
 */
export class Network extends pulumi.ComponentResource {
  readonly networkId: pulumi.Output<string>;
  readonly subnetId: pulumi.Output<string>;
  readonly cidr: string;
  readonly flavour: CloudFlavour;
  readonly externalNetworkId?: pulumi.Output<string>;
  private readonly router?: openstack.networking.Router;
  private readonly routerInterface?: openstack.networking.RouterInterface;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fleet:network:Network", name, {}, opts);
    this.cidr = args.cidr;
    this.flavour = args.flavour;
    const net = new openstack.networking.Network(name, { name, adminStateUp: true }, { parent: this });
    const classic = args.flavour === "rackspace-classic";
    // Neutron allocates servers' addresses from the 10th on, around the pinned ones.
    const subnet = new openstack.networking.Subnet(
      name,
      {
        networkId: net.id,
        cidr: args.cidr,
        ipVersion: 4,
        enableDhcp: true,
        gatewayIp: classic ? undefined : routerAddress(args.cidr),
        noGateway: classic ? true : undefined,
        allocationPools: allocationPools(args.cidr, args.pinnedAddresses ?? []),
        dnsNameservers: args.dnsNameservers && args.dnsNameservers.length > 0 ? args.dnsNameservers : undefined,
      },
      { parent: this },
    );
    this.networkId = net.id;
    this.subnetId = subnet.id;
    if (!classic) {
      const ext = openstack.networking.getNetworkOutput({ name: args.externalNetwork ?? "PUBLICNET" }, { parent: this });
      this.externalNetworkId = ext.id;
      const router = new openstack.networking.Router(name, { name, externalNetworkId: ext.id, adminStateUp: true }, { parent: this });
      this.router = router;
      this.routerInterface = new openstack.networking.RouterInterface(name, { routerId: router.id, subnetId: subnet.id }, { parent: this });
    }
    this.registerOutputs({ networkId: this.networkId, subnetId: this.subnetId });
  }

  /**
   * A static route on the router (openstack flavour; classic has no router): the gateway routes the VPN subnet, so
   * replies to VPN clients find their way back. Added once the gateway's port has the address the cloud gave it.
   */
  route(name: string, to: string, via: pulumi.Input<string>): openstack.networking.RouterRoute | undefined {
    if (!this.router) return undefined;
    return new openstack.networking.RouterRoute(
      name,
      { routerId: this.router.id, destinationCidr: to, nextHop: via },
      { parent: this, dependsOn: this.routerInterface ? [this.routerInterface] : [] },
    );
  }
}
