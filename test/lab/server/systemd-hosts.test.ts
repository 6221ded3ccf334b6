/**
 * Lab hosts are systemd Debian containers configured by the real cloud-init, so the production boot paths run:
 * checked from outside each host (its SSH, its app port, the VPN from a laptop) and with systemctl inside.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { writeProfile } from "../../../scripts/vpn-profile";
import { describeLab } from "../guard";

import { fromStackFile, lab, LabUp } from "../support";
import { firewallState, startVpnClient } from "../support/e2e";
import { stopClient, VpnClient, waitConnected } from "../vpn/lab";
import { waitFor } from "../../../lab/hosts";
import { stackGuests } from "../../../lab/real-stack";

const SERVERS = ["gw-1", "web-1", "web-2", "app-1", "app-2", "db-1"];

describeLab("lab: hosts the hypervisor boots for Nova run systemd and the real cloud-init", () => {
  const t = lab("sys");
  let up: LabUp;
  const dir = mkdtempSync(path.join(tmpdir(), "fl-sys-"));
  const clients: VpnClient[] = [];
  const sh = async (host: string, script: string) => (await t.exec(host, ["sh", "-c", script], undefined, 120_000)).stdout.trim();
  const health = (host: string) => sh(host, "for i in $(seq 60); do curl -s -m 1 127.0.0.1:8080/health && exit 0; sleep 0.5; done; exit 1");
  const aliceConnects = async (tag: string) => {
    const file = path.join(dir, `${tag}.ovpn`);
    writeProfile(up.outputs.vpnProfiles, "alice", file);
    const c = await startVpnClient(t, "eng1", file, tag);
    clients.push(c);
    await waitConnected(c, 30_000);
    stopClient(c);
  };

  beforeAll(async () => {
    await t.down();
    t.laptops();
    up = await t.up(fromStackFile("Pulumi.dev.yaml"));
  }, 600_000);
  afterAll(async () => {
    for (const c of clients) stopClient(c);
    await t.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it("every host's systemd is running, with no failed unit", async () => {
    for (const h of SERVERS) {
      expect({ h, state: await sh(h, "systemctl is-system-running --wait"), failed: await sh(h, "systemctl --failed --no-legend --plain") }).toEqual({
        h,
        state: "running",
        failed: "",
      });
    }
  });

  it("cloud-init is done on every host and its schema check accepts what the host received", async () => {
    for (const h of SERVERS) {
      expect({ h, status: await sh(h, "cloud-init status --wait >/dev/null; cloud-init status") }).toEqual({ h, status: "status: done" });
      const schema = await t.exec(h, ["cloud-init", "schema", "--system"]);
      expect({ h, code: schema.code, out: schema.stdout.trim() }).toEqual({ h, code: 0, out: expect.stringMatching(/Valid cloud-config/) });
      // The seed holds the user data Nova holds for the server (real-fleet compares the two byte for byte).
      expect(await sh(h, "head -n1 /var/lib/cloud/seed/nocloud/user-data")).toBe("#cloud-config");
      expect(await sh(h, "cloud-init query local_hostname")).toBe(h);
    }
  });

  it("the fleet's units are active: firewall restore enabled everywhere, openvpn on the gateway, the app on deploy roles", async () => {
    for (const h of SERVERS) expect({ h, fw: await sh(h, "systemctl is-enabled fleet-firewall.service") }).toEqual({ h, fw: "enabled" });
    expect(await sh("gw-1", "systemctl is-active openvpn-server@fleet.service")).toBe("active");
    for (const h of ["app-1", "app-2"]) expect({ h, app: await sh(h, "systemctl is-active shop.service") }).toEqual({ h, app: "active" });
  });

  it.each([["gw-1"], ["web-1"], ["app-1"], ["db-1"]])(
    "a hard reboot of %s through Nova: kernel state is rebuilt by the host's own boot path, identical, with no up",
    async (h) => {
      const before = await firewallState(t, h);
      const bootBefore = await sh(h, "cat /proc/sys/kernel/random/boot_id; systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target");
      await t.reboot(h);
      expect(await sh(h, "systemctl is-system-running --wait")).toBe("running");
      expect(await sh(h, "systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target")).not.toBe(bootBefore.split("\n")[1]);
      expect(await sh(h, "systemctl is-active fleet-firewall.service")).toBe("active");
      expect(await firewallState(t, h)).toBe(before);
      if (h === "gw-1") await aliceConnects(`after-reboot-${h}`);
      if (h === "app-1") expect(await health(h)).toBe("ok");
    },
    180_000,
  );

  it("a reboot from inside (systemctl reboot) comes back by itself: firewall identical, the app answers", async () => {
    const before = await firewallState(t, "app-2");
    const pid1 = await sh("app-2", "cat /proc/1/stat | cut -d' ' -f22");
    // --no-block: the manager answers with the queued job instead of waiting on it. It can still go down before its
    // answer leaves ("Call to Reboot failed: Connection reset by peer", seen in a CI run whose host did reboot); the
    // event below, a new PID 1, is what proves the reboot.
    const asked = await t.exec("app-2", ["systemctl", "--no-block", "reboot"]);
    expect(asked.code).toBe(0);
    expect(asked.stderr.trim()).toMatch(/^(|Call to Reboot failed: Connection reset by peer)$/);
    // The event itself: a new PID 1 (another start time) inside app-2, i.e. the supervisor booted it again. A unit
    // that is slow to stop may hold the shutdown up to systemd's stop timeout (90 s), so allow for that.
    await waitFor(
      "app-2 to come back with a new PID 1",
      async () => {
        // Nothing (not a start time) while the old system is going down or the new one not yet up.
        // Each probe is short: entering a container that is being torn down can block, and one blocked probe must
        // not use up the whole wait.
        // Between the old system and the new one the lab says the host is not running: that is "not yet", too.
        const now = await t
          .exec("app-2", ["sh", "-c", "cat /proc/1/stat | cut -d' ' -f22"], undefined, 5_000)
          .then((r) => r.stdout.trim())
          .catch(() => "");
        return /^\d+$/.test(now) && now !== pid1;
      },
      150_000,
    ).catch(async (e: Error) => {
      // What the host said while it went down: the state and jobs of its systemd (a stop job that held it), its console.
      const log = path.join(stackGuests(t.L)["app-2"].dir, "console.log");
      const state = await sh("app-2", "systemctl is-system-running; systemctl list-jobs --no-pager | head -20").catch(
        (x: Error) => `(no answer: ${x.message})`,
      );
      throw new Error(
        `${e.message}\n--- app-2 systemd ---\n${state}\n--- app-2 console ---\n${existsSync(log) ? readFileSync(log, "utf8").slice(-4000) : "(none)"}`,
      );
    });
    // The new system's manager answers only once it is up far enough; until then systemctl cannot connect.
    await waitFor(
      "app-2's systemd to report running after the reboot",
      async () => (await sh("app-2", "systemctl is-system-running --wait").catch(() => "")) === "running",
      90_000,
    );
    expect(await firewallState(t, "app-2")).toBe(before);
    expect(await health("app-2")).toBe("ok");
  }, 300_000);
});
