import { createHash } from "crypto";
import { activateFiles, DeploySpec, prepareFiles, sha256Hex } from "./bundles";
import { DeployConfigError } from "./errors";
import { resolveSource } from "./source";

const spec: DeploySpec = {
  app: "shop",
  source: resolveSource("shop", { git: { url: "https://git.example.com/acme/shop.git", revision: "v2" } }),
  port: 8080,
  healthPath: "/health",
  healthTimeoutSeconds: 30,
  keepReleases: 5,
  command: ["/usr/bin/python3", "server.py"],
  user: "shop",
  linkedDirs: ["tmp", "public/uploads"],
  linkedFiles: ["config/database.yml"],
  deployer: "pulumi:fleet/dev",
};
const DOTENV = 'DB_PASSWORD="hunter2"\nPORT="8080"\n';

describe("prepareFiles / activateFiles", () => {
  it("carries the secret .env only in the prepare bundle's dotenv file", () => {
    const prep = prepareFiles(spec, DOTENV);
    expect(prep.dotenv).toBe(DOTENV);
    for (const [name, content] of Object.entries(prep)) if (name !== "dotenv") expect(content).not.toContain("hunter2");
    expect(JSON.stringify(activateFiles(spec, sha256Hex(DOTENV)))).not.toContain("hunter2");
  });

  it("names the release by revision in both bundles, never by time", () => {
    expect(prepareFiles(spec, DOTENV).release).toBe("v2");
    expect(activateFiles(spec, sha256Hex(DOTENV)).release).toBe("v2");
    expect(prepareFiles(spec, DOTENV)).toEqual(prepareFiles({ ...spec }, DOTENV));
  });

  it("sorts linked paths so the bundle hash does not depend on config order", () => {
    const a = prepareFiles(spec, DOTENV);
    const b = prepareFiles({ ...spec, linkedDirs: [...spec.linkedDirs].reverse() }, DOTENV);
    expect(a.linked_dirs).toBe("public/uploads\ntmp\n");
    expect(a).toEqual(b);
  });

  it("gives activate only a digest of the .env, which changes with it", () => {
    const a = activateFiles(spec, sha256Hex(DOTENV));
    expect(a.env_sha256).toBe(createHash("sha256").update(DOTENV).digest("hex"));
    expect(activateFiles(spec, sha256Hex(DOTENV + "X=1\n")).env_sha256).not.toBe(a.env_sha256);
    expect(() => activateFiles(spec, "nothex")).toThrow(/env digest/);
  });

  it("checks health on loopback at the app's port", () => {
    expect(activateFiles(spec, sha256Hex(DOTENV)).health_url).toBe("http://127.0.0.1:8080/health");
  });

  it.each([
    [{ app: "Shop" }, /deploy\.app/],
    [{ port: 70000 }, /port must be 1-65535/],
    [{ healthPath: "health" }, /healthPath/],
    [{ keepReleases: 1 }, /keepReleases must be an integer >= 2/],
    [{ healthTimeoutSeconds: 0 }, /healthTimeoutSeconds/],
    [{ linkedDirs: ["../etc"] }, /linkedDirs entry "..\/etc"/],
    [{ linkedFiles: ["/etc/passwd"] }, /linkedFiles entry "\/etc\/passwd"/],
    [{ user: "root" }, /user must be an unprivileged Unix user name, got "root"/],
    [{ deployer: "me; reboot" }, /deployer/],
  ])("rejects %p naming the key", (patch, why) => {
    expect(() => activateFiles({ ...spec, ...patch }, sha256Hex(DOTENV))).toThrow(DeployConfigError);
    expect(() => prepareFiles({ ...spec, ...patch }, DOTENV)).toThrow(why);
  });
});
