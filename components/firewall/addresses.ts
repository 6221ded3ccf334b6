import { Address4, Address6 } from "ip-address";

/** Address helpers for the firewall renderer and matrix; ip-address does the parsing. */

export type Family = 4 | 6;

export class FirewallInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FirewallInputError";
  }
}

export function familyOf(addr: string): Family | undefined {
  const bare = addr.split("/")[0];
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bare) && Address4.isValid(addr)) return 4;
  if (bare.includes(":") && Address6.isValid(addr)) return 6;
  return undefined;
}

/** A CIDR in canonical form, or undefined if it is not one (a bare address counts as /32 or /128). */
export function canonicalCidr(cidr: string): { family: Family; cidr: string } | undefined {
  const family = familyOf(cidr);
  if (family === 4) {
    const a = new Address4(cidr);
    return { family, cidr: `${a.startAddress().correctForm()}/${a.subnetMask}` };
  }
  if (family === 6) {
    const a = new Address6(cidr);
    return { family, cidr: `${a.startAddress().correctForm()}/${a.subnetMask}` };
  }
  return undefined;
}

/**
 * ipset hash:net rejects a /0 prefix, so "everywhere" becomes its two halves.
 * Everything else passes through canonicalised.
 */
export function ipsetNets(cidr: string): string[] {
  const c = canonicalCidr(cidr);
  if (!c) throw new FirewallInputError(`not a CIDR: ${JSON.stringify(cidr)}`);
  if (c.cidr === "0.0.0.0/0") return ["0.0.0.0/1", "128.0.0.0/1"];
  if (c.cidr === "::/0") return ["::/1", "8000::/1"];
  return [c.cidr];
}

function bigOf(addr: string): bigint {
  return familyOf(addr) === 6 ? new Address6(addr).bigInt() : new Address4(addr).bigInt();
}

/** Numeric order (10.0.0.9 before 10.0.0.10), then by prefix length; dedups. */
export function sortAddresses(addrs: string[]): string[] {
  const uniq = [...new Set(addrs)];
  const key = (a: string) => {
    const [ip, len = "999"] = a.split("/");
    return { n: bigOf(ip), len: Number(len) };
  };
  return uniq
    .map((a) => ({ a, k: key(a) }))
    .sort((x, y) => (x.k.n < y.k.n ? -1 : x.k.n > y.k.n ? 1 : x.k.len - y.k.len))
    .map((x) => x.a);
}

/** True when addr (an address or CIDR) lies inside cidr; families must match. */
export function within(addr: string, cidr: string): boolean {
  const fa = familyOf(addr);
  const fc = familyOf(cidr);
  if (fa === undefined || fa !== fc) return false;
  if (fa === 4) return new Address4(addr).isInSubnet(new Address4(cidr));
  return new Address6(addr).isInSubnet(new Address6(cidr));
}
