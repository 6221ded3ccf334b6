/**
 * The host is the truth (issue 16): what the stack reports is checked against what each host's kernel and daemons
 * really run, from outside the hosts. One dev-like stack, changed step by step.
 */
import { spawn } from "child_process";
import { existsSync, mkdtempSync, rmSync } from "fs";
import * as os from "os";
import * as path from "path";
import { describeLab } from "./guard";
import { fromStackFile, lab, LabUp } from "./support";
import { HostProcesses, probeFrom } from "./support/e2e";
import { sshArgv } from "../../lab/emulator/ssh";
import { inNs, runAsync } from "../../lab/sh";

const SSH_AUDIT = path.join(process.env.FLEET_CACHE ?? path.join(os.homedir(), ".cache", "openstack-fleet"), "ssh-audit-3.3.0", "bin", "ssh-audit");

describeLab("lab: the host is the truth", () => {
  const t = lab("truth");
  const base = fromStackFile("Pulumi.dev.yaml");
  const roles = base["fleet:roles"] as Record<string, { allow?: { proto?: string; ports: number[]; from: string[] }[] }>;
  let first: LabUp;
  const procs = new HostProcesses(t);

  beforeAll(async () => {
    t.down();
    first = await t.up(base);
  }, 300_000);
  afterAll(() => {
    procs.killAll();
    t.down();
  });

  describe("the gateway's sshd", () => {
    it("passes ssh-audit with no warning or failure, and offers no compression", async () => {
      expect(existsSync(SSH_AUDIT)).toBe(true); // installed by scripts/setup.sh (a current release; Debian's is too old)
      const gw = first.host("gw-1").publicIp!;
      const r = await runAsync(inNs(t.L.operatorNs, [SSH_AUDIT, "-j", "-n", gw]), { timeoutMs: 60_000 });
      expect(r.stderr).toBe("");
      const report = JSON.parse(r.stdout) as {
        compression: string[];
        kex: { algorithm: string; notes: Record<string, unknown> }[];
        enc: { algorithm: string; notes: Record<string, unknown> }[];
        mac: { algorithm: string; notes: Record<string, unknown> }[];
        key: { algorithm: string; notes: Record<string, unknown> }[];
      };
      expect(report.compression).toEqual(["none"]);
      const flagged = [...report.kex, ...report.enc, ...report.mac, ...report.key].filter((a) => a.notes.fail || a.notes.warn).map((a) => a.algorithm);
      expect(flagged).toEqual([]);
      expect(r.code).toBe(0);
    }, 60_000);

    it("refuses to forward a Unix socket: OpenVPN's management socket is not reachable with ssh -L", async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "fwd-"));
      const local = "127.0.0.1:17505";
      const fwd = spawn(
        ...((argv) => [argv[0], argv.slice(1)] as const)(
          inNs(t.L.operatorNs, [...sshArgv(t.connection("gw-1"), dir, "test -L"), "-N", "-v", "-L", `${local}:/run/openvpn-server/fleet.sock`]),
        ),
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      let log = "";
      fwd.stderr.on("data", (b: Buffer) => (log += b.toString()));
      try {
        // The listener is up once ssh says so; then one connection through it, which sshd must refuse.
        for (let i = 0; i < 100 && !log.includes("Local forwarding listening on"); i++) await new Promise((r) => setTimeout(r, 100));
        expect(log).toContain("Local forwarding listening on 127.0.0.1 port 17505");
        const banner = await runAsync(inNs(t.L.operatorNs, ["timeout", "5", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/17505; timeout 2 cat <&3"]));
        expect(banner.stdout).not.toContain(">INFO:OpenVPN Management Interface");
        for (let i = 0; i < 50 && !/open failed/.test(log); i++) await new Promise((r) => setTimeout(r, 100));
        expect(log).toMatch(/channel \d+: open failed/);
      } finally {
        fwd.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  });

  describe("firewall confirm checks the kernel", () => {
    it("a host that restarts between apply and confirm fails the up; the next up confirms, and the removed flow is refused", async () => {
      // db-1 stops taking 5432 from the app servers (only the VPN keeps it); db-1 reboots right after its apply.
      const narrowed = { ...roles, db: { ...roles.db, allow: [{ proto: "tcp", ports: [5432], from: ["vpn"] }] } };
      const config = { ...base, "fleet:roles": narrowed };
      const failed = await t.up(config, { expectFailure: true, fault: "reboot:db-1:before:db-1-firewall-confirm" });
      expect(failed.ok).toBe(false);
      expect(failed.error).toMatch(/db-1-firewall-confirm[\s\S]*fleet: db-1: the kernel does not run rules [0-9a-f]{16}/);
      expect(failed.error).toContain("run `pulumi up` again");

      const healed = await t.up(config);
      const ran = healed.steps.filter((s) => s.op !== "same" && s.type === "command:remote:Command").map((s) => s.name);
      expect(ran).toEqual(["db-1-firewall-confirm"]);
      expect(healed.outputs.firewallHashes["db-1"]).not.toBe(first.outputs.firewallHashes["db-1"]);

      // Probed from outside: app-1 can no longer open 5432 on db-1, while a listener there answers the VPN's own rule's peers.
      const db = healed.host("db-1").privateIp!;
      await procs.listen("db-1", [{ proto: "tcp", port: 5432 }]);
      expect(await probeFrom(t, "app-1", [{ ip: db, proto: "tcp", port: 5432 }])).toEqual([false]);
      // And it stays so across a reboot now: the confirmed rules were saved.
      await t.reboot("db-1");
      await procs.listen("db-1", [{ proto: "tcp", port: 5432 }]);
      expect(await probeFrom(t, "app-1", [{ ip: db, proto: "tcp", port: 5432 }])).toEqual([false]);
      expect((await t.up(config)).remoteRuns).toBe(0);
    }, 600_000);
  });
});
