/**
 * The public API. Importing this module registers nothing: resources exist only
 * once a component is constructed.
 */
export { Fleet, FleetArgs, ServerSummary } from "./fleet/fleet";
export { Server, ServerArgs, ProxyConnection } from "./server/server";
export { ServerHandle } from "./server/handle";
export { Network, NetworkArgs, CloudFlavour, RACKSPACE_PUBLICNET, RACKSPACE_SERVICENET } from "./network/network";
export { renderCloudInit, CloudInitInput } from "./server/cloud-init";
export { loadFleetConfig, readRawConfig } from "./config/load";
export { parseFleetConfig } from "./config/validate";
export { FleetConfigError } from "./config/errors";
export { FleetConfig, RoleSpec, ServerSpec, GATEWAY_ROLE } from "./config/types";
export { scriptCommand, ScriptCommandArgs, Connection } from "./remote/script";
export * from "./model";
export * from "./deploy";
export * from "./vpn";
export * from "./firewall";
