import { encryptedNote, flattenConfigValues, stackFileConfig } from "./stack-yaml";

describe("stackFileConfig", () => {
  const text = [
    "config:",
    "  region: DFW3",
    "  fleet:servers:",
    "    - name: a",
    "      role: gateway",
    "  fleet:appEnv:",
    "    secure: v1:AAAABBBB",
    "  openstack:password:",
    "    secure: v1:CCCC",
    "  fleet:flag: on",
  ].join("\n");

  it("namespaces bare keys with the project and keeps values as written", () => {
    const c = stackFileConfig(text, "Pulumi.x.yaml", "fleet");
    expect(c.values).toEqual({ "fleet:region": "DFW3", "fleet:servers": [{ name: "a", role: "gateway" }], "fleet:flag": "on" });
  });

  it("hands values to a program as the CLI does: strings as they are, the rest as JSON", () => {
    expect(stackFileConfig(text, "Pulumi.x.yaml", "fleet").flat).toEqual({
      "fleet:region": "DFW3",
      "fleet:servers": '[{"name":"a","role":"gateway"}]',
      "fleet:flag": "on",
    });
    expect(flattenConfigValues({ n: 3, b: true, s: "3" })).toEqual({ n: "3", b: "true", s: "3" });
  });

  it("leaves encrypted values out and names them, sorted", () => {
    const c = stackFileConfig(text, "Pulumi.x.yaml", "fleet");
    expect(c.encryptedKeys).toEqual(["fleet:appEnv", "openstack:password"]);
    expect(JSON.stringify(c)).not.toContain("v1:");
  });

  it("says which keys a run goes without, and nothing when none", () => {
    expect(encryptedNote("Pulumi.x.yaml", ["fleet:appEnv"])).toBe(
      "note: Pulumi.x.yaml: fleet:appEnv is encrypted (secure:); only pulumi can read it, so this run goes without",
    );
    expect(encryptedNote("Pulumi.x.yaml", [])).toBeUndefined();
  });
});
