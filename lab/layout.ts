/**
 * Names and paths of everything one lab stack creates. Every name is derived
 * from the stack here, so `down` can find leftovers by prefix even when the
 * state file is gone, and two stacks never share an object.
 */
import { createHash } from "crypto";
import * as path from "path";
import { LAB_PREFIX } from "./sh";

export const REPO_ROOT = path.resolve(__dirname, "..");

/** The lab's stand-in for the Internet: TEST-NET-3, only ever inside lab namespaces. */
export const PUBLIC_CIDR = "203.0.113.0/24";
export const PUBLIC_PREFIX_LEN = 24;
export const OPERATOR_IP = "203.0.113.2";
/** Engineer laptops: outside the private network, on the public bridge. */
export const LAPTOPS = ["eng1", "eng2"] as const;
export const LAPTOP_IPS: Record<string, string> = { eng1: "203.0.113.3", eng2: "203.0.113.4" };
/** Floating and PublicNet addresses are handed out from here up. */
export const FIRST_PUBLIC_HOST = 10;

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
  dir: string;
  stateFile: string;
  hostsFile: string;
  outputsFile: string;
  logsDir: string;
  /** Prefix of every netns of this stack. */
  nsPrefix: string;
  /** Prefix of every link (bridges, veths) of this stack in the root netns. */
  linkPrefix: string;
  privBridge: string;
  pubBridge: string;
  operatorNs: string;
  laptopNs(name: string): string;
  hostNs(host: string): string;
  hostDir(host: string): string;
  /** Root-side veth of host number `index`; kind p = private, u = public. */
  veth(index: number, kind: "p" | "u"): string;
}

export function labRoot(): string {
  return process.env.FLEET_LAB_DIR ?? path.join(REPO_ROOT, ".lab");
}

export function layout(stack: string): StackLayout {
  checkStackName(stack);
  const tag = stackTag(stack);
  const dir = path.join(labRoot(), stack);
  const nsPrefix = `${LAB_PREFIX}${stack}-`;
  const linkPrefix = `${LAB_PREFIX}${tag}-`;
  return {
    stack,
    dir,
    stateFile: path.join(dir, "state.json"),
    hostsFile: path.join(dir, "hosts.json"),
    outputsFile: path.join(dir, "outputs.json"),
    logsDir: path.join(dir, "logs"),
    nsPrefix,
    linkPrefix,
    privBridge: `${linkPrefix}priv`,
    pubBridge: `${linkPrefix}pub`,
    operatorNs: `${nsPrefix}op`,
    laptopNs: (name) => `${nsPrefix}${name}`,
    hostNs: (host) => `${nsPrefix}${host}`,
    hostDir: (host) => path.join(dir, "hosts", host),
    veth: (index, kind) => `${linkPrefix}${index}${kind}`,
  };
}

/** Server names the lab keeps for its own namespaces. */
export const RESERVED_HOST_NAMES = new Set(["op", "operator", ...LAPTOPS]);
