import * as pulumi from "@pulumi/pulumi";
import { HostFacts } from "../model";
import { ServerHandle } from "../server/handle";

/**
 * What the SDK's Output keeps inside (internal in @pulumi/pulumi ~3.248): its value, and whether it is known. An
 * unknown Output made by `apply` holds `undefined`, not `pulumi.unknown`, so the value alone does not tell.
 */
interface OutputInside<T> {
  promise(withUnknowns: boolean): Promise<T>;
  isKnown: Promise<boolean>;
}

/**
 * The same value, known-ness and secrecy as `o`, but depending on no resource.
 *
 * Why: a host's ruleset reads the address of every peer it admits. Carried as dependencies, that is one edge per
 * peer on each of the host's two firewall commands, sent three times (dependencies, and the property dependencies
 * of stdin and triggers): quadratic in the fleet. At 100 servers it was 27,000 of the 44,000 dependency URNs the
 * program sent, and the engine keeps them all. The edge orders nothing the value does not: the SDK registers a
 * command only once its inputs are resolved, so a peer's address is always there first; the firewall commands
 * have no delete step that would need the engine to order deletions.
 */
export function withoutDependencies<T>(o: pulumi.Output<T>): pulumi.Output<T> {
  const inside = o as unknown as OutputInside<T>;
  const value = Promise.all([inside.promise(true), inside.isKnown, pulumi.isSecret(o)]).then(([v, known, secret]) => {
    // An Output whose value is `pulumi.unknown` is unknown (the constructor checks); secrecy rides on the value.
    const kept = known ? v : pulumi.unknown;
    return secret ? pulumi.secret(kept) : kept;
  });
  return pulumi.output(value) as unknown as pulumi.Output<T>;
}

/** What a ruleset needs from a server: from the ports the cloud gave it, without its resources as dependencies. */
export function hostFacts(s: ServerHandle): pulumi.Output<HostFacts> {
  return withoutDependencies(
    pulumi.all([s.privateIp, s.publicIp]).apply(([privateIp, publicIp]): HostFacts => ({
      name: s.name,
      role: s.role,
      privateIp,
      ...(publicIp ? { publicIp } : {}),
    })),
  );
}
