/** The firewall module's public API: components, pure policy/renderer/matrix functions and their types. */
export { Firewall, confirmConnection } from "./firewall";
export type { FirewallArgs } from "./firewall";
export { RoleSecurityGroups, securityGroupRules, ruleResourceName } from "./security-groups";
export type { RoleSecurityGroupsArgs, SecurityGroupPolicy, SecurityGroupRuleSpec, EtherType } from "./security-groups";
export { policyErrors, effectiveRules, SSH_PORT } from "./policy";
export type { PolicyOptions, EffectiveRule, SourceRef } from "./policy";
export { renderHostFirewall, renderFleetFirewalls, ruleCount, roleSetName, netSetName } from "./render";
export type { FirewallInput, HostFirewall } from "./render";
export { connectivityMatrix, formatMatrix, isAllowed, policyPorts, policySegments, matrixSources } from "./matrix";
export type { MatrixEntry } from "./matrix";
export { applyFiles, confirmFiles } from "./bundle-files";
export { FirewallInputError } from "./errors";
