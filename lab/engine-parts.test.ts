import fc from "fast-check";
import { changedKeys, sameInputs, secret, unwrap } from "./emulator/state";
import { flattenConfig } from "./stackfile";
import { checkStackName, stackTag } from "./layout";

describe("state comparison", () => {
  it("sees through secret wrappers and key order, and names what changed", () => {
    const a = { connection: secret({ host: "10.0.0.1", user: "root" }), create: "x" };
    const b = { create: "x", connection: { user: "root", host: "10.0.0.1" } };
    expect(sameInputs(unwrap(a) as never, unwrap(b) as never)).toBe(true);
    const c = { ...b, stdin: "new" };
    expect(sameInputs(unwrap(a) as never, unwrap(c) as never)).toBe(false);
    expect(changedKeys(unwrap(a) as never, unwrap(c) as never)).toEqual(["stdin"]);
  });
});

describe("stack files", () => {
  it("namespaces bare keys with the project and JSON-encodes objects", () => {
    expect(flattenConfig({ region: "DFW3", "fleet:servers": [{ name: "a" }] }, "fleet")).toEqual({
      "fleet:region": "DFW3",
      "fleet:servers": '[{"name":"a"}]',
    });
  });
  it("refuses encrypted values, naming the key", () => {
    expect(() => flattenConfig({ "fleet:token": { secure: "AAE=" } }, "fleet", "Pulumi.x.yaml")).toThrow(/Pulumi.x.yaml: fleet:token is an encrypted secret/);
  });
});

describe("stack names", () => {
  it("keep link names within the kernel's 15 characters", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9]{1,12}$/), (s) => {
        fc.pre(s !== "t");
        checkStackName(s);
        expect(`fl-${stackTag(s)}-priv`.length).toBeLessThanOrEqual(15);
        expect(`fl-${stackTag(s)}-999u`.length).toBeLessThanOrEqual(15);
      }),
    );
  });
  it("refuses names that could collide with other lab objects", () => {
    for (const bad of ["t", "os", "vm", "Dev", "a-b", "x".repeat(13), ""]) expect(() => checkStackName(bad)).toThrow(/lab stack name/);
  });
});
