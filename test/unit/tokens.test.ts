/** Every component's type token is `fleet:<its folder>:<its class>`, so a URN tells where its code is. */
import { readdirSync, readFileSync } from "fs";
import * as path from "path";

const COMPONENTS = path.join(__dirname, "..", "..", "components");
const sources = readdirSync(COMPONENTS, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) =>
    readdirSync(path.join(COMPONENTS, d.name))
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
      .map((f) => ({ folder: d.name, file: path.join(d.name, f), text: readFileSync(path.join(COMPONENTS, d.name, f), "utf8") })),
  );
const components = sources.flatMap(({ folder, file, text }) =>
  [...text.matchAll(/export class (\w+) extends pulumi\.ComponentResource[^]*?super\("([^"]+)"/g)].map((m) => ({ folder, file, cls: m[1], token: m[2] })),
);

describe("component type tokens", () => {
  it("finds the components", () => {
    expect(components.map((c) => c.cls).sort()).toEqual(
      ["AppDeploy", "Firewall", "Fleet", "Network", "RoleSecurityGroups", "Server", "VpnGateway", "VpnPki"].sort(),
    );
  });

  it.each(components.map((c) => [c.file, c]))("%s: fleet:<folder>:<class>", (_file, c) => {
    expect(c.token).toBe(`fleet:${c.folder}:${c.cls}`);
  });
});
