/**
 * Names and paths of what one lab stack has on this machine: its directory (state, passphrase, tenant password)
 * and its engineers' laptops. Every name derives from the stack, so `down` finds them even without state, and two
 * stacks never share one.
 */
import { createHash } from "crypto";
import * as path from "path";
import { LAB_PREFIX } from "./sh";

export const REPO_ROOT = path.resolve(__dirname, "..");

/** The operator: where pulumi runs (the cloud's namespace, fl-os), on the lab's Internet (TEST-NET-3). */
export const OPERATOR_IP = "203.0.113.2";
/** Engineer laptops: on the lab's Internet, outside the private network. */
export const LAPTOPS = ["eng1", "eng2"] as const;
export const LAPTOP_IPS: Record<string, string> = { eng1: "203.0.113.3", eng2: "203.0.113.4" };

export class LabNameError extends Error {}

const STACK_NAME = /^[a-z0-9]{1,12}$/;

export function checkStackName(stack: string): void {
  // "t" is the lab tests' namespaces' (fl-t-…); "os" and "vm" the lab cloud's (fl-os, and fl-vm-… for its servers),
  // which a stack's teardown by prefix must never reach.
  if (!STACK_NAME.test(stack) || ["t", "os", "vm"].includes(stack)) {
    throw new LabNameError(
      `lab stack name ${JSON.stringify(stack)} is not usable: use 1-12 lowercase letters/digits (not "t", "os" or "vm", which the lab's own namespaces use)`,
    );
  }
}

/** Short tag for link names, which the kernel limits to 15 characters. */
export function stackTag(stack: string): string {
  return stack.length <= 6 ? stack : createHash("sha1").update(stack).digest("hex").slice(0, 6);
}

export interface StackLayout {
  stack: string;
  /** `.lab/<stack>`: pulumi's backend and passphrase, the tenant's password: secrets, 0700. */
  dir: string;
  laptopNs(name: string): string;
}

function labRoot(): string {
  return process.env.FLEET_LAB_DIR ?? path.join(REPO_ROOT, ".lab");
}

export function layout(stack: string): StackLayout {
  checkStackName(stack);
  return { stack, dir: path.join(labRoot(), stack), laptopNs: (name) => `${LAB_PREFIX}${stack}-${name}` };
}
