/**
 * The lab cloud's daemons run with the cloud's own environment, nothing of their caller's. A cloud once started from
 * a test run kept that run's TMPDIR after the run removed it, and MariaDB then failed every query that needed a
 * temporary table ("Can't create/write to file '/tmp/fleet-test-…/#sql-temptable…'"), so the next `cloud up` failed
 * at its service catalogue. Checked from outside: each daemon's environment in /proc.
 */
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { describeLab } from "./guard";
import { cloud, cloudDir } from "../../lab/openstack";

// neutron's daemons overwrite their environment block with their process titles (setproctitle), so /proc cannot show it.
const READABLE = ["mariadb", "rabbitmq", "memcached", "keystone", "placement", "glance", "nova-api", "nova-conductor", "nova-scheduler", "nova-compute"];

describeLab("the lab cloud's daemons", () => {
  beforeAll(async () => {
    expect(await cloud("up")).toBe(0);
  }, 600_000);

  it.each(READABLE)("%s runs with the cloud's TMPDIR and none of its caller's variables", (name) => {
    const pid = readFileSync(path.join(cloudDir(), "run", `${name}.pid`), "utf8").trim();
    const file = `/proc/${pid}/environ`;
    expect(existsSync(file)).toBe(true);
    const vars = readFileSync(file, "utf8").split("\0").filter(Boolean);
    expect(vars).toContain(`TMPDIR=${path.join(cloudDir(), "tmp")}`);
    // This run's own variables (jest's TMPDIR, npm's npm_*) would be there had the daemon inherited them.
    expect(vars.filter((v) => /^(npm_|FLEET_TEST_|JEST_)/.test(v) || v === `TMPDIR=${process.env.TMPDIR}`)).toEqual([]);
  });
});
