/**
 * The lab cloud's Linux bridge agent keeps wiring ports after a port update. Debian 12's ebtables-nft cannot delete
 * the agent's old MAC rule on such an update, and the agent then retried forever, so every later server and router
 * port stayed DOWN (lab/openstack/linuxbridge_agent.py says why and how it is fixed). Checked from outside: the
 * ports' status as Neutron reports it once the agent has wired them.
 */
import * as path from "path";
import { describeLab } from "./guard";
import { adminPython, cloud, SERVICES_REGION } from "../../lab/openstack";
import { REPO_ROOT } from "../../lab/layout";

interface Boot {
  server: string;
  port: string;
  wiredInSeconds: number | null;
}

describeLab("the lab cloud's Linux bridge agent", () => {
  beforeAll(async () => {
    expect(await cloud("up")).toBe(0);
  }, 600_000);

  it("wires a new server's port after another port was updated", () => {
    const r = adminPython(path.join(REPO_ROOT, "test/lab/support/agent_churn.py"), [SERVICES_REGION, path.join(REPO_ROOT, "lab/openstack")]);
    if (r.code !== 0) throw new Error(`agent_churn.py failed:\n${r.stderr.trim().split("\n").slice(-8).join("\n")}`);
    const out = JSON.parse(r.stdout) as { first: Boot; second: Boot };
    expect([out.first.server, out.first.port]).toEqual(["ACTIVE", "ACTIVE"]);
    // Before the fix: ACTIVE server, DOWN port, never wired (the script waits 90 s).
    expect([out.second.server, out.second.port]).toEqual(["ACTIVE", "ACTIVE"]);
  }, 600_000);
});
