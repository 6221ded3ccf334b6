/**
 * The rendered service unit, read by the real systemd parser (systemd-analyze verify):
 * no unknown keys, no ignored lines, quoting that systemd accepts.
 */
import { spawnSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { describeLab } from "../guard";
import { renderServiceUnit } from "../../../components/deploy/unit";

describeLab(
  "deploy: the systemd unit passes systemd-analyze verify",
  () => {
    let dir = "";
    beforeAll(() => (dir = mkdtempSync(path.join(os.tmpdir(), "fl-deploy-unit-"))));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const verify = (unit: string) => {
      const file = path.join(dir, "shop.service");
      writeFileSync(file, unit);
      return spawnSync("systemd-analyze", ["verify", "--man=no", file], { encoding: "utf8" });
    };

    it.each([
      ["the sample app", ["/usr/bin/python3", "server.py"], undefined],
      ["awkward argv words", ["/usr/bin/python3", "server.py", "a b", "100%", "$HOME", 'say "hi"', "back\\slash"], "www-data"],
    ])("%s", (_title, execStart, user) => {
      const r = verify(
        renderServiceUnit({
          app: "shop",
          user,
          workingDir: "/srv/shop/current",
          execStart,
          envFile: "/srv/shop/.fleet/app.env",
          writablePaths: ["/srv/shop/shared"],
          logFile: "/var/log/shop/app.log",
        }),
      );
      expect(r.stderr).not.toMatch(/ignoring|Unknown|Unbalanced|fatal|bad/i);
      expect(r.status).toBe(0);
    });

    it("would catch a broken unit (the check can fail)", () => {
      const r = verify('[Service]\nExecStart=/usr/bin/python3 "unterminated\nNoSuchKey=1\n');
      expect(r.stderr).toMatch(/Unbalanced quoting|Unknown key/);
    });
  },
  ["systemd-analyze"],
);
