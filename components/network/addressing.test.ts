import fc from "fast-check";
import { cidrsOverlap, isCidr, serverAddress, serverCapacity } from "./addressing";

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

  it("hands out .10, .11, … in order", () => {
    expect(serverAddress("10.20.0.0/24", 0)).toBe("10.20.0.10");
    expect(serverAddress("10.20.0.0/24", 5)).toBe("10.20.0.15");
    expect(serverAddress("10.20.0.0/22", 300)).toBe("10.20.1.54");
    expect(() => serverAddress("10.20.0.0/28", 5)).toThrow(/does not fit/);
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

  it("every address handed out lies inside the network and is unique", () => {
    fc.assert(
      fc.property(fc.integer({ min: 20, max: 28 }), fc.integer({ min: 0, max: 255 }), (prefix, second) => {
        const cidr = `10.${second}.0.0/${prefix}`;
        const n = Math.min(serverCapacity(cidr), 300);
        const seen = new Set<string>();
        for (let i = 0; i < n; i++) {
          const ip = serverAddress(cidr, i);
          expect(cidrsOverlap(`${ip}/32`, cidr)).toBe(true);
          seen.add(ip);
        }
        expect(seen.size).toBe(n);
      }),
      { numRuns: 40 },
    );
  });
});
