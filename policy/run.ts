import { EnforcementLevel, ReportViolation, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { PlainResource, resourceArgs, stackArgs } from "./args";
import { fleetPolicies } from "./policies";

export interface Violation {
  policy: string;
  resource: string;
  message: string;
  level: EnforcementLevel;
}

type AnyPolicy = ResourceValidationPolicy | StackValidationPolicy;

/**
 * Pack config as `pulumi preview --policy-pack-config FILE` takes it: policy name -> an
 * enforcement level, or an object with `enforcementLevel` and the policy's own properties.
 */
export type PackConfig = Record<string, EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>)>;

function settingsOf(p: AnyPolicy, config: PackConfig): { level: EnforcementLevel; props: object } {
  const c = config[p.name];
  if (typeof c === "string") return { level: c, props: {} };
  const { enforcementLevel, ...props } = c ?? {};
  return { level: enforcementLevel ?? p.enforcementLevel ?? "advisory", props };
}

/** Runs every policy of the pack over plain resources, as the CLI would at preview. */
export async function runPolicies(resources: PlainResource[], config: PackConfig = {}, policies: AnyPolicy[] = fleetPolicies): Promise<Violation[]> {
  const out: Violation[] = [];
  for (const p of policies) {
    const { level, props } = settingsOf(p, config);
    if (level === "disabled") continue;
    if ("validateResource" in p && p.validateResource) {
      const validations = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource];
      for (const r of resources) {
        const report: ReportViolation = (message) => out.push({ policy: p.name, resource: `${r.type}::${r.name}`, message, level });
        for (const v of validations) await v(resourceArgs(r, props), report);
      }
    } else if ("validateStack" in p) {
      const report: ReportViolation = (message, urn) =>
        out.push({ policy: p.name, resource: urn ? urn.split("::").slice(-2).join("::") : "(stack)", message, level });
      await p.validateStack(stackArgs(resources, props), report);
    }
  }
  return out;
}
