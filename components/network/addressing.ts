import { Address4 } from "ip-address";

/** Pure IPv4 address math for the private network and the VPN subnet (ip-address does the parsing). */

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
