import { Address4, Address6 } from "ip-address";

/**
 * The one home of address math (ip-address does the parsing): IPv4 networks for the private network and the VPN
 * subnet, and IPv4 and IPv6 addresses and CIDRs for the firewall's allow-lists.
 */

/**
 * First host offset of the servers' range, where Neutron allocates and where a config may pin an address: .1 is the
 * router, and the low range below stays out of it (stacks created before the cloud allocated addresses have their
 * DHCP port there).
 */
export const FIRST_SERVER_OFFSET = 10;

export function parseCidr(cidr: string): Address4 | undefined {
  if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(cidr) || !Address4.isValid(cidr)) return undefined;
  const a = new Address4(cidr);
  // A network must be written as its own base address (10.0.0.0/24, not 10.0.0.7/24).
  return a.startAddress().address === a.addressMinusSuffix ? a : undefined;
}

/**
 * What is wrong with a network written as IPv4 CIDR, for an error message after the key and the value; undefined
 * when nothing is.
 */
export function networkProblem(cidr: string): string | undefined {
  const [ip, len, ...rest] = cidr.split("/");
  if (!isIpv4(ip) || rest.length > 0 || (len !== undefined && !/^\d{1,2}$/.test(len)) || !Address4.isValid(cidr)) return "is not an IPv4 CIDR";
  if (len === undefined) return "needs a prefix length";
  const a = new Address4(cidr);
  if (a.startAddress().address !== a.addressMinusSuffix) return `is not a network address (did you mean ${a.startAddress().correctForm()}/${a.subnetMask}?)`;
  return undefined;
}

/** OpenVPN's form of a network: `10.8.0.0 255.255.255.0`. */
export function addressAndMask(cidr: string): string {
  const a = parseCidr(cidr);
  if (!a) throw new Error(`not a network CIDR: ${cidr}`);
  return `${a.startAddress().correctForm()} ${Address4.fromBigInt(a.subnetMaskAddress().bigInt()).correctForm()}`;
}

export function isCidr(cidr: string): boolean {
  return parseCidr(cidr) !== undefined;
}

export function isIpv4(ip: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(ip) && Address4.isValid(ip);
}

/** How many servers fit: usable hosts minus the reserved low range and the broadcast address. */
export function serverCapacity(cidr: string): number {
  const a = parseCidr(cidr);
  if (!a) return 0;
  const size = Number(a.endAddress().bigInt() - a.startAddress().bigInt() + 1n);
  return Math.max(0, size - FIRST_SERVER_OFFSET - 1);
}

/** The servers' range: from the 10th address to the last before broadcast. */
export function serverRange(cidr: string): { start: string; end: string } {
  const a = parseCidr(cidr);
  if (!a) throw new Error(`not a network CIDR: ${cidr}`);
  return { start: nthAddress(cidr, FIRST_SERVER_OFFSET), end: Address4.fromBigInt(a.endAddress().bigInt() - 1n).address };
}

/** Whether ip lies in the servers' range of cidr (where a server's address may be pinned). */
export function inServerRange(cidr: string, ip: string): boolean {
  if (!isIpv4(ip) || serverCapacity(cidr) === 0) return false;
  const n = new Address4(ip).bigInt();
  const { start, end } = serverRange(cidr);
  return n >= new Address4(start).bigInt() && n <= new Address4(end).bigInt();
}

/**
 * Neutron's allocation pools: the servers' range minus the addresses the config pins, so the cloud never hands a
 * pinned address to another port. Sorted, so the same pins give the same pools.
 */
export function allocationPools(cidr: string, pinned: string[]): { start: string; end: string }[] {
  const { start, end } = serverRange(cidr);
  const pins = [...new Set(pinned.map((ip) => new Address4(ip).bigInt()))].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const pools: { start: string; end: string }[] = [];
  let from = new Address4(start).bigInt();
  const last = new Address4(end).bigInt();
  for (const p of pins) {
    if (p < from || p > last) continue;
    if (p > from) pools.push({ start: Address4.fromBigInt(from).address, end: Address4.fromBigInt(p - 1n).address });
    from = p + 1n;
  }
  if (from <= last) pools.push({ start: Address4.fromBigInt(from).address, end });
  return pools;
}

/** The n-th address of a network (0 is the network address itself). */
export function nthAddress(cidr: string, n: number): string {
  const a = parseCidr(cidr);
  if (!a) throw new Error(`not a network CIDR: ${cidr}`);
  return Address4.fromBigInt(a.startAddress().bigInt() + BigInt(n)).address;
}

/** The router / gateway address Neutron gives the subnet (.1). */
export function routerAddress(cidr: string): string {
  return nthAddress(cidr, 1);
}

export function cidrsOverlap(x: string, y: string): boolean {
  const a = parseCidr(x);
  const b = parseCidr(y);
  if (!a || !b) return false;
  return a.isInSubnet(b) || b.isInSubnet(a);
}

/**
 * Addresses for a view of the fleet made from config alone (`npm run plan`, the matrix): a pinned server keeps its
 * pin, the others get stand-ins from the allocation pools, in config order. The cloud allocates the real ones, which
 * the firewall reads from the servers' ports.
 */
export function standInAddresses(cidr: string, servers: { privateIp?: string }[]): string[] {
  const pools = allocationPools(
    cidr,
    servers.flatMap((s) => (s.privateIp ? [s.privateIp] : [])),
  );
  let pool = 0;
  let next = pools.length > 0 ? new Address4(pools[0].start).bigInt() : 0n;
  return servers.map((s) => {
    if (s.privateIp) return s.privateIp;
    while (pool < pools.length && next > new Address4(pools[pool].end).bigInt()) {
      pool++;
      if (pool < pools.length) next = new Address4(pools[pool].start).bigInt();
    }
    if (pool >= pools.length) throw new Error(`${servers.length} servers do not fit in ${cidr}`);
    return Address4.fromBigInt(next++).address;
  });
}

export type Family = 4 | 6;

/** 4 or 6 for an address or CIDR of that family, else undefined. */
export function familyOf(addr: string): Family | undefined {
  const bare = addr.split("/")[0];
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bare) && Address4.isValid(addr)) return 4;
  if (bare.includes(":") && Address6.isValid(addr)) return 6;
  return undefined;
}

/** A CIDR of either family in canonical form, or undefined if it is not one (a bare address counts as /32 or /128). */
export function canonicalCidr(cidr: string): { family: Family; cidr: string } | undefined {
  const family = familyOf(cidr);
  if (family === undefined) return undefined;
  const a = family === 4 ? new Address4(cidr) : new Address6(cidr);
  return { family, cidr: `${a.startAddress().correctForm()}/${a.subnetMask}` };
}

function bigOf(addr: string): bigint {
  return familyOf(addr) === 6 ? new Address6(addr).bigInt() : new Address4(addr).bigInt();
}

/** Numeric order (10.0.0.9 before 10.0.0.10), then by prefix length; dedups. */
export function sortAddresses(addrs: string[]): string[] {
  const key = (a: string) => {
    const [ip, len = "999"] = a.split("/");
    return { n: bigOf(ip), len: Number(len) };
  };
  return [...new Set(addrs)]
    .map((a) => ({ a, k: key(a) }))
    .sort((x, y) => (x.k.n < y.k.n ? -1 : x.k.n > y.k.n ? 1 : x.k.len - y.k.len))
    .map((x) => x.a);
}

/** True when addr (an address or CIDR) lies inside cidr; families must match. */
export function within(addr: string, cidr: string): boolean {
  const fa = familyOf(addr);
  if (fa === undefined || fa !== familyOf(cidr)) return false;
  if (fa === 4) return new Address4(addr).isInSubnet(new Address4(cidr));
  return new Address6(addr).isInSubnet(new Address6(cidr));
}
