/**
 * The deploy scripts, for real: git/artifact fetch, shared .env, atomic switch,
 * health-gated rollback, lock, pruning and no-op re-runs, on 4 lab hosts (systemd as PID 1, each its own disk,
 * the app as its systemd unit), driven through the bundle loader.
 */
import { execFileSync } from "child_process";
import { createHash } from "crypto";
import {
  copyFileSync,
  existsSync,
  FSWatcher,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  utimesSync,
  watch,
  writeFileSync,
} from "fs";
import * as os from "os";
import * as path from "path";
import { describeLab } from "../guard";
import {
  appPid as pidOf,
  copyIntoHosts,
  createHosts,
  destroyHosts,
  DeployHost,
  hostPath,
  httpGet,
  procFile,
  REPO_IN_HOST,
  rollout,
  RolloutError,
  runScript,
  ScriptResult,
  lockHolderIn,
  lockFreeIn,
} from "./hosts";
import { activateFiles, DeploySpec, prepareFiles, sha256Hex } from "../../../components/deploy/bundles";
import { renderDotenv } from "../../../components/deploy/dotenv";
import { DeploySource, resolveSource } from "../../../components/deploy/source";
import { SAMPLE_APP_COMMAND } from "../../../components/deploy/deploy";

/**
 * Resolves once `file` exists. Woken by inotify (fs.watch) on each directory on the way to it as it appears, so
 * it answers at the event itself; rejects after timeoutMs.
 */
function whenExists(file: string, timeoutMs: number): Promise<void> {
  return new Promise((ok, fail) => {
    const watchers = new Map<string, FSWatcher>();
    const finish = (e?: Error) => {
      clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      if (e) fail(e);
      else ok();
    };
    const timer = setTimeout(() => finish(new Error(`${file} did not appear within ${timeoutMs / 1000} s`)), timeoutMs);
    const check = (): void => {
      if (existsSync(file)) return finish();
      // Watch the deepest existing directory on the way; a new one there triggers another check.
      let dir = path.dirname(file);
      while (!existsSync(dir)) dir = path.dirname(dir);
      if (!watchers.has(dir)) {
        watchers.set(dir, watch(dir, check));
        check(); // it may have appeared before the watch began
      }
    };
    check();
  });
}

const APP = "shop";
const PORT = 8080;
// Quotes, $, backquote and backslash: the .env must reach the app byte for byte.
const SECRET = `tok-"q" $HOME \`id\` \\n end`;

describeLab(
  "deploy scripts in the lab",
  () => {
    let hosts: DeployHost[] = [];
    let repo = "";
    const sha: Record<string, string> = {};
    const outputs: ScriptResult[] = [];

    const git = (...a: string[]) =>
      execFileSync("git", ["-C", repo, "-c", "user.name=lab", "-c", "user.email=lab@example.com", ...a], { encoding: "utf8" }).trim();

    function spec(revision: string, patch: Partial<DeploySpec> = {}, source?: DeploySource): DeploySpec {
      const app = patch.app ?? APP;
      return {
        app,
        source: resolveSource(app, source ?? { git: { url: `file://${REPO_IN_HOST}`, revision } }),
        port: PORT,
        healthPath: "/health",
        healthTimeoutSeconds: 3,
        keepReleases: 3,
        command: SAMPLE_APP_COMMAND,
        // An existing user of the image; prepare adds a missing one (the deploy-program suite's default user).
        user: "nobody",
        linkedDirs: ["tmp"],
        linkedFiles: [],
        deployer: "lab@test",
        ...patch,
      };
    }
    const dotenv = (port = PORT, token = SECRET) => renderDotenv(APP, { PORT: String(port), API_TOKEN: token });

    async function deploy(revision: string, batchSize: number, patch: Partial<DeploySpec> = {}, on = hosts) {
      const s = spec(revision, patch);
      try {
        const env = dotenv(s.port);
        const r = await rollout(on, batchSize, prepareFiles(s, env), activateFiles(s, sha256Hex(env)));
        outputs.push(...r.prepares, ...r.activates.flat());
        return r;
      } catch (e) {
        if (e instanceof RolloutError) outputs.push(...e.failed);
        throw e;
      }
    }
    const prepare = (h: DeployHost, s: DeploySpec, env = dotenv(s.port)) => runScript(h, "deploy-prepare", prepareFiles(s, env)).then(keep);
    const activate = (h: DeployHost, s: DeploySpec, env = dotenv(s.port)) => runScript(h, "deploy-activate", activateFiles(s, sha256Hex(env))).then(keep);
    const keep = (r: ScriptResult) => (outputs.push(r), r);

    const served = (h: DeployHost, port = PORT) => httpGet(h, port, "/").body;
    const current = (h: DeployHost, app = APP) => readlinkSync(hostPath(h, `/srv/${app}/current`));
    const currentIno = (h: DeployHost) => lstatSync(hostPath(h, `/srv/${APP}/current`)).ino;
    const auditLog = (h: DeployHost) => readFileSync(hostPath(h, `/srv/${APP}/revisions.log`), "utf8");
    const appPid = (h: DeployHost) => pidOf(h, APP);
    const environ = (h: DeployHost) => procFile(h, appPid(h), "environ");
    const cmdline = (h: DeployHost) => procFile(h, appPid(h), "cmdline").join(" ");
    const releases = (h: DeployHost) =>
      readdirSync(hostPath(h, `/srv/${APP}/releases`))
        .filter((n) => !n.startsWith("."))
        .sort();

    beforeAll(async () => {
      repo = mkdtempSync(path.join(os.tmpdir(), "fl-deploy-repo-"));
      git("init", "-q");
      copyFileSync(path.join(__dirname, "..", "..", "..", "app", "server.py"), path.join(repo, "server.py"));
      for (let v = 1; v <= 8; v++) {
        writeFileSync(path.join(repo, "VERSION"), `v${v}\n`);
        // v3 is the broken release: the sample app fails /health when it carries this marker.
        if (v === 3) writeFileSync(path.join(repo, "HEALTH_FAIL"), "");
        if (v === 4) rmSync(path.join(repo, "HEALTH_FAIL"));
        git("add", "-A");
        git("commit", "-qm", `v${v}`);
        git("tag", `v${v}`);
        sha[`v${v}`] = git("rev-parse", "HEAD");
      }
      hosts = await createHosts("dp", 4);
      copyIntoHosts(hosts, repo);
    }, 120_000);

    afterAll(async () => {
      await destroyHosts(hosts);
      if (repo) rmSync(repo, { recursive: true, force: true });
    });

    it("deploys v1 to every host with the env file root's own at 0600, never in output or on a command line", async () => {
      await deploy("v1", 2);
      for (const h of hosts) {
        expect(served(h)).toBe(sha.v1);
        expect(current(h)).toBe("releases/v1");
        expect(readFileSync(hostPath(h, `/srv/${APP}/releases/v1/REVISION`), "utf8").trim()).toBe(sha.v1);
        const env = statSync(hostPath(h, `/srv/${APP}/.fleet/app.env`));
        expect([env.mode & 0o777, env.uid]).toEqual([0o600, 0]);
        expect(existsSync(hostPath(h, `/srv/${APP}/shared/.env`))).toBe(false);
        expect(existsSync(hostPath(h, `/srv/${APP}/releases/v1/.env`))).toBe(false);
        expect(readlinkSync(hostPath(h, `/srv/${APP}/releases/v1/tmp`))).toBe(`/srv/${APP}/shared/tmp`);
        // The unit gave the app exactly the configured environment...
        expect(environ(h)).toContain(`API_TOKEN=${SECRET}`);
        expect(environ(h)).toContain(`PORT=${PORT}`);
        // ... and no value of it is an argument of the app.
        expect(cmdline(h)).not.toContain("tok-");
        expect(auditLog(h)).toMatch(new RegExp(`\\t${h.name}\\tlab@test\\tdeployed\\tv1\\t${sha.v1}\\tprevious=\\n$`));
      }
      for (const o of outputs) expect(o.stdout + o.stderr).not.toContain("tok-");
    });

    it("prepares v2 everywhere without touching current, then switches in batches of 2", async () => {
      const s = spec("v2");
      const prep = await Promise.all(hosts.map((h) => prepare(h, s)));
      expect(prep.map((r) => r.code)).toEqual([0, 0, 0, 0]);
      for (const h of hosts) {
        expect(current(h)).toBe("releases/v1");
        expect(served(h)).toBe(sha.v1);
        expect(existsSync(hostPath(h, `/srv/${APP}/releases/v2/server.py`))).toBe(true);
      }
      const r = await deploy("v2", 2);
      expect(r.activates.map((b) => b.map((x) => x.host))).toEqual([
        ["dp1", "dp2"],
        ["dp3", "dp4"],
      ]);
      expect(r.prepares.every((p) => /reusing/.test(p.stdout))).toBe(true);
      for (const h of hosts) {
        expect(served(h)).toBe(sha.v2);
        expect(auditLog(h).trim().split("\n")).toHaveLength(2);
      }
    });

    it("stops at a broken v3: batch 1 rolls back with the app log in the error, batch 2 is never touched", async () => {
      const before = hosts.map((h) => ({ ino: currentIno(h), log: auditLog(h), pid: appPid(h) }));
      const err = await deploy("v3", 2).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RolloutError);
      const failed = (err as RolloutError).failed;
      expect(failed.map((f) => f.host).sort()).toEqual(["dp1", "dp2"]);
      for (const f of failed) {
        expect(f.stderr).toMatch(/shop release v3 failed its health check http:\/\/127\.0\.0\.1:8080\/health within 3s on dp[12]; rolled back to v2/);
        expect(f.stderr).toContain("health check failed: this release carries a HEALTH_FAIL marker");
        expect(f.stderr).toContain(`revision ${sha.v3} listening`);
      }
      for (const h of hosts) {
        expect(served(h)).toBe(sha.v2);
        expect(current(h)).toBe("releases/v2");
        expect(existsSync(hostPath(h, `/srv/${APP}/releases/v3`))).toBe(true); // prepared everywhere
      }
      for (const i of [2, 3]) {
        expect(currentIno(hosts[i])).toBe(before[i].ino);
        expect(auditLog(hosts[i])).toBe(before[i].log);
        expect(appPid(hosts[i])).toBe(before[i].pid);
      }
      for (const i of [0, 1]) expect(auditLog(hosts[i])).toMatch(/\tfailed\tv3\t[0-9a-f]{40}\tprevious=v2\n$/);
    });

    it("changes nothing when the same revision is deployed twice", async () => {
      const h = hosts[0];
      const before = { ino: currentIno(h), log: auditLog(h), pid: appPid(h), rel: lstatSync(hostPath(h, `/srv/${APP}/releases/v2`)).ino };
      const s = spec("v2");
      const p = await prepare(h, s);
      const a = await activate(h, s);
      expect([p.code, a.code]).toEqual([0, 0]);
      expect(p.stdout).toContain("release v2 already present; reusing it");
      expect(a.stdout).toContain("already current and healthy; nothing to do");
      expect({ ino: currentIno(h), log: auditLog(h), pid: appPid(h), rel: lstatSync(hostPath(h, `/srv/${APP}/releases/v2`)).ino }).toEqual(before);
    });

    it("loads over 1 MiB of env (9 values at the per-variable limit, with quotes, $ and backslashes) intact through the unit", async () => {
      const h = hosts[1];
      const big: Record<string, string> = { PORT: String(PORT), API_TOKEN: SECRET };
      for (let i = 0; i < 9; i++) big[`BLOB_${i}`] = `${i}`.repeat(131000) + '"$`\\';
      const env = renderDotenv(APP, big);
      expect(env.length).toBeGreaterThan(1024 * 1024);
      const started = Date.now();
      expect((await prepare(h, spec("v2"), env)).code).toBe(0);
      const a = await activate(h, spec("v2"), env);
      const took = Date.now() - started;
      expect(a.code).toBe(0);
      const got = environ(h);
      for (const [k, v] of Object.entries(big)) expect(got).toContain(`${k}=${v}`);
      expect(cmdline(h)).not.toContain("0000000000");
      console.log(`systemd unit: 1.1 MiB env prepared and activated in ${(took / 1000).toFixed(1)} s`);
      // Back to the suite's env.
      expect((await prepare(h, spec("v2"))).code).toBe(0);
      expect((await activate(h, spec("v2"))).code).toBe(0);
    }, 120_000);

    it("restarts the app on the same release when only the env changed", async () => {
      const h = hosts[1];
      const before = { ino: currentIno(h), pid: appPid(h) };
      const env = dotenv(PORT, "rotated-token");
      expect((await prepare(h, spec("v2"), env)).code).toBe(0);
      // A stale activate (the old env) must not run against the new .env.
      const stale = await activate(h, spec("v2"));
      expect(stale.code).not.toBe(0);
      expect(stale.stderr).toContain("the env file of shop on dp2 is not the one this deploy prepared");
      const a = await activate(h, spec("v2"), env);
      expect(a.code).toBe(0);
      expect(appPid(h)).not.toBe(before.pid);
      expect(environ(h)).toContain("API_TOKEN=rotated-token");
      expect(current(h)).toBe("releases/v2");
      // An env that breaks the app on its current release: nothing older to switch to, so it stays put.
      const broken = renderDotenv(APP, { PORT: String(PORT), API_TOKEN: SECRET, HEALTH_FAIL: "1" });
      expect((await prepare(h, spec("v2"), broken)).code).toBe(0);
      const bad = await activate(h, spec("v2"), broken);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain("failed its health check");
      expect(bad.stderr).toContain("it already was the current release; left in place");
      expect(bad.stderr).toContain("health check failed: HEALTH_FAIL is set in the environment");
      expect(current(h)).toBe("releases/v2");
      // Back to the suite's env: again a restart, then a no-op.
      expect((await prepare(h, spec("v2"))).code).toBe(0);
      expect((await activate(h, spec("v2"))).code).toBe(0);
      expect((await activate(h, spec("v2"))).stdout).toContain("nothing to do");
    });

    it("rolls back by setting the revision back: the existing release is only switched", async () => {
      const relIno = hosts.map((h) => lstatSync(hostPath(h, `/srv/${APP}/releases/v1`)).ino);
      const r = await deploy("v1", 2);
      expect(r.prepares.every((p) => /reusing/.test(p.stdout))).toBe(true);
      hosts.forEach((h, i) => {
        expect(served(h)).toBe(sha.v1);
        expect(lstatSync(hostPath(h, `/srv/${APP}/releases/v1`)).ino).toBe(relIno[i]);
      });
      await deploy("v2", 4);
      for (const h of hosts) expect(served(h)).toBe(sha.v2);
    });

    describe("the on-host lock", () => {
      const lock = `/srv/${APP}/.fleet/deploy.lock`;
      let holder: { host: DeployHost; pid: number } | undefined;
      afterEach(() => {
        if (holder) holder.host.net.exec(holder.host, ["kill", "-KILL", String(holder.pid)]);
        holder = undefined;
      });

      it("blocks a deploy while another run holds it, naming the holder", async () => {
        const h = hosts[1];
        holder = { host: h, pid: lockHolderIn(h, lock, "who=alice@laptop release=vX") };
        const ino = currentIno(h);
        const a = await activate(h, spec("v1"));
        expect(a.code).not.toBe(0);
        expect(a.stderr).toContain(`deploy of shop on dp2 is locked by another run: pid=${holder.pid} host=dp2 who=alice@laptop release=vX`);
        expect(currentIno(h)).toBe(ino);
        expect(served(h)).toBe(sha.v2);
      });

      it("blocks a real concurrent deploy, and the winner lets go when it ends", async () => {
        const h = hosts[2];
        // A slow-booting app keeps the first deploy inside its lock for seconds, whatever the machine's load.
        const slow = renderDotenv(APP, { PORT: String(PORT), API_TOKEN: SECRET, STARTUP_DELAY: "2" });
        expect((await prepare(h, spec("v1"), slow)).code).toBe(0);
        rmSync(hostPath(h, `${lock}.owner`), { force: true });
        const first = activate(h, spec("v1"), slow);
        // The first deploy holds the lock once it has written its owner file: an inotify event, not a guess.
        await whenExists(hostPath(h, `${lock}.owner`), 30_000);
        const second = await activate(h, spec("v2"));
        const firstResult = await first;
        expect(firstResult.code).toBe(0);
        expect(second.code).not.toBe(0);
        expect(second.stderr).toMatch(/deploy of shop on dp3 is locked by another run: pid=\d+ host=dp3 since=\S+ who=lab@test release=v1/);
        expect(served(h)).toBe(sha.v1);
        expect(lockFreeIn(h, lock)).toBe(true);
        expect((await prepare(h, spec("v2"))).code).toBe(0);
        expect((await activate(h, spec("v2"))).code).toBe(0);
      });

      it("is never left behind: a holder that died (kill -9) blocks nobody", async () => {
        const h = hosts[3];
        const pid = lockHolderIn(h, lock, "who=bob@ci release=vX");
        expect(lockFreeIn(h, lock)).toBe(false);
        h.net.exec(h, ["kill", "-KILL", String(pid)]);
        const a = await activate(h, spec("v1"));
        expect(a.code).toBe(0);
        expect(served(h)).toBe(sha.v1);
      });
    });

    it("keeps N releases, and never the current or previous one", async () => {
      await deploy("v4", 2);
      await deploy("v5", 2);
      await deploy("v6", 2);
      for (const h of hosts) {
        expect(releases(h)).toEqual(["v4", "v5", "v6"]);
        expect(served(h)).toBe(sha.v6);
      }
      // Make the live release the oldest and newer prepared ones crowd it out: it must survive as `previous`.
      const h = hosts[0];
      const old = new Date("2000-01-01T00:00:00Z");
      utimesSync(hostPath(h, `/srv/${APP}/releases/v6`), old, old);
      expect((await prepare(h, spec("v8"))).code).toBe(0);
      expect((await prepare(h, spec("v7"))).code).toBe(0);
      const a = await activate(h, spec("v7"));
      expect(a.code).toBe(0);
      expect(a.stdout).toContain("removing old release v4");
      expect(releases(h)).toEqual(["v5", "v6", "v7", "v8"]);
      expect(current(h)).toBe("releases/v7");
    });

    it("deploys a prebuilt artifact after checking its sha256", async () => {
      const tarball = path.join(repo, "..", `fl-deploy-artifact-${process.pid}.tar.gz`);
      execFileSync("sh", ["-c", 'git -C "$1" archive --format=tar.gz -o "$2" v5', "sh", repo, tarball]);
      const sum = createHash("sha256").update(readFileSync(tarball)).digest("hex");
      const inHost = "/var/lib/lab-src/artifact.tar.gz";
      try {
        const h = [hosts[3]];
        copyIntoHosts(h, tarball, inHost);
        const bad = spec("", { app: "arti", port: 8082 }, { artifact: { url: `file://${inHost}`, sha256: "0".repeat(64) } });
        const badRun = await prepare(h[0], bad);
        expect(badRun.code).not.toBe(0);
        expect(badRun.stderr).toContain(`has sha256 ${sum}, expected ${"0".repeat(64)}`);
        expect(readdirSync(hostPath(h[0], "/srv/arti/releases"))).toEqual([]);

        const good = spec("", { app: "arti", port: 8082 }, { artifact: { url: `file://${inHost}`, sha256: sum } });
        const env = renderDotenv("arti", { PORT: "8082" });
        const r = await rollout(h, 1, prepareFiles(good, env), activateFiles(good, sha256Hex(env)));
        expect(r.activates[0][0].code).toBe(0);
        expect(current(h[0], "arti")).toBe(`releases/${sum.slice(0, 16)}`);
        expect(served(h[0], 8082)).toBe(sum);
      } finally {
        rmSync(tarball, { force: true });
      }
    });

    it("refuses a branch name on the host (branches move; releases must not)", async () => {
      git("branch", "feature-x", "v2");
      copyIntoHosts([hosts[0]], repo);
      const r = await prepare(hosts[0], spec("feature-x"));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`revision 'feature-x' is neither a tag nor a commit of file://${REPO_IN_HOST}`);
      expect(existsSync(hostPath(hosts[0], `/srv/${APP}/releases/feature-x`))).toBe(false);
    });

    it("runs the app as the configured user, owning only its shared dirs", async () => {
      const h = hosts[3];
      const s = spec("v2", { app: "usr", port: 8083, user: "nobody" });
      const env = renderDotenv("usr", { PORT: "8083" });
      const r = await rollout([h], 1, prepareFiles(s, env), activateFiles(s, sha256Hex(env)));
      expect(r.activates[0][0].code).toBe(0);
      expect(served(h, 8083)).toBe(sha.v2);
      const main = pidOf(h, "usr");
      const proc = h.net.exec(h, ["ps", "-o", "uid=,comm=", "-p", main]).stdout.trim().split(/\s+/);
      expect(proc).toEqual(["65534", "python3"]);
      expect(statSync(hostPath(h, "/srv/usr/shared/tmp")).uid).toBe(65534);
      expect(statSync(hostPath(h, "/srv/usr/releases/v2")).uid).toBe(0);
    });

    it("stops the service when a first deploy fails and there is nothing to roll back to", async () => {
      const h = hosts[3];
      const s = spec("v3", { app: "solo", port: 8081 });
      expect((await prepare(h, s)).code).toBe(0);
      const a = await activate(h, s);
      expect(a.code).not.toBe(0);
      expect(a.stderr).toContain("no previous release to roll back to; service stopped");
      expect(existsSync(hostPath(h, "/srv/solo/current"))).toBe(false);
      expect(httpGet(h, 8081, "/health").code).toBe(0);
    });
  },
  ["ip", "git", "python3"],
);
