import fc from "fast-check";
import { addressAndMask, allocationPools, cidrsOverlap, inServerRange, isCidr, networkProblem, serverCapacity, standInAddresses } from "./addressing";

describe("addressing", () => {
  it.each([
    ["10.20.0.0/24", true],
    ["10.20.0.0/16", true],
    ["10.20.0.7/24", false],
    ["10.20.0.0/33", false],
    ["300.1.1.0/24", false],
    ["10.20.0.0", false],
    ["banana", false],
  ])("isCidr(%s) = %s", (cidr, ok) => expect(isCidr(cidr)).toBe(ok));

  it.each([
    ["10.20.0.0/24", 245],
    ["10.20.0.0/28", 5],
    ["10.20.0.0/29", 0],
    ["10.20.0.0/30", 0],
  ])("capacity of %s is %d", (cidr, n) => expect(serverCapacity(cidr)).toBe(n));

  it.each([
    ["10.20.0.0/24", [], [["10.20.0.10", "10.20.0.254"]]],
    ["10.20.0.0/24", ["10.20.0.10"], [["10.20.0.11", "10.20.0.254"]]],
    ["10.20.0.0/24", ["10.20.0.254"], [["10.20.0.10", "10.20.0.253"]]],
    [
      "10.20.0.0/24",
      ["10.20.0.50", "10.20.0.20", "10.20.0.21"],
      [
        ["10.20.0.10", "10.20.0.19"],
        ["10.20.0.22", "10.20.0.49"],
        ["10.20.0.51", "10.20.0.254"],
      ],
    ],
    [
      "10.20.0.0/22",
      ["10.20.1.0"],
      [
        ["10.20.0.10", "10.20.0.255"],
        ["10.20.1.1", "10.20.3.254"],
      ],
    ],
  ])("Neutron allocates in %s around the pins %j", (cidr, pins, pools) => {
    expect(allocationPools(cidr, pins as string[]).map((p) => [p.start, p.end])).toEqual(pools);
  });

  it.each([
    ["10.20.0.10", true],
    ["10.20.0.254", true],
    ["10.20.0.9", false],
    ["10.20.0.255", false],
    ["10.20.1.10", false],
    ["10.20.0.1", false],
  ])("%s is in the servers' range of 10.20.0.0/24: %s", (ip, inside) => expect(inServerRange("10.20.0.0/24", ip)).toBe(inside));

  it("stand-ins for a view from config: pins kept, the others from the pools in config order, never a pin", () => {
    expect(standInAddresses("10.20.0.0/24", [{}, { privateIp: "10.20.0.11" }, {}, {}])).toEqual(["10.20.0.10", "10.20.0.11", "10.20.0.12", "10.20.0.13"]);
    expect(standInAddresses("10.20.0.0/24", [{ privateIp: "10.20.0.10" }, {}])).toEqual(["10.20.0.10", "10.20.0.11"]);
    expect(() => standInAddresses("10.20.0.0/28", [{}, {}, {}, {}, {}, {}])).toThrow(/6 servers do not fit in 10.20.0.0\/28/);
  });

  it.each([
    ["10.8.0.0/24", "10.20.0.0/24", false],
    ["10.8.0.0/24", "10.8.0.0/16", true],
    ["10.0.0.0/8", "10.20.0.0/24", true],
    ["192.168.1.0/24", "192.168.1.0/24", true],
  ])("overlap(%s, %s) = %s", (a, b, o) => {
    expect(cidrsOverlap(a, b)).toBe(o);
    expect(cidrsOverlap(b, a)).toBe(o);
  });

  it("pools and pins partition the servers' range: every address is in exactly one pool or pinned, inside the network", () => {
    fc.assert(
      fc.property(fc.integer({ min: 22, max: 28 }), fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 8 }), (prefix, offsets) => {
        const cidr = `10.20.0.0/${prefix}`;
        const n = serverCapacity(cidr);
        const pins = [...new Set(offsets.map((o) => o % n))].map((o) => `10.20.${Math.floor((10 + o) / 256)}.${(10 + o) % 256}`);
        const pools = allocationPools(cidr, pins);
        const toInt = (ip: string) => ip.split(".").reduce((x, o) => x * 256 + Number(o), 0);
        let covered = 0;
        for (const p of pools) {
          expect(toInt(p.start)).toBeLessThanOrEqual(toInt(p.end));
          for (const pin of pins) expect(toInt(pin) >= toInt(p.start) && toInt(pin) <= toInt(p.end)).toBe(false);
          expect(inServerRange(cidr, p.start) && inServerRange(cidr, p.end)).toBe(true);
          covered += toInt(p.end) - toInt(p.start) + 1;
        }
        expect(covered + pins.length).toBe(n);
      }),
      { numRuns: 60 },
    );
  });
});

describe("networkProblem", () => {
  it.each([
    ["10.8.0.0/24", undefined],
    ["10.8.0.1/24", "is not a network address (did you mean 10.8.0.0/24?)"],
    ["10.8.0.0", "needs a prefix length"],
    ["banana", "is not an IPv4 CIDR"],
    ["10.8.0.0/33", "is not an IPv4 CIDR"],
    ["10.8.0.0/24/1", "is not an IPv4 CIDR"],
    ["fd00::/64", "is not an IPv4 CIDR"],
  ])("%s: %s", (cidr, problem) => expect(networkProblem(cidr)).toBe(problem));
});

describe("addressAndMask", () => {
  it.each([
    ["10.8.0.0/24", "10.8.0.0 255.255.255.0"],
    ["10.20.0.0/20", "10.20.0.0 255.255.240.0"],
    ["0.0.0.0/0", "0.0.0.0 0.0.0.0"],
  ])("%s is %s", (cidr, form) => expect(addressAndMask(cidr)).toBe(form));
});
