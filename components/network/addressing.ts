import { Address4 } from "ip-address";

/** Pure IPv4 address math for the private network and the VPN subnet (ip-address does the parsing). */

/** First host offset handed to servers: .1 is the router, the rest of the low range is left for the cloud. */
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

/** The fixed private address of the index-th server (config order). */
export function serverAddress(cidr: string, index: number): string {
  const a = parseCidr(cidr);
  if (!a) throw new Error(`not a network CIDR: ${cidr}`);
  if (index < 0 || index >= serverCapacity(cidr)) throw new Error(`server #${index} does not fit in ${cidr}`);
  return nthAddress(cidr, FIRST_SERVER_OFFSET + index);
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

/** DHCP's range: what lies below the servers' fixed addresses. */
export function dhcpPool(cidr: string): { start: string; end: string } {
  return { start: nthAddress(cidr, 2), end: nthAddress(cidr, FIRST_SERVER_OFFSET - 1) };
}

export function cidrsOverlap(x: string, y: string): boolean {
  const a = parseCidr(x);
  const b = parseCidr(y);
  if (!a || !b) return false;
  return a.isInSubnet(b) || b.isInSubnet(a);
}
