/**
 * The host is the truth (issue 16): what the stack reports is checked against what each host's kernel and daemons
 * really run, from outside the hosts. One dev-like stack, changed step by step.
 */
import { spawn } from "child_process";
import { Readable } from "stream";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "fs";
import * as os from "os";
import * as path from "path";
import { describeLab } from "../guard";
import { fromStackFile, lab, LabUp } from "../support";
import { HostProcesses, probeFrom } from "../support/e2e";
import { sshArgv } from "../../../scripts/ssh/openssh";
import { CLOUD_NS } from "../../../lab/openstack";
import { changedNames } from "../../../lab/real-stack";
import { inNs, runAsync } from "../../../lab/sh";

/** A stream's text so far; `until(re)` resolves when it matches, woken by the stream's own data (10 s at most). */
function collect(stream: Readable, timeoutMs = 10_000) {
  let text = "";
  const waiters = new Set<() => void>();
  stream.on("data", (b: Buffer) => {
    text += b.toString();
    for (const w of [...waiters]) w();
  });
  const until = (re: RegExp) =>
    new Promise<void>((ok, fail) => {
      const check = () => {
        if (!re.test(text)) return;
        clearTimeout(timer);
        waiters.delete(check);
        ok();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        fail(new Error(`no ${re} within ${timeoutMs / 1000} s; the stream said: ${text.slice(-500)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { text: () => text, until };
}

const SSH_AUDIT = path.join(process.env.FLEET_CACHE ?? path.join(os.homedir(), ".cache", "openstack-fleet"), "ssh-audit-3.3.0", "bin", "ssh-audit");

describeLab("lab: the host is the truth (real engine)", () => {
  const t = lab("truth");
  const base = fromStackFile("Pulumi.dev.yaml");
  const roles = base["fleet:roles"] as Record<string, { allow?: { proto?: string; ports: number[]; from: string[] }[] }>;
  let first: LabUp;
  const procs = new HostProcesses(t);

  beforeAll(async () => {
    await t.down();
    first = await t.up(base);
  }, 600_000);
  afterAll(async () => {
    procs.killAll();
    await t.down();
  }, 300_000);

  describe("the gateway's sshd", () => {
    it("passes ssh-audit with no warning or failure, and offers no compression", async () => {
      expect(existsSync(SSH_AUDIT)).toBe(true); // installed by scripts/setup.sh (a current release; Debian's is too old)
      const gw = first.host("gw-1").publicIp!;
      const r = await runAsync(inNs(CLOUD_NS, [SSH_AUDIT, "-j", "-n", gw]), { timeoutMs: 60_000 });
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
          inNs(CLOUD_NS, [...sshArgv(await t.connection("gw-1"), dir, "test -L"), "-N", "-v", "-L", `${local}:/run/openvpn-server/fleet.sock`]),
        ),
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      const log = collect(fwd.stderr);
      try {
        // The listener is up once ssh says so; then one connection through it, which sshd must refuse.
        await log.until(/Local forwarding listening on 127\.0\.0\.1 port 17505/);
        const banner = await runAsync(inNs(CLOUD_NS, ["timeout", "5", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/17505; timeout 2 cat <&3"]));
        expect(banner.stdout).not.toContain(">INFO:OpenVPN Management Interface");
        await log.until(/channel \d+: open failed/);
      } finally {
        fwd.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  });

  describe("npm run audit", () => {
    const TSX = path.join("node_modules", ".bin", "tsx");
    const audit = (...args: string[]) => runAsync([TSX, path.join("lab", "cli.ts"), "audit", "--stack", t.stack, ...args], { timeoutMs: 300_000 });

    it("audits the stack from its `pulumi stack export --show-secrets` document, as npm run audit -- --state - does", async () => {
      const exported = await t.pulumi(["stack", "export", "--show-secrets"]);
      expect(exported.code).toBe(0);
      // From the operator's network: where `pulumi up` ran from, for the lab.
      const r = await runAsync(inNs(CLOUD_NS, [TSX, path.join("scripts", "audit.ts"), "--state", "-"]), { input: exported.stdout, timeoutMs: 300_000 });
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.stdout).toContain("All 15 checks on 6 hosts in sync.");
    }, 300_000);

    it("reports every check of a freshly brought-up stack in sync", async () => {
      const r = await audit("--json");
      expect(r.stderr).toBe("");
      const report = JSON.parse(r.stdout) as { inSync: boolean; hosts: { host: string; results: { check: string; inSync: boolean }[] }[] };
      expect(report.hosts.map((h) => [h.host, h.results.filter((c) => c.inSync).map((c) => c.check)])).toEqual([
        ["app-1", ["firewall", "sshd", "deploy"]],
        ["app-2", ["firewall", "sshd", "deploy"]],
        ["db-1", ["firewall", "sshd"]],
        ["gw-1", ["firewall", "vpn", "sshd"]],
        ["web-1", ["firewall", "sshd"]],
        ["web-2", ["firewall", "sshd"]],
      ]);
      expect([report.inSync, r.code]).toEqual([true, 0]);
    }, 300_000);

    it("names exactly the host a hand edit drifted, with the rule, and --repair puts the stack's rules back", async () => {
      const edit = await t.exec("web-2", ["iptables", "-I", "FLEET-INPUT", "-p", "tcp", "--dport", "9999", "-j", "ACCEPT"]);
      expect(edit.code).toBe(0);
      const r = await audit();
      expect(r.code).toBe(1);
      const drifted = r.stdout.split("\n").filter((l) => l.includes("DRIFTED"));
      expect(drifted).toEqual([expect.stringMatching(/^web-2 +firewall +DRIFTED +\+filter: -A FLEET-INPUT -p tcp -m tcp --dport 9999 -j ACCEPT$/)]);
      expect(r.stdout).toContain("1 of 15 checks drifted on 1 host(s): web-2");

      const fixed = await audit("--repair");
      expect(fixed.stdout).toContain("repairing web-2: firewall");
      expect(fixed.stdout).toContain("All 15 checks on 6 hosts in sync.");
      expect(fixed.code).toBe(0);
      expect((await t.exec("web-2", ["iptables-save"])).stdout).not.toContain("9999");
      // The repair re-ran the stack's own apply + confirm: the rules are saved for boot, and `up` has nothing to do.
      expect((await t.up(base)).remoteRuns).toBe(0);
    }, 300_000);

    it("finds a hand-weakened sshd on the gateway, and --repair restores the drop-in without dropping a session", async () => {
      // What sshd offers a client that has not authenticated yet, seen from outside with the pinned host key.
      const offered = async () => {
        const dir = mkdtempSync(path.join(os.tmpdir(), "auth-"));
        try {
          const argv = [
            ...sshArgv(await t.connection("gw-1"), dir, "auth probe"),
            "-v",
            "-o",
            "BatchMode=yes",
            "-o",
            "PreferredAuthentications=none",
            "--",
            "true",
          ];
          const r = await runAsync(inNs(CLOUD_NS, argv), { timeoutMs: 30_000 });
          return /Authentications that can continue: (\S+)/.exec(r.stderr)?.[1] ?? `(none in: ${r.stderr.slice(-300)})`;
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      };
      expect(await offered()).toBe("publickey");
      const weaken = [
        "sed -i 's/^PasswordAuthentication no$/PasswordAuthentication yes/; s/^AuthenticationMethods publickey$/AuthenticationMethods any/'",
        "/etc/ssh/sshd_config.d/10-fleet.conf && systemctl reload ssh.service",
      ].join(" ");
      expect((await t.exec("gw-1", ["sh", "-c", weaken])).code).toBe(0);
      expect(await offered()).toBe("publickey,password");
      // An open SSH session across the repair: sshd's reload must not end it. It answers one line read after it.
      const dir = mkdtempSync(path.join(os.tmpdir(), "sess-"));
      const argv = inNs(CLOUD_NS, [...sshArgv(await t.connection("gw-1"), dir, "session"), "--", 'echo up; read -r x; echo "got $x"']);
      const sess = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "ignore"] });
      const said = collect(sess.stdout);
      const ended = new Promise<number | null>((ok) => sess.on("exit", ok));
      await said.until(/^up\n/);
      expect(said.text()).toBe("up\n");

      const r = await audit();
      expect(r.stdout.split("\n").filter((l) => l.includes("DRIFTED"))).toEqual([
        expect.stringMatching(/^gw-1 +sshd +DRIFTED +\/etc\/ssh\/sshd_config\.d\/10-fleet\.conf differs from the stack's: -AuthenticationMethods publickey$/),
      ]);
      const fixed = await audit("--repair");
      expect(fixed.stdout).toContain("repairing gw-1: sshd");
      expect(fixed.stdout).toContain("All 15 checks on 6 hosts in sync.");
      expect(fixed.code).toBe(0);
      expect(await offered()).toBe("publickey");
      sess.stdin.end("still-here\n");
      expect(await ended).toBe(0);
      expect(said.text()).toBe("up\ngot still-here\n");
      rmSync(dir, { recursive: true, force: true });
    }, 300_000);
  });

  describe("firewall confirm checks the kernel", () => {
    it("a host that restarts between apply and confirm fails the up; the next up confirms, and the removed flow is refused", async () => {
      // db-1 stops taking 5432 from the app servers (only the VPN keeps it). Only db-1's apply runs first
      // (`pulumi up --target`): its new rules are live but unconfirmed, so not saved for boot; then db-1 reboots.
      const narrowed = { ...roles, db: { ...roles.db, allow: [{ proto: "tcp", ports: [5432], from: ["vpn"] }] } };
      const config = { ...base, "fleet:roles": narrowed };
      const applied = await t.up(config, { args: ["--target", await t.urn("db-1-firewall", "command:remote:Command")] });
      expect(changedNames(applied.steps, "command:remote:Command")).toEqual(["db-1-firewall"]);
      await t.reboot("db-1");
      const failed = await t.up(config, { expectFailure: true });
      expect(failed.ok).toBe(false);
      expect(failed.error).toMatch(/db-1-firewall-confirm[\s\S]*fleet: db-1: the kernel does not run rules [0-9a-f]{16}/);
      expect(failed.error).toContain("run `pulumi up` again");

      const healed = await t.up(config);
      const ran = changedNames(healed.steps, "command:remote:Command");
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

  describe("the app's secrets and privileges", () => {
    /** Every process's command line on this machine (lab hosts' processes included), sampled until `stop()`. */
    function sampleCmdlines(): { stop: () => Promise<string[]> } {
      const seen = new Set<string>();
      let on = true;
      const loop = (async () => {
        while (on) {
          for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
            try {
              seen.add(readFileSync(`/proc/${pid}/cmdline`, "latin1"));
            } catch {
              // gone between readdir and read
            }
          }
          await new Promise((r) => setImmediate(r));
        }
      })();
      return {
        stop: async () => {
          on = false;
          await loop;
          return [...seen];
        },
      };
    }

    it("no secret value is ever on a command line during an up that changes appEnv, and the app gets it", async () => {
      const secret = `tok-${process.pid}-${"s3cr3t".repeat(4)}`;
      const sampler = sampleCmdlines();
      const up = await t.up({ ...base, "fleet:appEnv": { API_TOKEN: secret } }, { secrets: ["fleet:appEnv"] });
      const cmdlines = await sampler.stop();
      expect(up.steps.filter((s) => s.op !== "same").map((s) => s.name)).toEqual(expect.arrayContaining(["shop-activate-app-1", "shop-activate-app-2"]));
      expect(cmdlines.length).toBeGreaterThan(100); // the sampler saw the up's ssh sessions and scripts come and go
      expect(cmdlines.filter((c) => c.includes(secret))).toEqual([]);
      const pid = (await t.exec("app-1", ["systemctl", "show", "-p", "MainPID", "--value", "shop.service"])).stdout.trim();
      const environ = await t.exec("app-1", ["cat", `/proc/${pid}/environ`]);
      expect(environ.stdout.split("\0")).toContain(`API_TOKEN=${secret}`);
      const file = await t.exec("app-1", ["stat", "-c", "%a %U", "/srv/shop/.fleet/app.env"]);
      expect(file.stdout.trim()).toBe("600 root");
    }, 300_000);

    it("runs the app as its own system user, which can write its shared dir and nothing else", async () => {
      const pid = (await t.exec("app-1", ["systemctl", "show", "-p", "MainPID", "--value", "shop.service"])).stdout.trim();
      expect((await t.exec("app-1", ["ps", "-o", "user=", "-p", pid])).stdout.trim()).toBe("shop");
      expect((await t.exec("app-1", ["getent", "passwd", "shop"])).stdout).toMatch(/^shop:x:\d+:\d+::\/srv\/shop:\/usr\/sbin\/nologin$/m);
      // Inside the app's own mount namespace (its sandbox), with its uid and gid: what can it write?
      const probe = [
        "for p in /srv/shop/shared /srv/shop/current /srv/shop/releases /etc /usr/local /root /var/tmp /srv/shop/.fleet; do",
        '  if touch "$p/.probe" 2>/dev/null; then echo "$p writable"; rm -f "$p/.probe"; else echo "$p refused"; fi',
        "done; cat /srv/shop/.fleet/app.env >/dev/null 2>&1 && echo 'env readable' || echo 'env refused'",
      ].join("\n");
      const ids = (await t.exec("app-1", ["sh", "-c", 'echo "$(id -u shop) $(id -g shop)"'])).stdout.trim().split(" ");
      const r = await t.exec("app-1", ["nsenter", "-t", pid, "-m", "-S", ids[0], "-G", ids[1], "--", "bash", "-c", probe]);
      expect(r.stdout.trim().split("\n")).toEqual([
        "/srv/shop/shared writable",
        "/srv/shop/current refused",
        "/srv/shop/releases refused",
        "/etc refused",
        "/usr/local refused",
        "/root refused",
        "/var/tmp writable", // PrivateTmp: its own, thrown away with the service
        "/srv/shop/.fleet refused",
        "env refused",
      ]);
    }, 120_000);

    it("an appEnv too large for pulumi to hand the program is refused before anything moves; the largest that fits arrives intact", async () => {
      // pulumi passes the whole config in one environment variable (components/config/pulumi-env.ts): 9 values of
      // 128 KiB cannot go, and the CLI itself would only say "argument list too long".
      const big = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`BLOB_${i}`, `${i}`.repeat(131000)]));
      const refused = await t.up({ ...base, "fleet:appEnv": big }, { expectFailure: true, secrets: ["fleet:appEnv"] });
      expect(refused.ok).toBe(false);
      expect(refused.error).toMatch(/fleet:appEnv: the stack's config is \d+ bytes as pulumi passes it to the program/);
      expect(refused.steps).toEqual([]);

      // What fits: the rest of the dev stack's config plus one value that brings it to about 100 KiB.
      const fits = { BLOB: `${"x".repeat(100_000)}"$\`\\` };
      const started = Date.now();
      const up = await t.up({ ...base, "fleet:appEnv": fits }, { secrets: ["fleet:appEnv"] });
      const took = Date.now() - started;
      expect(up.ok).toBe(true);
      const pid = (await t.exec("app-1", ["systemctl", "show", "-p", "MainPID", "--value", "shop.service"])).stdout.trim();
      const environ = (await t.exec("app-1", ["cat", `/proc/${pid}/environ`])).stdout.split("\0");
      expect(environ).toContain(`BLOB=${fits.BLOB}`);
      console.log(`100 KiB appEnv: up took ${(took / 1000).toFixed(1)} s`);
    }, 300_000);
  });
});
