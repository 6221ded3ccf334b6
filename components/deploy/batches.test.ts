import fc from "fast-check";
import { planBatches } from "./batches";
import { DeployConfigError } from "./errors";

describe("planBatches", () => {
  describe.each([
    {
      hosts: ["a", "b", "c", "d", "e", "f"],
      size: 2,
      want: [
        ["a", "b"],
        ["c", "d"],
        ["e", "f"],
      ],
    },
    { hosts: ["a", "b", "c", "d", "e"], size: 2, want: [["a", "b"], ["c", "d"], ["e"]] },
    { hosts: ["web3", "web1", "web2"], size: 1, want: [["web3"], ["web1"], ["web2"]] },
    { hosts: ["a", "b"], size: 5, want: [["a", "b"]] },
    { hosts: [], size: 3, want: [] },
  ])("$hosts in batches of $size", ({ hosts, size, want }) => {
    it("splits in config order", () => {
      expect(planBatches(hosts, size)).toEqual(want);
    });
  });

  it.each([0, -1, 1.5, NaN])("rejects batch size %p naming the key", (size) => {
    expect(() => planBatches(["a"], size)).toThrow(DeployConfigError);
    expect(() => planBatches(["a"], size)).toThrow(/deploy\.batchSize/);
  });

  it("rejects a host listed twice, naming it", () => {
    expect(() => planBatches(["a", "b", "a"], 2)).toThrow(/host "a" twice/);
  });

  const uniqueHosts = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), { maxLength: 40 });

  it("puts every host in exactly one batch, in the given order", () => {
    fc.assert(
      fc.property(uniqueHosts, fc.integer({ min: 1, max: 12 }), (hosts, size) => {
        const batches = planBatches(hosts, size);
        expect(batches.flat()).toEqual(hosts);
      }),
    );
  });

  it("fills every batch but the last, and uses ceil(N/B) batches", () => {
    fc.assert(
      fc.property(uniqueHosts, fc.integer({ min: 1, max: 12 }), (hosts, size) => {
        const batches = planBatches(hosts, size);
        expect(batches.length).toBe(Math.ceil(hosts.length / size));
        batches.forEach((b, i) => {
          expect(b.length).toBeGreaterThan(0);
          if (i < batches.length - 1) expect(b.length).toBe(size);
          else expect(b.length).toBeLessThanOrEqual(size);
        });
      }),
    );
  });

  it("is deterministic", () => {
    fc.assert(
      fc.property(uniqueHosts, fc.integer({ min: 1, max: 12 }), (hosts, size) => {
        expect(planBatches([...hosts], size)).toEqual(planBatches([...hosts], size));
      }),
    );
  });
});
