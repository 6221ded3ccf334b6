/**
 * A replaced or rebuilt server comes back whole: when an instance is replaced (`pulumi up --replace`) or rebuilt on a
 * new image (Nova's rebuild: same server, a fresh disk), every per-host step runs again on the new machine, in order
 * (readiness, firewall apply and confirm, deploy), and no other host's step runs. Checked from outside: the new
 * host's firewall drops what it should and its app answers.
 */
import { describeLab } from "../guard";
import { fromStackFile, lab, LabUp } from "../support";
import { changedNames } from "../../../lab/real-stack";
import { firewallState } from "../support/e2e";
import { run, inNs } from "../../../lab/sh";

/** "open" when a TCP connection from namespace `ns` to host:port is accepted within 2 s, else "". */
const connects = (ns: string, host: string, port: number) =>
  run(inNs(ns, ["timeout", "2", "bash", "-c", 'exec 3<>"/dev/tcp/$1/$2" && echo open', "probe", host, String(port)])).stdout.trim();

describeLab("lab: a replaced server comes back whole", () => {
  const t = lab("rep");
  let first: LabUp;
  const base = fromStackFile("Pulumi.dev.yaml");
  const servers = base["fleet:servers"] as { name: string; role: string; image?: string }[];

  beforeAll(async () => {
    await t.down();
    first = await t.up(base);
  }, 600_000);
  afterAll(() => t.down(), 300_000);

  const rebuilt = servers.map((s) => (s.name === "app-2" ? { ...s, image: "Debian 12 (rebuilt)" } : s));
  it.each([
    ["replaced (pulumi up --replace)", "replace", async () => t.up(base, { args: ["--replace", await t.urn("app-2", "openstack:compute/instance:Instance")] })],
    ["rebuilt on a new image", "update", async () => t.up({ ...base, "fleet:servers": rebuilt })],
  ] as const)(
    "re-runs exactly app-2's steps after its instance is %s, and app-2 is firewalled and serving again",
    async (_how, op, change) => {
      const fwBefore = await firewallState(t, "app-2");
      const initBefore = (await t.exec("app-2", ["cat", "/etc/machine-id"])).stdout.trim();
      const up = await change();
      const changed = changedNames(up.steps, "command:remote:Command");
      expect(changed.sort()).toEqual(["app-2-firewall", "app-2-firewall-confirm", "app-2-ready", "shop-activate-app-2", "shop-prepare-app-2"]);
      expect(changedNames(up.steps, "openstack:compute/instance:Instance")).toEqual(["app-2"]);
      expect(up.steps.some((s) => s.name === "app-2" && s.op === op)).toBe(true);
      // A new machine (a fresh disk: a new machine id), with the same rules and sets as before, and the app back.
      expect((await t.exec("app-2", ["cat", "/etc/machine-id"])).stdout.trim()).not.toBe(initBefore);
      expect(await firewallState(t, "app-2")).toBe(fwBefore);
      const health = await t.exec("app-2", ["sh", "-c", "for i in $(seq 60); do curl -s -m 1 127.0.0.1:8080/health && exit 0; sleep 0.5; done; exit 1"]);
      expect(health.stdout.trim()).toBe("ok");
      expect(up.outputs.revisions["app-2"]).toBe(first.outputs.revisions["app-2"]);
      // From web-1 (allowed on 8080) it answers; from db-1 (not allowed) the firewall drops it.
      const app2 = up.host("app-2").privateIp!;
      expect(connects(up.host("web-1").netns, app2, 8080)).toBe("open");
      expect(connects(up.host("db-1").netns, app2, 8080)).toBe("");
    },
    600_000,
  );
});
