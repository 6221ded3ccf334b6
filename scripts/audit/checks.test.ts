/**
 * The audit reads what to check from the stack's record of what `up` ran: here, the real program run offline on the
 * dev stack, so the bundles are the very ones the hosts get.
 */
import { wrapSecret } from "../../components/pulumi/secrets";
import { readFileSync } from "fs";
import * as path from "path";
import { readStackText } from "../plan/stack";
import { decodeBundle } from "../../components/remote/bundle";
import { runProgramOffline } from "../offline/run";
import { loadProgram } from "../../test/unit/support/program";
import { fromStackExport, parseAudit, planAudit, StateResource } from "./checks";

describe("planAudit on the dev stack", () => {
  let resources: StateResource[] = [];
  beforeAll(async () => {
    const file = path.join(__dirname, "..", "..", "Pulumi.dev.yaml");
    const run = await runProgramOffline(readStackText(readFileSync(file, "utf8"), file).config, { stack: "dev", load: loadProgram });
    resources = run.resources.map((r) => ({ type: r.type, name: r.name, inputs: r.inputs }));
  }, 120_000);

  it("checks every server, by name, with the checks its role has", () => {
    expect(planAudit(resources).map((a) => [a.host, a.checks])).toEqual([
      ["app-1", ["firewall", "sshd", "deploy"]],
      ["app-2", ["firewall", "sshd", "deploy"]],
      ["db-1", ["firewall", "sshd"]],
      ["gw-1", ["firewall", "vpn", "sshd"]],
      ["web-1", ["firewall", "sshd"]],
      ["web-2", ["firewall", "sshd"]],
    ]);
  });

  it("compares against the exact files up applied, and can re-run the exact steps", () => {
    const app1 = planAudit(resources).find((a) => a.host === "app-1")!;
    const apply = decodeBundle(String(resources.find((r) => r.name === "app-1-firewall")!.inputs.stdin));
    expect(app1.files["fw_rules.v4"]).toBe(apply["rules.v4"]);
    expect(app1.files.fw_ipsets).toBe(apply.ipsets);
    expect(app1.files.sshd_config).toContain("AllowStreamLocalForwarding no\n");
    expect(app1.files.release).toMatch(/^[0-9a-f]{16}$/);
    expect(app1.files.health_url).toBe("http://127.0.0.1:8080/health");
    // (Offline the confirm's bundle is unknown: it carries apply's output. The lab test repairs for real.)
    expect(app1.repairs.deploy!.name).toBe("shop-activate-app-1");
    // Nothing secret rides in the audit bundle: no env, no keys.
    expect(JSON.stringify(app1.files)).not.toMatch(/PRIVATE KEY|API_TOKEN/);
  });
});

describe("fromStackExport", () => {
  it("names resources by their URN and unwraps --show-secrets values", () => {
    const doc = {
      deployment: {
        resources: [
          {
            urn: "urn:pulumi:prod::fleet::fleet:index:Fleet$command:remote:Command::gw-1-ready",
            type: "command:remote:Command",
            inputs: {
              connection: wrapSecret({ host: "198.51.100.7", privateKey: "K" }, "state"),
            },
          },
        ],
      },
    };
    expect(fromStackExport(doc)).toEqual([
      { type: "command:remote:Command", name: "gw-1-ready", inputs: { connection: { host: "198.51.100.7", privateKey: "K" } } },
    ]);
  });
});

describe("parseAudit", () => {
  it("reads each check's line, and counts a check the host did not answer as drifted", () => {
    const out = "firewall in-sync: digest 0123456789abcdef\nsshd drifted: /etc/ssh/sshd_config.d/10-fleet.conf differs from the stack's: +Compression yes\n";
    expect(parseAudit(["firewall", "sshd", "deploy"], out)).toEqual([
      { check: "firewall", inSync: true, detail: "digest 0123456789abcdef" },
      { check: "sshd", inSync: false, detail: "/etc/ssh/sshd_config.d/10-fleet.conf differs from the stack's: +Compression yes" },
      { check: "deploy", inSync: false, detail: "no answer from the host" },
    ]);
  });
});
