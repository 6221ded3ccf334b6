/**
 * Waits until every registration and invoke the program started has reached the mock monitor: the SDK
 * counts them (rpcKeepAlive) and resolves this when none is pending, the same wait it does before it
 * disconnects from the engine (@pulumi/pulumi runtime/settings.js, disconnect → waitForRPCs).
 */
export function registrationsSettled(): Promise<void> {
  const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> };
  return settings.waitForRPCs();
}
