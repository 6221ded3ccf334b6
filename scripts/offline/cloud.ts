import { standInAddresses } from "../../components/network/addressing";
import { RACKSPACE_PUBLICNET, RACKSPACE_SERVICENET } from "../../components/network/network";

/**
 * What the cloud fills in when it creates a resource, for the offline run (`npm run plan`) and the unit tests'
 * mocks: one copy, so both see the same addresses. Documentation address ranges only (RFC 5737), and private
 * addresses allocated like Neutron does: a pinned one as asked, the others from the subnet's pools, and a port that
 * exists keeps its address (as one kept in a stack's state does) when the program runs again.
 */
export class MockCloud {
  private cidr = "10.20.0.0/24";
  /** Resource name → the private address it holds. */
  private readonly held = new Map<string, string>();
  /** Resource name → its public address (a floating IP, or classic's accessIPv4), kept like the private ones. */
  private readonly publicHeld = new Map<string, string>();

  private publicAddress(kind: string, name: string, first: string): string {
    const key = `${kind} ${name}`;
    if (!this.publicHeld.has(key)) this.publicHeld.set(key, `${first}${10 + ([...this.publicHeld.keys()].filter((k) => k.startsWith(kind)).length % 240)}`);
    return this.publicHeld.get(key)!;
  }

  /** A private address: the pinned one, else the one the port already holds, else the next free one. */
  private allocate(name: string, pinned?: string): string {
    const ip = pinned ?? this.held.get(name) ?? standInAddresses(this.cidr, [...[...this.held.values()].map((a) => ({ privateIp: a })), {}]).pop()!;
    this.held.set(name, ip);
    return ip;
  }

  outputs(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> | undefined {
    switch (type) {
      case "openstack:networking/subnet:Subnet":
        if (String(inputs.cidr) !== this.cidr) this.held.clear();
        this.cidr = String(inputs.cidr);
        return undefined;
      case "openstack:networking/port:Port": {
        const fixed = (inputs.fixedIps as { ipAddress?: string }[] | undefined) ?? [];
        return { ...inputs, allFixedIps: [this.allocate(name, fixed[0]?.ipAddress)] };
      }
      case "openstack:networking/floatingIp:FloatingIp":
        return { ...inputs, address: this.publicAddress("fip", name, "203.0.113.") };
      case "openstack:compute/instance:Instance": {
        // Rackspace classic: the instance reports its address on the isolated network (the one that is not PublicNet
        // or ServiceNet).
        const nets = (inputs.networks as { uuid?: string; port?: string; fixedIpV4?: string }[] | undefined) ?? [];
        const networks = nets.map((net) =>
          net.port || net.uuid === RACKSPACE_PUBLICNET || net.uuid === RACKSPACE_SERVICENET ? net : { ...net, fixedIpV4: this.allocate(name, net.fixedIpV4) },
        );
        // The cloud resolves the image's name to its id, as the provider records it in imageId; machine ids include it.
        return { ...inputs, networks, accessIpV4: this.publicAddress("access", name, "198.51.100."), imageId: `image-id-of-${String(inputs.imageName)}` };
      }
      default:
        return undefined;
    }
  }
}
