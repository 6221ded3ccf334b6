import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import * as openstack from "@pulumi/openstack";
import { FleetConfig, ServerSpec } from "../config/types";
import { Network } from "../network/network";
import { Server } from "../server/server";
import { VpnGateway } from "../vpn/gateway";
import { Firewall } from "../firewall/firewall";
import { RoleSecurityGroups } from "../firewall/security-groups";
import { MatrixEntry } from "../firewall/matrix";
import { AppDeploy, deployArgsFromConfig } from "../deploy";
import { VolumeRecord } from "./volumes";

export interface FleetArgs {
  /**
   * The validated config (see loadFleetConfig). It is plain data on purpose: the number
   * and names of resources follow from it, so it must be known when the program runs.
   */
  config: FleetConfig;
  /** Secret environment for the deployed app (`fleet:appEnv`). */
  appEnv?: pulumi.Input<Record<string, string>>;
  /**
   * Volumes of servers in fleet:retire, as checkVolumes kept them: registered again, unprotected, so the server goes
   * and its volume stays until it leaves fleet:retire.
   */
  retainedVolumes?: Record<string, VolumeRecord>;
}

export interface ServerSummary {
  role: string;
  privateIp: string;
  publicIp?: string;
  hostKey: string;
}

/** Packages a role needs beyond the base set, so later steps never install anything. */
function rolePackages(cfg: FleetConfig, s: ServerSpec): string[] {
  const pkgs: string[] = [];
  if (s.role === cfg.gatewayRole) pkgs.push("openvpn", "socat");
  return pkgs;
}

/** The whole fleet from one config: network, servers (gateway first), and what runs on them. */
export class Fleet extends pulumi.ComponentResource {
  readonly network: Network;
  readonly gateway: Server;
  readonly servers: Server[];
  readonly gatewayAddress: pulumi.Output<string | undefined>;
  readonly serverSummary: pulumi.Output<Record<string, ServerSummary>>;
  readonly vpn: VpnGateway;
  readonly firewall: Firewall;
  /** Who may reach what (role × role × port), from the policy. */
  readonly matrix: pulumi.Output<MatrixEntry[]>;
  /** host → hash of the ruleset it runs. */
  readonly firewallHashes: pulumi.Output<Record<string, string>>;
  readonly deploy?: AppDeploy;
  /** host → deployed release, for the deploy roles. */
  readonly revisions: pulumi.Output<Record<string, string>>;
  /** Secret: engineer → inline OpenVPN profile. */
  readonly vpnProfiles: pulumi.Output<Record<string, string>>;
  /** server → its data volume (stateful roles, and retired servers' kept volumes); the next run reads it back. */
  readonly volumes: pulumi.Output<Record<string, VolumeRecord>>;

  constructor(name: string, args: FleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fleet:fleet:Fleet", name, {}, opts);
    const cfg = args.config;
    const gwSpec = cfg.servers.find((s) => s.role === cfg.gatewayRole)!;
    const openstackMode = cfg.cloud.flavour === "openstack";

    this.network = new Network(
      name,
      {
        flavour: cfg.cloud.flavour,
        cidr: cfg.network.cidr,
        externalNetwork: cfg.cloud.externalNetwork,
        dnsNameservers: cfg.network.dnsNameservers,
        pinnedAddresses: cfg.servers.flatMap((s) => (s.privateIp ? [s.privateIp] : [])),
      },
      { parent: this },
    );

    const policyRoles = Object.fromEntries(Object.entries(cfg.roles).map(([n, r]) => [n, { public: r.public, allow: r.allow }]));
    const vpnSettings = { subnet: cfg.vpn.subnet, port: cfg.vpn.port, proto: cfg.vpn.proto };
    // Neutron security groups: a second layer from the same policy (Rackspace classic has none).
    const groups = openstackMode
      ? new RoleSecurityGroups(
          `${name}-sg`,
          { roles: policyRoles, gatewayRole: cfg.gatewayRole, vpn: vpnSettings, adminCidrs: cfg.vpn.adminCidrs },
          { parent: this },
        )
      : undefined;
    const adminKey = new tls.PrivateKey(`${name}-admin`, { algorithm: "ED25519" }, { parent: this });
    // A stateful role's volumes belong to the fleet, not to the server: protected, so no edit deletes them, and
    // named by server so a retired server's volume keeps its identity after the server's resources are gone.
    const volumeArgs = (server: string, role: string, sizeGb: number) => ({
      name: `${server}-data`,
      size: sizeGb,
      description: `${pulumi.getProject()}/${pulumi.getStack()}/${server}`,
      metadata: { "fleet-role": role },
    });
    const volumes = new Map<string, openstack.blockstorage.Volume>();
    for (const s of cfg.servers) {
      if (!s.volume) continue;
      volumes.set(s.name, new openstack.blockstorage.Volume(`${s.name}-data`, volumeArgs(s.name, s.role, s.volume.size), { parent: this, protect: true }));
    }
    const retained = Object.entries(args.retainedVolumes ?? {}).map(([server, v]) => ({
      server,
      v,
      // Inputs as recorded; ignoreChanges keeps whatever the state holds, so nothing about it changes but protection.
      volume: new openstack.blockstorage.Volume(`${server}-data`, volumeArgs(server, v.role, v.sizeGb), {
        parent: this,
        protect: false,
        ignoreChanges: ["name", "size", "description", "metadata"],
      }),
    }));
    // One image lookup per image the stateful servers use, not one per server.
    const imageIds = new Map<string, pulumi.Output<string>>();
    const imageIdOf = (image: string) => {
      if (!imageIds.has(image)) imageIds.set(image, openstack.images.getImageOutput({ name: image, mostRecent: true }, { parent: this }).id);
      return imageIds.get(image)!;
    };
    const common = (s: ServerSpec) => ({
      adminKey,
      hostname: s.name,
      role: s.role,
      flavor: s.flavor,
      image: s.image,
      flavour: cfg.cloud.flavour,
      networkId: this.network.networkId,
      subnetId: this.network.subnetId,
      privateIp: s.privateIp,
      public: s.public,
      floatingIpPool: openstackMode ? cfg.cloud.externalNetwork : undefined,
      availabilityZone: cfg.cloud.availabilityZone,
      packages: rolePackages(cfg, s),
      securityGroupIds: groups ? [groups.groupIds[s.role]] : undefined,
      volume: s.volume ? { id: volumes.get(s.name)!.id, mountPoint: s.volume.mountPoint, filesystem: s.volume.filesystem } : undefined,
      imageId: s.volume ? imageIdOf(s.image) : undefined,
    });

    this.gateway = new Server(
      gwSpec.name,
      { ...common(gwSpec), connectPublic: true, allowTcpForwarding: true, allowedSourceCidrs: [cfg.vpn.subnet] },
      { parent: this },
    );
    // The gateway routes the VPN subnet, at the address the cloud gave it.
    this.network.route(`${name}-vpn`, cfg.vpn.subnet, this.gateway.privateIp);
    const proxy = this.gateway.asProxy();
    const toVpn = { to: cfg.vpn.subnet, via: this.gateway.privateIp };
    const others = cfg.servers
      .filter((s) => s !== gwSpec)
      .map((s) => new Server(s.name, { ...common(s), connectPublic: false, proxy, routes: [toVpn] }, { parent: this }));
    // Config order, so outputs read like the config.
    this.servers = cfg.servers.map((s) => (s === gwSpec ? this.gateway : others.find((o) => o.name === s.name)!));
    this.gatewayAddress = this.gateway.publicIp;
    this.serverSummary = pulumi.all(this.servers.map((s) => pulumi.all([s.privateIp, s.publicIp, s.hostPublicKey]))).apply((rows) =>
      Object.fromEntries(
        rows.map(([privateIp, publicIp, hostKey], i) => {
          const s = this.servers[i];
          const row: ServerSummary = { role: s.role, privateIp, hostKey };
          if (publicIp) row.publicIp = publicIp;
          return [s.name, row];
        }),
      ),
    );

    // Every host's allow-lists come from every server's outputs: adding a server updates its peers in the same up.
    this.firewall = new Firewall(
      `${name}-firewall`,
      {
        servers: this.servers,
        roles: policyRoles,
        gatewayRole: cfg.gatewayRole,
        vpn: vpnSettings,
        privateCidr: cfg.network.cidr,
        adminCidrs: cfg.vpn.adminCidrs,
        confirmTimeoutSeconds: cfg.firewall.confirmTimeoutSeconds,
      },
      { parent: this },
    );
    this.matrix = this.firewall.matrix;
    this.firewallHashes = this.firewall.hashes;

    this.vpn = new VpnGateway(
      `${name}-vpn`,
      {
        gateway: this.gateway,
        engineers: cfg.vpn.engineers,
        vpn: vpnSettings,
        privateCidr: cfg.network.cidr,
        dns: cfg.vpn.dns,
        pki: { certValidityHours: cfg.vpn.certValidityHours, earlyRenewalHours: cfg.vpn.earlyRenewalHours },
      },
      { parent: this },
    );
    this.vpnProfiles = this.vpn.profiles;

    if (cfg.deploy) {
      this.deploy = new AppDeploy(
        cfg.deploy.app,
        deployArgsFromConfig(cfg.deploy, this.servers, { env: args.appEnv ?? {}, dependsOn: [this.firewall.confirmed] }),
        { parent: this },
      );
    }
    this.revisions = this.deploy ? this.deploy.revisions : pulumi.output<Record<string, string>>({});

    const records = [
      ...cfg.servers
        .filter((s) => s.volume)
        .map((s) =>
          volumes
            .get(s.name)!
            .id.apply((id): [string, VolumeRecord] => [s.name, { id, role: s.role, sizeGb: s.volume!.size, mountPoint: s.volume!.mountPoint }]),
        ),
      ...retained.map(({ server, v, volume }) => volume.id.apply((id): [string, VolumeRecord] => [server, { ...v, id, retired: true }])),
    ];
    this.volumes = pulumi.all(records).apply((rs) => Object.fromEntries([...rs].sort(([a], [b]) => a.localeCompare(b))));

    this.registerOutputs({
      volumes: this.volumes,
      servers: this.serverSummary,
      gatewayAddress: this.gatewayAddress,
      vpnProfiles: this.vpnProfiles,
      revisions: this.revisions,
      matrix: this.matrix,
    });
  }
}
