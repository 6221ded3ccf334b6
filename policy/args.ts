import { PolicyResource, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";

/**
 * Builds the argument bags the policy framework hands to policies, from plain
 * type/name/props, so policies run outside the Pulumi CLI: in unit tests and in
 * `npm run plan` against the resources of the offline program run.
 */

export interface PlainResource {
  type: string;
  name: string;
  props: Record<string, unknown>;
  /** prop name -> names of the resources it was computed from. */
  propertyDependencies?: Record<string, string[]>;
}

const urnOf = (type: string, name: string) => `urn:pulumi:plan::fleet::${type}::${name}`;
const OPTS = {
  protect: false,
  ignoreChanges: [],
  aliases: [],
  additionalSecretOutputs: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
};
const notApplicable = (reason?: string): never => {
  throw new Error(`not applicable: ${reason ?? ""}`);
};

export function resourceArgs(r: PlainResource, config: object = {}): ResourceValidationArgs {
  return {
    type: r.type,
    name: r.name,
    urn: urnOf(r.type, r.name),
    props: r.props,
    opts: OPTS,
    stackTags: new Map(),
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => config as T,
    notApplicable,
  } as ResourceValidationArgs;
}

export function stackArgs(plain: PlainResource[], config: object = {}): StackValidationArgs {
  const resources: PolicyResource[] = plain.map(
    (r) =>
      ({
        type: r.type,
        name: r.name,
        urn: urnOf(r.type, r.name),
        props: r.props,
        opts: OPTS,
        dependencies: [],
        propertyDependencies: {},
        isType: () => false,
        asType: () => undefined,
      }) as unknown as PolicyResource,
  );
  plain.forEach((r, i) => {
    for (const [prop, names] of Object.entries(r.propertyDependencies ?? {})) {
      resources[i].propertyDependencies[prop] = names.map((n) => resources.find((x) => x.name === n)!).filter(Boolean);
    }
  });
  return { resources, stackTags: new Map(), getConfig: <T extends object>() => config as T, notApplicable } as StackValidationArgs;
}
