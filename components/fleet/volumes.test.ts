import { parseFleetConfig } from "../config/validate";
import { FleetConfig } from "../config/types";
import { checkVolumes, VolumeRecord } from "./volumes";

const SERVERS = [
  { name: "gw-1", role: "gateway" },
  { name: "db-1", role: "db" },
  { name: "db-2", role: "db" },
];
function config(over: { servers?: { name: string; role: string }[]; retire?: string[]; size?: number; volume?: boolean } = {}): FleetConfig {
  return parseFleetConfig({
    vpn: { adminCidrs: ["203.0.113.0/24"] },
    roles: { db: over.volume === false ? {} : { volume: { size: over.size ?? 10, mountPoint: "/srv/data" } } },
    servers: over.servers ?? SERVERS,
    ...(over.retire ? { retire: over.retire } : {}),
  });
}
const rec = (id: string, extra: Partial<VolumeRecord> = {}): VolumeRecord => ({ id, role: "db", sizeGb: 10, mountPoint: "/srv/data", ...extra });
const PREVIOUS = { "db-1": rec("vol-1"), "db-2": rec("vol-2") };

describe("checkVolumes", () => {
  it("accepts a new stack and an unchanged one, keeping nothing extra", () => {
    expect(checkVolumes({}, config())).toEqual({ problems: [], warnings: [], retained: {} });
    expect(checkVolumes(PREVIOUS, config())).toEqual({ problems: [], warnings: [], retained: {} });
  });

  it("refuses a stateful server gone from the list, naming its volume and how to retire it", () => {
    const r = checkVolumes(PREVIOUS, config({ servers: SERVERS.filter((s) => s.name !== "db-1") }));
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toContain("fleet:servers: db-1 (role db) is gone from the list, but its data is on volume vol-1 (10 GiB, /srv/data)");
    expect(r.problems[0]).toContain("add it to fleet:retire");
  });

  it.each([
    ["one server", ["db-1"], ["db-1"]],
    ["both", ["db-1", "db-2"], ["db-1", "db-2"]],
  ])("retires %s on purpose: its volume is kept, marked retired", (_t, retire, kept) => {
    const r = checkVolumes(PREVIOUS, config({ servers: SERVERS.filter((s) => !retire.includes(s.name)), retire }));
    expect(r.problems).toEqual([]);
    expect(Object.keys(r.retained)).toEqual(kept);
    for (const name of kept) expect(r.retained[name]).toEqual({ ...PREVIOUS[name as keyof typeof PREVIOUS], retired: true });
  });

  it("lets a retired volume go once the server leaves fleet:retire, and keeps it while it stays", () => {
    const previous = { ...PREVIOUS, "db-1": rec("vol-1", { retired: true }) };
    const without = SERVERS.filter((s) => s.name !== "db-1");
    expect(checkVolumes(previous, config({ servers: without }))).toEqual({ problems: [], warnings: [], retained: {} });
    expect(checkVolumes(previous, config({ servers: without, retire: ["db-1"] })).retained).toEqual({ "db-1": rec("vol-1", { retired: true }) });
  });

  it("takes a retired server back: it gets its old volume again", () => {
    const previous = { ...PREVIOUS, "db-1": rec("vol-1", { retired: true }) };
    expect(checkVolumes(previous, config())).toEqual({ problems: [], warnings: [], retained: {} });
  });

  it("refuses to shrink a volume, and a stateful server whose role lost its volume", () => {
    expect(checkVolumes(PREVIOUS, config({ size: 5 })).problems).toEqual([
      expect.stringContaining("fleet:roles.db.volume.size: 5 GiB is smaller than db-1's volume vol-1 (10 GiB)"),
      expect.stringContaining("fleet:roles.db.volume.size: 5 GiB is smaller than db-2's volume vol-2 (10 GiB)"),
    ]);
    expect(checkVolumes(PREVIOUS, config({ size: 20 })).problems).toEqual([]);
    expect(checkVolumes(PREVIOUS, config({ volume: false })).problems).toEqual([
      expect.stringContaining("fleet:servers[1]: db-1 keeps its data on volume vol-1"),
      expect.stringContaining("fleet:servers[2]: db-2 keeps its data on volume vol-2"),
    ]);
  });

  it("warns about a name in fleet:retire that has no volume", () => {
    const r = checkVolumes({}, config({ servers: SERVERS.slice(0, 2), retire: ["db-9"] }));
    expect(r).toEqual({ problems: [], warnings: [expect.stringContaining("fleet:retire: db-9 has no volume in this stack")], retained: {} });
  });
});
