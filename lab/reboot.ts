/**
 * `lab reboot HOST`: power-cycles a lab host (hosts.ts powerCycle): the container halts, its network namespace
 * (kernel state) is made anew, and systemd boots it again from its kept disk. What comes back is what the host's
 * own boot path restores (cloud-init bootcmd, the fleet's units).
 */
import { loadFabric, powerCycle } from "./hosts";
import { StackLayout } from "./layout";

export class RebootError extends Error {}

export async function reboot(L: StackLayout, name: string): Promise<{ errors: string[] }> {
  const fabric = loadFabric(L);
  if (!fabric.hosts[name]) throw new RebootError(`no lab host ${JSON.stringify(name)} in stack ${L.stack}`);
  await powerCycle(L, fabric, name);
  return { errors: [] };
}
