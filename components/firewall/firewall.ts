import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { HostFacts, RolePolicy, VpnSettings } from "../model";
import { scriptCommand, Connection } from "../remote/script";
import { ServerHandle } from "../server/handle";
import { applyFiles, confirmedHash, confirmFiles } from "./bundle-files";
import { connectivityMatrix, MatrixEntry } from "./matrix";
import { hostFacts } from "./facts";
import { FirewallInput, renderHostFirewall, rolesReadBy } from "./render";

export interface FirewallArgs {
  servers: ServerHandle[];
  roles: pulumi.Input<Record<string, RolePolicy>>;
  gatewayRole: pulumi.Input<string>;
  vpn: pulumi.Input<VpnSettings>;
  privateCidr: pulumi.Input<string>;
  adminCidrs: pulumi.Input<string[]>;
  /** How long a host waits for the confirmation from a new SSH connection before reverting by itself. */
  confirmTimeoutSeconds: pulumi.Input<number>;
  /** Masquerade VPN traffic into the private network on the gateway. Default false (routed). */
  nat?: pulumi.Input<boolean>;
}

const PER_DIAL_SECONDS = 10;
/** The provider backs off between dials up to a few seconds; when dials are refused at once, only this delay passes. */
const MIN_SECONDS_PER_FAILED_DIAL = 5;
const BACKOFF_RAMP_DIALS = 10;

/**
 * The confirm command must outlive the revert: while the new rules cut SSH, dials fail; once the
 * host reverts, the next dial gets in and the confirm script reports *why* it failed. So keep
 * dialling for at least twice the timeout (plus slack) even when every dial is refused at once
 * (REJECT), instead of the default 10 attempts. A dead host costs longer to give up on.
 */
export function confirmConnection(c: Connection, timeoutSeconds: number): Connection {
  const limit = Math.ceil((2 * timeoutSeconds + 30) / MIN_SECONDS_PER_FAILED_DIAL) + BACKOFF_RAMP_DIALS;
  const dial = { perDialTimeout: PER_DIAL_SECONDS, dialErrorLimit: limit };
  const proxy = c.proxy === undefined ? undefined : pulumi.output(c.proxy).apply((p) => ({ ...p, ...dial }));
  return { ...c, ...dial, ...(proxy ? { proxy } : {}) };
}

/**
 * Host firewalls for the whole fleet. The servers' addresses (what the cloud gave them) feed the ipsets of the hosts
 * that admit their role, so adding a server changes exactly those peers' allow-lists, in the same `up`. Per host: `<host>-firewall` applies
 * (tested, armed with a no-terminal revert), then `<host>-firewall-confirm` — a separate resource,
 * hence a new SSH connection — cancels the revert and persists the rules.
 */
export class Firewall extends pulumi.ComponentResource {
  /** Per host, the hash of the ruleset its confirm step saw the kernel run (the drift-detection handle). */
  readonly hashes: pulumi.Output<Record<string, string>>;
  readonly matrix: pulumi.Output<MatrixEntry[]>;
  readonly applies: Record<string, command.remote.Command> = {};
  readonly confirms: Record<string, command.remote.Command> = {};
  /**
   * Stands after every host's confirm step: what must wait for the whole fleet's firewall (deploys) depends on this
   * one resource, not on each host's confirm (that made their dependencies quadratic in the fleet).
   */
  readonly confirmed: pulumi.Resource;

  constructor(name: string, args: FirewallArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fleet:firewall:Firewall", name, {}, opts);

    // One Output of facts per server, shared by every ruleset that reads it (a host reads up to the whole fleet).
    const facts = new Map<ServerHandle, pulumi.Output<HostFacts>>(args.servers.map((s) => [s, hostFacts(s)]));
    const factsOf = (s: ServerHandle) => facts.get(s)!;
    const policy = pulumi
      .all([args.roles, args.gatewayRole, args.vpn, args.privateCidr, args.adminCidrs, args.nat ?? false])
      .apply(([roles, gatewayRole, vpn, privateCidr, adminCidrs, nat]) => ({ roles, gatewayRole, vpn, privateCidr, adminCidrs, nat }));
    const input: pulumi.Output<FirewallInput> = pulumi.all([pulumi.all(args.servers.map(factsOf)), policy]).apply(([hosts, p]) => ({ ...p, hosts }));
    /**
     * One Output per role of its members' facts, in config order, made once: a host reads whole roles, so its
     * ruleset combines a few of these, not one Output per peer (that was quadratic in the fleet: 1000 hosts reading
     * 500 peers each are half a million Outputs).
     */
    const order = new Map(args.servers.map((s, i) => [s.name, i]));
    const members = new Map<string, pulumi.Output<HostFacts[]>>();
    const membersOf = (role: string) => {
      if (!members.has(role)) members.set(role, pulumi.all(args.servers.filter((s) => s.role === role).map(factsOf)));
      return members.get(role)!;
    };
    /**
     * One host's ruleset, from only the servers it reads: itself and the members of the roles it admits. A server
     * whose address the cloud has not given yet (a preview of an added server) then leaves unknown only the
     * rulesets that will hold it, so `pulumi preview` lists exactly the firewalls the up re-runs.
     */
    const rulesetOf = (server: ServerHandle) =>
      policy.apply((p) =>
        pulumi.all([factsOf(server), pulumi.all(rolesReadBy(server.role, p).map(membersOf))]).apply(([own, groups]) => {
          const hosts = new Map([own, ...groups.flat()].map((h) => [h.name, h]));
          const read = [...hosts.values()].sort((a, b) => order.get(a.name)! - order.get(b.name)!);
          // This host alone: rendering every host it reads, to keep one, made the fleet's cost cubic in its size.
          return renderHostFirewall({ ...p, hosts: read }, server.name);
        }),
      );
    const timeout = pulumi.output(args.confirmTimeoutSeconds);

    for (const server of args.servers) {
      const fw = rulesetOf(server);
      const connection = pulumi.all([server.connection, timeout]).apply(([c, t]) => confirmConnection(c, t));
      const apply = scriptCommand(
        `${server.name}-firewall`,
        {
          connection: server.connection,
          script: "firewall-apply",
          files: pulumi.all([fw, timeout]).apply(([f, t]) => applyFiles(f, t)),
          machine: server.machineId,
        },
        { parent: this, dependsOn: [server.ready] },
      );
      // apply's stdout is its arm id: a new apply run changes this bundle, so confirm always follows it.
      const confirm = scriptCommand(
        `${server.name}-firewall-confirm`,
        {
          connection,
          script: "firewall-confirm",
          files: pulumi.all([fw, apply.stdout]).apply(([f, out]) => confirmFiles(f.hash, out)),
          machine: server.machineId,
        },
        { parent: this, dependsOn: [apply] },
      );
      this.applies[server.name] = apply;
      this.confirms[server.name] = confirm;
    }

    const names = args.servers.map((s) => s.name);
    // A constant input: a server added or removed changes what it waits for, never the barrier itself.
    this.confirmed = new pulumi.Stash(
      `${name}-confirmed`,
      { input: "after every host's firewall confirm" },
      { parent: this, dependsOn: Object.values(this.confirms) },
    );
    this.hashes = pulumi
      .all(names.map((n) => this.confirms[n].stdout))
      .apply((outs) => Object.fromEntries(names.map((n, i) => [n, confirmedHash(n, outs[i])])));
    this.matrix = input.apply(connectivityMatrix);
    this.registerOutputs({ hashes: this.hashes, matrix: this.matrix });
  }
}
