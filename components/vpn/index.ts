/** The VPN module's public API: components, pure renderers and their input types. */
export { VpnGateway } from "./gateway";
export type { VpnGatewayArgs } from "./gateway";
export { VpnPki, PKI_DEFAULTS, certFingerprint } from "./pki";
export type { VpnPkiArgs, PkiOptions, EngineerCredentials } from "./pki";
export {
  renderServerConfig,
  renderClientProfile,
  renderAllowList,
  renderCcd,
  renderGatewayBundle,
  tlsCryptV2ClientKeyFrom,
  tlsCryptV2ServerKeyFrom,
  VPN_PATHS,
  checkEngineerName,
  VpnConfigError,
  AEAD_CIPHERS,
  DEFAULT_CIPHERS,
  DEFAULT_TUNING,
} from "./render";
export type { DataCipher, VpnTuning, ServerConfigInput, ClientProfileInput, AllowEntry, GatewayBundleInput } from "./render";
