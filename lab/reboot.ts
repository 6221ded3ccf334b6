/**
 * `lab reboot HOST`: power-cycles a lab host (see hosts.ts powerCycle) and boots
 * it the way cloud-init boots an existing instance: bootcmd from its user-data,
 * then sshd. What else comes back is up to the host's own boot paths.
 */
import { rebootHost } from "./cloudinit";
import { loadState } from "./emulator/state";
import { loadFabric, powerCycle, saveFabric } from "./hosts";
import { StackLayout } from "./layout";

export class RebootError extends Error {}

export async function reboot(L: StackLayout, name: string): Promise<{ errors: string[] }> {
  const fabric = loadFabric(L);
  if (!fabric.hosts[name]) throw new RebootError(`no lab host ${JSON.stringify(name)} in stack ${L.stack}`);
  const state = loadState(L.stateFile, L.stack);
  const inst = Object.values(state.resources).find((r) => r.type === "openstack:compute/instance:Instance" && String(r.outputs.name ?? r.name) === name);
  const rec = await powerCycle(L, fabric, name);
  const boot = await rebootHost(rec, (inst?.inputs.userData as string | null) ?? undefined);
  saveFabric(L, fabric);
  return boot;
}
