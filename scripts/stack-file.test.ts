import { flattenConfig } from "./stack-file";

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
