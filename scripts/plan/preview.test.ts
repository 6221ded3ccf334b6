import fc from "fast-check";
import { PreviewError, summarizePreview } from "./preview";

const urn = (type: string, name: string, parent = "fleet:fleet:Fleet") => `urn:pulumi:dev::fleet::${parent}$${type}::${name}`;
const INSTANCE = "openstack:compute/instance:Instance";
const COMMAND = "command:remote:Command";

describe("summarizePreview", () => {
  it("gives one change per resource: a replacement's three steps are one replace", () => {
    const doc = {
      steps: [
        { op: "same", urn: urn(INSTANCE, "gw-1") },
        { op: "create-replacement", urn: urn(COMMAND, "fleet-vpn-configure") },
        { op: "replace", urn: urn(COMMAND, "fleet-vpn-configure") },
        { op: "delete-replaced", urn: urn(COMMAND, "fleet-vpn-configure") },
        { op: "create", urn: urn(INSTANCE, "app-3") },
        { op: "update", urn: urn(COMMAND, "db-1-firewall") },
        { op: "delete", urn: urn(INSTANCE, "web-2") },
      ],
      changeSummary: { same: 1, replace: 1, create: 1, update: 1, delete: 1 },
    };
    expect(summarizePreview(JSON.stringify(doc))).toEqual({
      counts: { delete: 1, replace: 1, update: 1, create: 1, same: 1 },
      changes: [
        { op: "delete", type: INSTANCE, name: "web-2" },
        { op: "replace", type: COMMAND, name: "fleet-vpn-configure" },
        { op: "update", type: COMMAND, name: "db-1-firewall" },
        { op: "create", type: INSTANCE, name: "app-3" },
      ],
    });
  });

  it("reads a top-level resource's URN (no parent) and a name with :: in it", () => {
    const top = "urn:pulumi:dev::fleet::pulumi:pulumi:Stack::fleet-dev";
    expect(
      summarizePreview({
        steps: [
          { op: "create", urn: top },
          { op: "create", urn: urn(COMMAND, "a::b") },
        ],
      }).changes,
    ).toEqual([
      { op: "create", type: COMMAND, name: "a::b" },
      { op: "create", type: "pulumi:pulumi:Stack", name: "fleet-dev" },
    ]);
  });

  it("says nothing changes when every step is same", () => {
    expect(summarizePreview({ steps: [{ op: "same", urn: urn(INSTANCE, "gw-1") }] })).toEqual({ counts: { same: 1 }, changes: [] });
  });

  it.each([
    ["not JSON", "{", /not JSON/],
    ["no steps", "{}", /no steps list/],
    ["a step without an op", JSON.stringify({ steps: [{ urn: urn(INSTANCE, "x") }] }), /without op and urn/],
    ["an unknown op", JSON.stringify({ steps: [{ op: "explode", urn: urn(INSTANCE, "x") }] }), /unknown step op "explode"/],
    ["a bad URN", JSON.stringify({ steps: [{ op: "create", urn: "gw-1" }] }), /not a Pulumi URN: "gw-1"/],
  ])("refuses %s, saying why", (_what, text, why) => {
    expect(() => summarizePreview(text)).toThrow(PreviewError);
    expect(() => summarizePreview(text)).toThrow(why);
  });

  it("lists each changed resource exactly once, whatever the order and repetition of its steps", () => {
    const ops = ["create", "update", "delete", "same"];
    fc.assert(
      fc.property(fc.array(fc.record({ op: fc.constantFrom(...ops), name: fc.constantFrom("a", "b", "c", "d") }), { maxLength: 20 }), (steps) => {
        const doc = { steps: steps.map((s) => ({ op: s.op, urn: urn(COMMAND, s.name) })) };
        const names = summarizePreview(doc).changes.map((c) => c.name);
        expect(new Set(names).size).toBe(names.length);
        const changed = new Set(steps.filter((s) => s.op !== "same").map((s) => s.name));
        expect(new Set(names)).toEqual(changed);
      }),
    );
  });
});
