/**
 * The lab itself: a gateway and two private hosts brought up through a Pulumi
 * program under the emulator, then checked from the outside with real SSH and
 * from the inside with nsenter.
 */
import { spawnSync } from "child_process";
import { existsSync } from "fs";
import * as path from "path";
import { describeLab } from "./guard";
import { fromStackFile, lab, LabUp, SshConnection } from "./support";
import { REPO_ROOT } from "../../lab/layout";

const FIXTURE = path.join(__dirname, "support", "fixture", "index.ts");
const SERVERS = [
  { name: "gw", role: "gateway", ip: "10.77.0.10", public: true },
  { name: "app-1", role: "app", ip: "10.77.0.11" },
  { name: "app-2", role: "app", ip: "10.77.0.12" },
];
const config = (extra: Record<string, unknown> = {}, servers = SERVERS) => ({ "fixture:cidr": "10.77.0.0/24", "fixture:servers": servers, ...extra });

describeLab(
  "lab: a small stack through the program",
  () => {
    const t = lab("labt");
    let first: LabUp;
    let key: string;

    const conn = (name: string, hostKey?: string): SshConnection => {
      const o = first.outputs.servers_;
      const gw = { host: o.gw.publicIp, user: "root", privateKey: key, hostKey: o.gw.hostKey };
      if (name === "gw") return { ...gw, hostKey: hostKey ?? gw.hostKey };
      return { host: o[name].privateIp, user: "root", privateKey: key, hostKey: hostKey ?? o[name].hostKey, proxy: gw };
    };

    beforeAll(async () => {
      t.down();
      first = await t.up(config(), { program: FIXTURE });
      key = first.outputs.adminPrivateKey;
    });
    afterAll(() => t.down());

    it("creates every resource once and reports the hosts", () => {
      expect(first.steps.filter((s) => s.op !== "create")).toEqual([]);
      expect(
        first.steps
          .filter((s) => s.type === "openstack:compute/instance:Instance")
          .map((s) => s.name)
          .sort(),
      ).toEqual(["app-1", "app-2", "gw"]);
      const servers = first.hosts.filter((h) => h.kind === "server");
      expect(servers.map((h) => [h.name, h.role, h.netns, h.privateIp, h.publicIp !== null, h.running, h.sshdPid !== null]).sort()).toEqual([
        ["app-1", "app", "fl-labt-app-1", "10.77.0.11", false, true, true],
        ["app-2", "app", "fl-labt-app-2", "10.77.0.12", false, true, true],
        ["gw", "gateway", "fl-labt-gw", "10.77.0.10", true, true, true],
      ]);
      expect(first.host("gw").publicIp).toBe(first.outputs.gatewayIp);
      expect(first.host("eng1").kind).toBe("laptop");
    });

    it("status --json from the CLI lists the same hosts", () => {
      const r = spawnSync(path.join(REPO_ROOT, "node_modules", ".bin", "tsx"), [path.join(REPO_ROOT, "lab", "cli.ts"), "status", "--stack", "labt", "--json"], {
        encoding: "utf8",
      });
      expect(r.status).toBe(0);
      const entries = JSON.parse(r.stdout) as { name: string; netns: string; privateIp: string | null; publicIp: string | null }[];
      expect(entries.find((e) => e.name === "app-2")).toMatchObject({ netns: "fl-labt-app-2", privateIp: "10.77.0.12", publicIp: null });
      expect(entries.map((e) => e.name)).toEqual(expect.arrayContaining(["gw", "app-1", "app-2", "operator", "eng1"]));
    });

    it("reaches every host over SSH with its pinned host key (private ones through the gateway)", async () => {
      for (const name of ["gw", "app-1", "app-2"]) {
        const r = await t.ssh(conn(name), "hostname; cat");
        expect({ name, code: r.code, stderr: r.stderr }).toEqual({ name, code: 0, stderr: "" });
        expect(r.stdout).toBe(`${name}\n`);
      }
      const piped = await t.ssh(conn("app-1"), "cat", { stdin: "through the jump host\n" });
      expect(piped.stdout).toBe("through the jump host\n");
    });

    it("refuses a wrong host key, for the target and for the jump host", async () => {
      const other = first.outputs.servers_["app-2"].hostKey;
      const direct = await t.ssh(conn("gw", other), "true");
      expect(direct.code).toBe(255);
      expect(direct.stderr).toMatch(/Host key verification failed|IDENTIFICATION HAS CHANGED/);
      const behind = await t.ssh(conn("app-1", other), "true");
      expect(behind.code).toBe(255);
      expect(behind.stderr).toMatch(/Host key verification failed|IDENTIFICATION HAS CHANGED/);
      const badJump = await t.ssh({ ...conn("app-1"), proxy: { ...conn("gw"), hostKey: other } }, "true");
      expect(badJump.code).toBe(255);
    });

    it("keeps private hosts off the outside: no direct SSH from the operator or a laptop, no default routes", async () => {
      const direct = await t.ssh({ ...conn("app-1"), proxy: undefined, dialErrorLimit: 1 }, "true");
      expect(direct.code).toBe(255);
      const fromLaptop = await t.ssh(conn("gw"), "hostname", { from: "eng1" });
      expect(fromLaptop.stdout).toBe("gw\n");
      for (const h of ["gw", "app-1", "app-2", "operator", "eng1"]) {
        const r = await t.exec(h, ["ip", "route", "show", "default"]);
        expect({ h, routes: r.stdout }).toEqual({ h, routes: "" });
      }
      // The root namespace holds the lab's bridges and veth legs, but no address on any of them (not even IPv6 link-local).
      const rootAddrs = spawnSync("ip", ["-o", "addr", "show"], { encoding: "utf8" }).stdout.split("\n");
      expect(rootAddrs.filter((l) => l.split(/\s+/)[1]?.startsWith(t.L.linkPrefix))).toEqual([]);
      expect(t.leftovers().links).toEqual(expect.arrayContaining([t.L.privBridge, t.L.pubBridge]));
    });

    it("applies cloud-init: host keys, users, write_files (plain, b64, deferred with owner), runcmd", async () => {
      for (const s of SERVERS) {
        const r = await t.exec(s.name, [
          "sh",
          "-c",
          'cat /etc/fixture/role; stat -c "%U:%G %a" /srv/fixture/owner.txt; cat /srv/fixture/owner.txt; cat /var/lib/fleet/runcmd.marker; id -nG deploy; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2; hostname; cloud-init status',
        ]);
        expect(r.code).toBe(0);
        const fp = spawnSync("ssh-keygen", ["-lf", "-"], { input: first.outputs.servers_[s.name].hostKey, encoding: "utf8" }).stdout.split(" ")[1];
        expect(r.stdout.split("\n")).toEqual([s.role, "deploy:deploy 640", s.name, `ran on ${s.name}`, "deploy fleet", fp, s.name, "status: done", ""]);
      }
      const asDeploy = await t.ssh({ ...conn("gw"), user: "deploy" }, "id -un; sudo -n id -u");
      expect(asDeploy.stdout).toBe("deploy\n0\n");
    });

    it("gives every host its own files: nothing written on one host shows on another or on the machine", async () => {
      const dirs = ["/etc", "/srv", "/root", "/var/lib/fleet", "/tmp", "/home", "/opt", "/var/log"];
      const mark = `lab-private-${process.pid}`;
      const w = await t.exec("app-1", ["sh", "-c", 'for d in "$@"; do echo x > "$d/$0"; done', mark, ...dirs]);
      expect(w.code).toBe(0);
      const seen = await t.exec("app-1", ["sh", "-c", 'for d in "$@"; do cat "$d/$0"; done', mark, ...dirs]);
      expect(seen.stdout).toBe("x\n".repeat(dirs.length));
      for (const other of ["gw", "app-2"]) {
        const r = await t.exec(other, ["sh", "-c", 'for d in "$@"; do [ ! -e "$d/$0" ] || echo "$d"; done', mark, ...dirs]);
        expect({ other, leaked: r.stdout }).toEqual({ other, leaked: "" });
      }
      expect(dirs.filter((d) => existsSync(path.join(d, mark)))).toEqual([]);
      expect(existsSync("/etc/fixture/role")).toBe(false);
    });

    it("reboots a host: processes, kernel state and /tmp gone, disk and pinned host key kept", async () => {
      const before = t.status().find((h) => h.name === "app-1")!;
      await t.exec("app-1", ["sh", "-c", "touch /tmp/volatile; ip route add 10.66.0.0/24 via 10.77.0.10"]);
      await t.reboot("app-1");
      const after = t.status().find((h) => h.name === "app-1")!;
      expect(after.running).toBe(true);
      expect(after.sshdPid).not.toBe(before.sshdPid);
      const r = await t.ssh(
        conn("app-1"),
        "cat /srv/fixture/owner.txt /var/lib/fleet/greeting; ls /tmp | grep -v '^systemd-private-'; ip route | grep -c 10.66 || true; cloud-init status",
      );
      expect(r.stdout).toBe("app-1\nhello app-1\n0\nstatus: done\n");
    });

    it("runs no remote command on a second up with no change, and keeps keys and outputs", async () => {
      const again = await t.up(config(), { program: FIXTURE });
      expect(again.remoteRuns).toBe(0);
      expect(again.steps.filter((s) => s.op !== "same")).toEqual([]);
      expect(again.outputs).toEqual(first.outputs);
    });

    it("replaces a command whose triggers changed (create-before-delete), updates one without, deletes a removed server", async () => {
      const changed = await t.up(config({ "fixture:greeting": "hi" }, SERVERS.slice(0, 2)), { program: FIXTURE });
      const ops = Object.fromEntries(changed.steps.filter((s) => s.op !== "same").map((s) => [s.name, s.op]));
      expect(ops).toEqual({
        "gw-greet": "replace",
        "app-1-greet": "replace",
        "gw-note": "update",
        "app-1-note": "update",
        "app-2-greet": "delete",
        "app-2-note": "delete",
        "app-2-ready": "delete",
        "app-2": "delete",
        "app-2-port": "delete",
        "app-2-hostkey": "delete",
      });
      // greet: 2 new creates + 2 old deletes; note: 2 creates again; app-2: greet and note deletes, before its host went away.
      expect(changed.remoteRuns).toBe(8);
      const r = await t.exec("app-1", ["sh", "-c", "cat /var/lib/fleet/greeting /var/lib/fleet/deleted /var/lib/fleet/note"]);
      expect(r.stdout).toBe("hi app-1\ndeleted: hello app-1\nhi app-1\n");
      expect(t.status().map((h) => h.name)).not.toContain("app-2");
      expect(t.leftovers().namespaces).not.toContain("fl-labt-app-2");
    });

    it("down leaves nothing behind: no namespaces, links, processes or files; twice is fine", () => {
      const pids = t.pids();
      // anchor + sshd on each of the two remaining servers
      expect(pids.length).toBeGreaterThanOrEqual(4);
      t.down();
      expect(t.leftovers(pids)).toEqual({ namespaces: [], links: [], processes: [] });
      expect(existsSync(t.L.dir)).toBe(false);
      t.down();
      expect(t.leftovers(pids)).toEqual({ namespaces: [], links: [], processes: [] });
    });
  },
  ["ip", "nsenter", "unshare", "sshd", "ssh", "ssh-keygen", "useradd"],
);

describeLab(
  "lab: clear errors",
  () => {
    const f = lab("labf");
    afterAll(() => f.down());

    it("names a missing Debian package and the command that installs it", async () => {
      f.down();
      const r = await f.up(config({ "fixture:packages": ["fl-no-such-package"] }, SERVERS.slice(0, 1)), { program: FIXTURE, expectFailure: true });
      expect(r.ok).toBe(false);
      expect(r.error).toContain("the lab image lacks packages the user data asks for: fl-no-such-package: add them to lab/image/packages.txt");
      expect(r.error).toContain("gw");
      // The failed instance leaves no host behind.
      expect(f.status().filter((h) => h.kind === "server")).toEqual([]);
    });
  },
  ["ip", "nsenter", "unshare", "sshd", "ssh"],
);

describeLab(
  "lab: the fleet program (index.ts) brings up a gateway and two private servers",
  () => {
    const t = lab("labp");
    const SERVERS = [
      { name: "gw-1", role: "gateway" },
      { name: "app-1", role: "app" },
      { name: "db-1", role: "db" },
    ];
    let first: LabUp;
    // The dev stack with fewer servers and no app deploy (its git remote is not reachable from the lab).
    const config = () => fromStackFile("Pulumi.dev.yaml", { "fleet:servers": SERVERS, "fleet:deploy": undefined });

    beforeAll(async () => {
      t.down();
      first = await t.up(config());
    });
    afterAll(() => t.down());

    it("makes one lab host per server, the gateway with the public address", () => {
      const servers = first.hosts.filter((h) => h.kind === "server");
      expect(servers.map((h) => [h.name, h.role, h.running]).sort()).toEqual([
        ["app-1", "app", true],
        ["db-1", "db", true],
        ["gw-1", "gateway", true],
      ]);
      expect(first.host("gw-1").publicIp).toMatch(/^203\.0\.113\./);
      expect(first.host("app-1").publicIp).toBeNull();
    });

    it("reaches every server with the host key the stack outputs pin, private ones through the gateway", async () => {
      for (const s of SERVERS) {
        const c = t.connection(s.name);
        expect(c.hostKey?.trim()).toBe(String(first.outputs.servers[s.name].hostKey).trim());
        expect(s.role === "gateway" ? c.proxy : c.proxy?.host).toBe(s.role === "gateway" ? undefined : first.host("gw-1").publicIp);
        const r = await t.ssh(c, "hostname; cat /etc/fleet/role; cloud-init status");
        expect({ s: s.name, out: r.stdout, code: r.code }).toEqual({ s: s.name, out: `${s.name}\n${s.role}\nstatus: done\n`, code: 0 });
      }
      const wrong = await t.ssh({ ...t.connection("db-1"), hostKey: t.connection("app-1").hostKey }, "true");
      expect(wrong.code).toBe(255);
      expect(wrong.stderr).toMatch(/Host key verification failed|IDENTIFICATION HAS CHANGED/);
    });

    it("runs no remote command on a second up", async () => {
      const again = await t.up(config());
      expect(again.remoteRuns).toBe(0);
      expect(again.steps.filter((s) => s.op !== "same")).toEqual([]);
    });

    it("down leaves nothing behind", () => {
      const pids = t.pids();
      t.down();
      expect(t.leftovers(pids)).toEqual({ namespaces: [], links: [], processes: [] });
    });
  },
  ["ip", "nsenter", "unshare", "sshd", "ssh"],
);
