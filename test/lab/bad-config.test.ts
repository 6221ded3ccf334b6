/**
 * `npm run lab -- up` with a stack that has problems: every problem is reported, and the lab builds nothing
 * first (no state directory, namespace, bridge or process is left behind).
 */
import { existsSync } from "fs";
import { describeLab } from "./guard";
import { fromStackFile, lab } from "./support";

describeLab("lab: a bad stack config creates nothing", () => {
  const t = lab("labbad");
  beforeAll(() => t.down());
  afterAll(() => t.down());

  it("reports problems in five keys at once and leaves no fabric behind", async () => {
    const config = fromStackFile("Pulumi.dev.yaml");
    const vpn = config["fleet:vpn"] as Record<string, unknown>;
    const servers = config["fleet:servers"] as Record<string, unknown>[];
    const r = await t.up(
      {
        ...config,
        "fleet:vpn": { ...vpn, proto: "tcp", port: 22, adminCidrs: [] },
        "fleet:servers": [...servers, { name: "web-1", role: "web" }],
        "fleet:deploy": { ...(config["fleet:deploy"] as object), healthPath: "/health check" },
        "fleet:network": { cidr: "10.20.0.0/33" },
      },
      { expectFailure: true },
    );
    expect(r.ok).toBe(false);
    for (const key of ["fleet:vpn.port", "fleet:vpn.adminCidrs", "fleet:servers[6].name", "fleet:deploy.healthPath", "fleet:network.cidr"]) {
      expect(r.error).toContain(`${key}: `);
    }
    expect(existsSync(t.L.dir)).toBe(false);
    expect(t.leftovers()).toEqual({ namespaces: [], links: [], processes: [] });
  });

  it("refuses a stack that does not say who may SSH to the gateway, naming fleet:vpn.adminCidrs and what to put there", async () => {
    const config = fromStackFile("Pulumi.dev.yaml");
    const { adminCidrs: _open, ...vpn } = config["fleet:vpn"] as Record<string, unknown>;
    const r = await t.up({ ...config, "fleet:vpn": vpn }, { expectFailure: true });
    expect(r.ok).toBe(false);
    expect(r.error).toContain("fleet:vpn.adminCidrs: is required");
    expect(r.error).toContain("where `pulumi up` runs from");
    expect(existsSync(t.L.dir)).toBe(false);
    expect(t.leftovers()).toEqual({ namespaces: [], links: [], processes: [] });
  });
});
