import { ReportViolation, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { PlainResource, resourceArgs, stackArgs } from "./args";
import { fleetPolicies } from "./policies";

export interface Violation {
  policy: string;
  resource: string;
  message: string;
}

type AnyPolicy = ResourceValidationPolicy | StackValidationPolicy;

/** Runs every policy of the pack over plain resources, as the CLI would at preview. */
export async function runPolicies(
  resources: PlainResource[],
  config: Record<string, object> = {},
  policies: AnyPolicy[] = fleetPolicies,
): Promise<Violation[]> {
  const out: Violation[] = [];
  for (const p of policies) {
    const cfg = config[p.name] ?? {};
    if ("validateResource" in p && p.validateResource) {
      const validations = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource];
      for (const r of resources) {
        const report: ReportViolation = (message) => out.push({ policy: p.name, resource: `${r.type}::${r.name}`, message });
        for (const v of validations) await v(resourceArgs(r, cfg), report);
      }
    } else if ("validateStack" in p) {
      const report: ReportViolation = (message, urn) => out.push({ policy: p.name, resource: urn ? urn.split("::").slice(-2).join("::") : "(stack)", message });
      await p.validateStack(stackArgs(resources, cfg), report);
    }
  }
  return out;
}
