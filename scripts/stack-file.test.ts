import { flattenConfig, stackFilePath } from "./stack-file";

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

describe("stackFilePath", () => {
  it("names --config-file when the file it names is missing", () => {
    expect(() => stackFilePath("dev", "/nonexistent/Pulumi.x.yaml")).toThrow("--config-file /nonexistent/Pulumi.x.yaml: no such file");
  });

  it("names the stack and its default file when that is missing, and how to name another", () => {
    expect(() => stackFilePath("no-such-stack")).toThrow(
      /^stack no-such-stack: \/.*\/Pulumi\.no-such-stack\.yaml not found \(create it, or name a stack file with --config-file FILE\)$/,
    );
  });

  it("takes the stack's own file when it exists", () => {
    expect(stackFilePath("dev")).toMatch(/\/Pulumi\.dev\.yaml$/);
  });
});
