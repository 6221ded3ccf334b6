/**
 * AppDeploy through the whole program in the lab: the engine runs the prepare and
 * activate commands over real SSH through the gateway (pinned host keys), in the
 * dependency order the component declares.
 */
import { execFileSync } from "child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { describeLab } from "../guard";
import { fromStackFile, lab, LabUp } from "../support";
import { changedNames } from "../../../lab/real-stack";

const APP_HOSTS = ["app-1", "app-2", "app-3"];

describeLab(
  "deploy: AppDeploy through the program, over SSH",
  () => {
    const t = lab("dpl");
    let repo = "";
    const sha: Record<string, string> = {};
    const git = (...a: string[]) =>
      execFileSync("git", ["-C", repo, "-c", "user.name=lab", "-c", "user.email=lab@example.com", ...a], { encoding: "utf8" }).trim();

    // No revision: the fleet without its deploy, so each app host can be given its git mirror first (lab hosts
    // cannot reach the Internet); then the deploy, exactly as a stack declares it.
    const config = (revision: string | undefined) =>
      fromStackFile("Pulumi.dev.yaml", {
        "fleet:servers": [{ name: "gw-1", role: "gateway" }, ...APP_HOSTS.map((name) => ({ name, role: "app" }))],
        "fleet:deploy":
          revision === undefined
            ? undefined
            : {
                app: "shop",
                roles: ["app"],
                source: { git: { url: "file:///root/shop.git", revision } },
                port: 8080,
                healthTimeoutSeconds: 5,
                batchSize: 2,
                keepReleases: 3,
              },
        "fleet:appEnv": { API_TOKEN: "lab-secret-token" },
      });

    const get = async (host: string, p: string) => (await t.exec(host, ["curl", "-s", "--max-time", "3", `http://127.0.0.1:8080${p}`])).stdout.trim();
    const cat = async (host: string, file: string) => (await t.exec(host, ["cat", file])).stdout;
    // What changed, in the order the engine started it (a replacement's three steps are one change).
    const deploySteps = (u: LabUp) => changedNames(u.steps);

    beforeAll(async () => {
      await t.down();
      repo = mkdtempSync(path.join(os.tmpdir(), "fl-deploy-prog-"));
      git("init", "-q");
      copyFileSync(path.join(__dirname, "..", "..", "..", "app", "server.py"), path.join(repo, "server.py"));
      for (const v of ["v1", "v2", "v3"]) {
        if (v === "v3") writeFileSync(path.join(repo, "HEALTH_FAIL"), "");
        writeFileSync(path.join(repo, "VERSION"), v);
        git("add", "-A");
        git("commit", "-qm", v);
        git("tag", v);
        sha[v] = git("rev-parse", "HEAD");
      }
      const bundle = path.join(repo, "..", `fl-deploy-prog-${process.pid}.bundle`);
      git("bundle", "create", "-q", bundle, "--all");
      const b64 = readFileSync(bundle).toString("base64");
      rmSync(bundle);
      await t.up(config(undefined), { secrets: ["fleet:appEnv"] });
      // Each app host gets its own copy of "the company's git server".
      for (const h of APP_HOSTS) {
        const r = await t.exec(h, ["sh", "-c", "base64 -d >/root/shop.bundle && git clone -q --mirror /root/shop.bundle /root/shop.git"], b64);
        expect(r.code).toBe(0);
      }
    });
    afterAll(async () => {
      await t.down();
      if (repo) rmSync(repo, { recursive: true, force: true });
    });

    // The app runs as systemd's shop.service: its main process and the release it runs from.
    const unit = async (h: string) => {
      const pid = (await t.exec(h, ["systemctl", "show", "-p", "MainPID", "--value", "shop.service"])).stdout.trim();
      const cwd = (await t.exec(h, ["readlink", `/proc/${pid}/cwd`])).stdout.trim();
      const active = (await t.exec(h, ["systemctl", "is-active", "shop.service"])).stdout.trim();
      return { pid, release: cwd.split("/").pop(), active };
    };
    const unitsBefore: Record<string, { pid: string; release?: string; active: string }> = {};

    it("deploys v1 to every app host and exports the revision per host", async () => {
      const u = await t.up(config("v1"), { secrets: ["fleet:appEnv"] });
      expect(u.outputs.revisions).toEqual({ "app-1": "v1", "app-2": "v1", "app-3": "v1" });
      for (const h of APP_HOSTS) expect(await get(h, "/")).toBe(sha.v1);
      const env = await t.exec("app-1", ["stat", "-c", "%a %U", "/srv/shop/.fleet/app.env"]);
      expect(env.stdout.trim()).toBe("600 root");
      // The token never reaches what pulumi printed (progress, diffs, outputs).
      expect(u.printed).not.toContain("lab-secret-token");
    });

    it("re-runs nothing on a no-op up", async () => {
      const u = await t.up(config("v1"), { secrets: ["fleet:appEnv"] });
      expect(deploySteps(u)).toEqual([]);
      expect(u.remoteRuns).toBe(0);
    });

    it("deploys v2 replacing only deploy resources", async () => {
      const u = await t.up(config("v2"), { secrets: ["fleet:appEnv"] });
      const changed = deploySteps(u);
      expect(changed.length).toBeGreaterThan(0);
      for (const s of changed) expect(s).toMatch(/^shop-(prepare|activate)-app-\d$/);
      // In the order the engine started them: every prepare before any activate, batch 2 after batch 1.
      const done = changed;
      const lastPrepare = Math.max(...APP_HOSTS.map((h) => done.indexOf(`shop-prepare-${h}`)));
      const firstActivate = Math.min(...APP_HOSTS.map((h) => done.indexOf(`shop-activate-${h}`)));
      expect(lastPrepare).toBeLessThan(firstActivate);
      expect(done.indexOf("shop-activate-app-3")).toBeGreaterThan(Math.max(done.indexOf("shop-activate-app-1"), done.indexOf("shop-activate-app-2")));
      expect(u.outputs.revisions).toEqual({ "app-1": "v2", "app-2": "v2", "app-3": "v2" });
      for (const h of APP_HOSTS) expect(await get(h, "/")).toBe(sha.v2);
      // systemd restarted the unit on the new release.
      for (const h of APP_HOSTS) {
        unitsBefore[h] = await unit(h);
        expect({ h, ...unitsBefore[h], pid: undefined }).toEqual({ h, active: "active", release: "v2", pid: undefined });
      }
    });

    it("stops at a broken v3: the first batch rolls back, the last batch is never touched", async () => {
      const before = await cat("app-3", "/srv/shop/revisions.log");
      const u = await t.up(config("v3"), { expectFailure: true, secrets: ["fleet:appEnv"] });
      expect(u.ok).toBe(false);
      expect(u.error).toMatch(/failed its health check/);
      expect(u.error).toMatch(/HEALTH_FAIL marker/);
      // The failing remote command's error, and all the rest pulumi printed, hold no secret: not the app's token,
      // not a private key (the admin key and host keys are inputs of every remote command).
      expect(u.printed).not.toContain("lab-secret-token");
      expect(u.printed).not.toMatch(/PRIVATE KEY/);
      // What each host serves, with its unit's own account when it serves nothing (a failure says why).
      for (const h of APP_HOSTS) {
        const served = await get(h, "/");
        const why =
          served === sha.v2
            ? ""
            : (
                await t.exec(h, [
                  "sh",
                  "-c",
                  "systemctl status --no-pager shop.service; journalctl -u shop.service --no-pager -n 30; tail -n 20 /var/log/shop/app.log",
                ])
              ).stdout;
        expect({ h, served, why }).toEqual({ h, served: sha.v2, why: "" });
      }
      expect(await cat("app-3", "/srv/shop/revisions.log")).toBe(before);
      expect(u.steps.map((s) => s.name)).not.toContain("shop-activate-app-3");
      for (const h of ["app-1", "app-2"]) expect(await cat(h, "/srv/shop/revisions.log")).toMatch(/\tfailed\tv3\t/);
      expect((await t.exec("app-3", ["readlink", "/srv/shop/current"])).stdout.trim()).toBe("releases/v2");
      // Under systemd the rollback restarted the old release (a new main process, on v2); app-3 was not touched.
      for (const h of ["app-1", "app-2"]) {
        const now = await unit(h);
        expect({ h, active: now.active, release: now.release, restarted: now.pid !== unitsBefore[h].pid }).toEqual({
          h,
          active: "active",
          release: "v2",
          restarted: true,
        });
      }
      expect(await unit("app-3")).toEqual(unitsBefore["app-3"]);
    });
  },
  ["ip", "sshd", "ssh", "git", "python3", "curl"],
);
