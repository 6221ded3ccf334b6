/**
 * A stack config with problems: every problem is reported at once, naming the key and the bad value, with no stack
 * trace, and nothing is made. Twice: the lab's own check before it prepares anything, and the program itself under
 * the real `pulumi preview` and `pulumi up` (checked from outside: the OpenStack API and the checkpoint).
 */
import { existsSync } from "fs";
import { describeLab } from "../guard";

import { fromStackFile, lab } from "../support";
import { writeStackConfig } from "../../../lab/pulumi-cli";
import { projectObjects } from "../../../lab/openstack";

const KEYS = ["fleet:vpn.port", "fleet:vpn.adminCidrs", "fleet:servers[6].name", "fleet:deploy.healthPath", "fleet:network.cidr"];
function badConfig(): Record<string, unknown> {
  const config = fromStackFile("Pulumi.dev.yaml");
  const vpn = config["fleet:vpn"] as Record<string, unknown>;
  const servers = config["fleet:servers"] as Record<string, unknown>[];
  return {
    ...config,
    "fleet:vpn": { ...vpn, proto: "tcp", port: 22, adminCidrs: [] },
    "fleet:servers": [...servers, { name: "web-1", role: "web" }],
    "fleet:deploy": { ...(config["fleet:deploy"] as object), healthPath: "/health check" },
    "fleet:network": { cidr: "10.20.0.0/33" },
  };
}

describeLab("a bad stack config creates nothing", () => {
  const t = lab("labbad");
  beforeAll(() => t.down(), 300_000);
  afterAll(() => t.down(), 300_000);

  it("the lab reports problems in five keys at once and prepares nothing", async () => {
    const r = await t.up(badConfig(), { expectFailure: true });
    expect(r.ok).toBe(false);
    for (const key of KEYS) expect(r.error).toContain(`${key}: `);
    expect(existsSync(t.L.dir)).toBe(false);
    expect(projectObjects("lab-labbad").servers).toEqual([]);
  }, 120_000);

  it("the lab refuses a stack that does not say who may SSH to the gateway, naming fleet:vpn.adminCidrs and what to put there", async () => {
    const config = fromStackFile("Pulumi.dev.yaml");
    const { adminCidrs: _open, ...vpn } = config["fleet:vpn"] as Record<string, unknown>;
    const r = await t.up({ ...config, "fleet:vpn": vpn }, { expectFailure: true });
    expect(r.ok).toBe(false);
    expect(r.error).toContain("fleet:vpn.adminCidrs: is required");
    expect(r.error).toContain("where `pulumi up` runs from");
    expect(existsSync(t.L.dir)).toBe(false);
  }, 120_000);

  it.each([["preview"], ["up"]])(
    "the real pulumi %s of the program names every problem, prints no stack trace, and the cloud and checkpoint stay empty",
    async (cmd) => {
      await t.prepare(fromStackFile("Pulumi.dev.yaml"));
      writeStackConfig(t.L, badConfig());
      const r = await t.pulumi(cmd === "up" ? ["up", "--yes", "--skip-preview"] : ["preview"]);
      const said = r.stdout + r.stderr;
      expect(r.code).not.toBe(0);
      for (const key of KEYS) expect(said).toContain(`${key}: `);
      // No JavaScript stack frame (`    at fn (file.ts:1:2)`) anywhere in what the user sees.
      expect(said).not.toMatch(/^\s+at .*\(.*:\d+:\d+\)$/m);
      const objects = projectObjects("lab-labbad");
      expect([objects.servers, objects.ports, objects.networks, objects.securityGroups.filter((g) => g.name !== "default")]).toEqual([[], [], [], []]);
      const state = JSON.parse((await t.pulumi(["stack", "export"])).stdout) as { deployment: { resources?: { type: string }[] } };
      expect((state.deployment.resources ?? []).filter((x) => x.type !== "pulumi:pulumi:Stack")).toEqual([]);
    },
    300_000,
  );
});
