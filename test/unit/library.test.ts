/** The package's public API: importable from another stack, and importing it registers nothing. */
import { installMocks, registered, registrationsSettled, resetRegistered } from "./support/mocks";

installMocks();

describe("the library entry point", () => {
  it("exports the components and registers no resource on import", async () => {
    resetRegistered();
    let api: Record<string, unknown> = {};
    jest.isolateModules(() => {
      api = require("../../components");
    });
    await registrationsSettled();
    for (const name of [
      "Fleet",
      "Server",
      "Network",
      "Firewall",
      "RoleSecurityGroups",
      "VpnGateway",
      "VpnPki",
      "AppDeploy",
      "loadFleetConfig",
      "parseFleetConfig",
    ]) {
      expect({ name, type: typeof api[name] }).toEqual({ name, type: "function" });
    }
    expect(registered).toEqual([]);
  });

  it("package.json points main, types and exports at the built components", () => {
    const pkg = require("../../package.json");
    expect(pkg.main).toBe("dist/components/index.js");
    expect(pkg.types).toBe("dist/components/index.d.ts");
    expect(pkg.exports["."]).toEqual({ types: "./dist/components/index.d.ts", default: "./dist/components/index.js" });
  });
});
