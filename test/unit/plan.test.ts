/**
 * The plan report: sections for the dev stack, and the diff a reviewer sees for one
 * config change at a time (exactly that change, nothing else), riskiest first.
 */
import { loadProgram } from "./support/program";
import { execFileSync, spawnSync } from "child_process";
import fc from "fast-check";
import { mkdtempSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { stringify } from "yaml";
import { Change, planDiff } from "../../scripts/plan/diff";
import { allowedFlows, flowDelta, planModel } from "../../scripts/plan/model";
import { MAX_COMMENT, PlanReport, renderPlanJson, renderPlanMarkdown } from "../../scripts/plan/report";
import { firewallInputFromConfig } from "../../components/fleet/policy-input";
import { isAllowed } from "../../components/firewall/matrix";
import { plan } from "../../scripts/plan";
import { PROGRAM } from "../../scripts/offline/run";
import { readStackText } from "../../scripts/plan/stack";
import { packDirectory } from "../../components/deploy/pack";
import { PlainResource } from "../../policy/args";
import { runPolicies } from "../../policy/run";
import { decodeBundle, encodeBundle } from "../../components/remote/bundle";
import { DEV_FILE, devRaw, fleet } from "./plan-support/configs";
import { readFileSync as read } from "fs";
import { parse } from "yaml";

const brief = (changes: Change[]) => changes.map((c) => `${c.risk} ${c.kind} ${c.subject}`);

describe("the offline run's program", () => {
  // The suites below pass their own loader; `npm run plan` by hand runs this file (a move once broke the path).
  it("is the program pulumi runs: Pulumi.yaml's main", () => {
    const main = (parse(read(path.join(path.dirname(DEV_FILE), "Pulumi.yaml"), "utf8")) as { main: string }).main;
    expect(PROGRAM).toBe(path.join(path.dirname(DEV_FILE), main));
    expect(read(PROGRAM, "utf8")).toContain("new Fleet(");
  });
});

describe("npm run plan on the dev stack", () => {
  let md: string;
  let json: any;
  let dev: Record<string, any>;
  let resources: PlainResource[];

  beforeAll(async () => {
    dev = devRaw();
    const out = mkdtempSync(path.join(tmpdir(), "plan-"));
    ({ resources } = await plan(["--stack", "dev", "--out", out], { loadProgram }));
    md = readFileSync(path.join(out, "plan.md"), "utf8");
    json = JSON.parse(readFileSync(path.join(out, "plan.json"), "utf8"));
  });

  it("has the sections a reviewer reads, in order, and no changes section without --base", () => {
    const headings = md.split("\n").filter((l) => l.startsWith("## "));
    expect(headings).toEqual(["## Topology", "## Servers", "## Connectivity", "## VPN engineers", "## Deploys", "## Resources", "## Policy pack"]);
    expect(md).toMatch(/^```mermaid\nflowchart LR\n/m);
  });

  it("lists every configured server (its address is the cloud's to give), the engineers and the deploy revision", () => {
    for (const s of dev.servers as { name: string; role: string }[]) {
      expect(md).toContain(`| ${s.name} | ${s.role} | from the cloud | ${["gateway", "web"].includes(s.role) ? "yes" : "no"} |`);
    }
    for (const e of dev.vpn.engineers) expect(md).toContain(`\n- ${e}\n`);
    expect(md).toMatch(/\| app \| shop \| sha256:[0-9a-f]{64} \| local:app \|/);
    expect(json.model.engineers).toEqual([...dev.vpn.engineers].sort());
  });

  it("counts the resources the program registered offline, and runs the policy pack over all of them", () => {
    const count = (t: string) => json.resources.find((r: any) => r.type === t)?.count;
    expect(count("openstack:compute/instance:Instance")).toBe(dev.servers.length);
    expect(count("openstack:networking/floatingIpAssociate:FloatingIpAssociate")).toBe(3);
    expect(json.policy.checked).toBe(json.resources.reduce((n: number, r: any) => n + r.count, 0));
  });

  it("as configured (gateway SSH only from fleet:vpn.adminCidrs), the policy pack finds nothing", () => {
    expect(dev.vpn.adminCidrs).not.toContain("0.0.0.0/0");
    expect(json.policy.violations).toEqual([]);
  });

  it("names the same release the program's deploy ships (the local source's content hash)", () => {
    const prepare = resources.find((r) => r.name === "shop-prepare-app-1")!;
    const shipped = decodeBundle(prepare.props.stdin as string).revision;
    expect(json.model.deploys).toEqual([{ role: "app", app: "shop", revision: `sha256:${shipped}`, source: "local:app" }]);
  });

  it("shows, from the matrix, exactly the flows the firewall allows", () => {
    expect(md).toContain("| public | web | tcp 80, tcp 443 |");
    expect(md).toContain("| web | app | tcp 8080 |");
    expect(md).toContain("| vpn | db | tcp 22, tcp 5432 |");
    expect(md).not.toMatch(/\| public \| (app|db) \|/);
  });

  it("with --base FILE, reports the changes first", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "plan-"));
    const base = path.join(out, "base.yaml");
    const doc = parse(read(DEV_FILE, "utf8"));
    doc.config["fleet:vpn"].engineers = ["alice"];
    writeFileSync(base, stringify(doc));
    const { report } = await plan(["--out", out, "--base", base], { loadProgram });
    expect(brief(report.base!.changes)).toEqual(["high engineer-added bob"]);
    const text = readFileSync(path.join(out, "plan.md"), "utf8");
    expect(text.indexOf("## Changes against")).toBeGreaterThan(0);
    expect(text.indexOf("## Changes against")).toBeLessThan(text.indexOf("## Topology"));
  });

  it("with --base GIT-REF, reads Pulumi.<stack>.yaml at that revision (needs a git checkout of the project)", async () => {
    const inside = spawnSync("git", ["rev-parse", "--verify", "HEAD"], { cwd: path.dirname(DEV_FILE) });
    if (inside.status !== 0) throw new Error("this test reads Pulumi.dev.yaml at HEAD: run it in a git checkout of the project, not an export");
    const { report } = await plan(["--out", mkdtempSync(path.join(tmpdir(), "plan-")), "--base", "HEAD"], { loadProgram });
    const atHead = execFileSync("git", ["show", "HEAD:Pulumi.dev.yaml"], { cwd: path.dirname(DEV_FILE), encoding: "utf8" });
    expect(report.base!.label).toBe("`HEAD` (Pulumi.dev.yaml)");
    const local = { localRevision: (dir: string) => packDirectory(path.join(path.dirname(DEV_FILE), dir)).sha256 };
    // The deploy directory may differ between HEAD and the work tree; the config itself is compared here.
    const changes = report.base!.changes.filter((c) => c.kind !== "revision-changed");
    expect(changes).toEqual(planDiff(readStackText(atHead, "HEAD").fleet, fleet(), { base: local, head: local }).filter((c) => c.kind !== "revision-changed"));
  });

  it("with --preview FILE, shows what the real pulumi preview says the up does, after the config changes", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "plan-"));
    const file = path.join(out, "preview.json");
    const urn = (type: string, name: string) => `urn:pulumi:dev::fleet::fleet:fleet:Fleet$${type}::${name}`;
    // The shape `pulumi preview --json` prints (steps with op and urn), as test/lab/lab.test.ts checks against the real CLI.
    writeFileSync(
      file,
      JSON.stringify({
        steps: [
          { op: "same", urn: urn("openstack:compute/instance:Instance", "gw-1") },
          { op: "delete", urn: urn("openstack:compute/instance:Instance", "db-1") },
          { op: "update", urn: urn("command:remote:Command", "app-1-firewall") },
        ],
      }),
    );
    const { report } = await plan(["--out", out, "--preview", file], { loadProgram });
    expect(report.preview).toEqual({
      counts: { delete: 1, update: 1, same: 1 },
      changes: [
        { op: "delete", type: "openstack:compute/instance:Instance", name: "db-1" },
        { op: "update", type: "command:remote:Command", name: "app-1-firewall" },
      ],
    });
    const text = readFileSync(path.join(out, "plan.md"), "utf8");
    expect(text).toContain("## What `pulumi preview` says the up will do\n\n1 delete, 1 update, 1 same.\n");
    expect(text).toContain("| 🔴 delete | `openstack:compute/instance:Instance` | `db-1` |");
    expect(text.indexOf("## What `pulumi preview`")).toBeLessThan(text.indexOf("## Topology"));
    expect(JSON.parse(readFileSync(path.join(out, "plan.json"), "utf8")).preview).toEqual(report.preview);
  });

  it.each([
    ["a missing file", "/nonexistent/preview.json", /--preview \/nonexistent\/preview.json: ENOENT/],
    ["not a preview", "package.json", /--preview package.json: not the output of `pulumi preview --json`/],
  ])("names a bad --preview clearly: %s", async (_what, file, why) => {
    await expect(plan(["--out", tmpdir(), "--preview", file], { loadProgram })).rejects.toThrow(why);
  });

  it("names a bad --base clearly", async () => {
    await expect(plan(["--out", tmpdir(), "--base", "no-such-ref-xyz"], { loadProgram })).rejects.toThrow(
      /--base no-such-ref-xyz: neither a file nor a git revision holding Pulumi.dev.yaml/,
    );
  });

  it("fits a PR comment for a large fleet by leaving the full matrix to plan.json", () => {
    const big = fleet((r) => {
      for (let i = 0; i < 30; i++) {
        r.roles[`svc-${i}`] = { allow: [{ proto: "tcp", ports: [2000 + i, `${3000 + 10 * i}-${3005 + 10 * i}`], from: ["web", "vpn", "app"] }] };
        r.servers.push({ name: `svc-${i}-a`, role: `svc-${i}` });
      }
    });
    const model = planModel(big);
    const full = renderPlanMarkdown({ stack: "big", model: { ...model } });
    expect(full.length).toBeLessThanOrEqual(MAX_COMMENT);
    expect(full).not.toContain("<summary>Full matrix</summary>");
    expect(full).toContain("it is in plan.json");
    expect(full).toContain("| web | svc-29 | tcp 2029, tcp 3290-3295 |");
    expect(renderPlanMarkdown({ stack: "dev", model: planModel(fleet()) })).toContain("<summary>Full matrix</summary>");
  });

  it("is deterministic: same config, byte-identical report", () => {
    const report = { stack: "dev", model: planModel(fleet()) };
    expect(renderPlanMarkdown(report)).toBe(renderPlanMarkdown({ stack: "dev", model: planModel(fleet()) }));
    expect(JSON.parse(renderPlanJson(report))).toEqual(JSON.parse(JSON.stringify(report)));
  });
});

describe("the policy pack over the offline run's resources (gateway SSH limited to an admin network)", () => {
  let resources: PlainResource[];
  let report: PlanReport;
  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "plan-"));
    const doc = parse(read(DEV_FILE, "utf8"));
    doc.config["fleet:vpn"].adminCidrs = ["198.51.100.0/24"];
    writeFileSync(path.join(dir, "Pulumi.admin.yaml"), stringify(doc));
    ({ resources, report } = await plan(["--out", dir, "--config-file", path.join(dir, "Pulumi.admin.yaml")], { loadProgram }));
    expect(resources.length).toBeGreaterThan(50);
  });

  it("the program passes every policy", async () => {
    expect(report.policy!.violations).toEqual([]);
    expect(await runPolicies(resources)).toEqual([]);
  });

  it("a policy set to advisory or disabled in the pack config reports accordingly", async () => {
    const cmd = resources.find((r) => r.type === "command:remote:Command")!;
    const unpinned = resources.map((r) => (r === cmd ? { ...r, props: { ...r.props, connection: { host: "10.20.0.99" } } } : r));
    expect((await runPolicies(unpinned, { "remote-commands-pin-host-keys": "advisory" })).map((v) => v.level)).toEqual(["advisory"]);
    expect(await runPolicies(unpinned, { "remote-commands-pin-host-keys": { enforcementLevel: "disabled" } })).toEqual([]);
  });

  it("sees the real VPN configure bundle: a weakened cipher list in it is one violation", async () => {
    const vpn = resources.filter((r) => typeof r.props.stdin === "string" && "server.conf" in decodeBundle(r.props.stdin as string));
    expect(vpn).toHaveLength(1);
    const files = decodeBundle(vpn[0].props.stdin as string);
    files["server.conf"] = files["server.conf"].replace(/^data-ciphers (.*)$/m, "data-ciphers $1:AES-256-CBC");
    const tampered = resources.map((r) => (r === vpn[0] ? { ...r, props: { ...r.props, stdin: encodeBundle(files) } } : r));
    expect((await runPolicies(tampered)).map((v) => v.policy)).toEqual(["vpn-aead-ciphers-only"]);
  });

  it("a command whose proxy lost its host key, or a db server with a floating IP, is one violation each", async () => {
    const cmd = resources.find((r) => r.type === "command:remote:Command" && (r.props.connection as any)?.proxy)!;
    const unpinned = resources.map((r) =>
      r === cmd ? { ...r, props: { ...r.props, connection: { ...(r.props.connection as any), proxy: { host: "203.0.113.10" } } } } : r,
    );
    expect((await runPolicies(unpinned)).map((v) => [v.policy, v.resource])).toEqual([
      ["remote-commands-pin-host-keys", `command:remote:Command::${cmd.name}`],
    ]);
    const dbPort = resources.find((r) => r.type === "openstack:networking/port:Port" && r.name === "db-1")!;
    const withFip = [...resources, { type: "openstack:networking/floatingIpAssociate:FloatingIpAssociate", name: "db-1", props: { portId: dbPort.props.id } }];
    expect((await runPolicies(withFip)).map((v) => v.policy)).toEqual(["public-addresses-only-for-public-roles"]);
  });
});

describe("planDiff: one change shows as exactly that change", () => {
  const base = fleet();
  it.each<[string, (raw: Record<string, any>) => void, string[]]>([
    ["a new public port on web", (r) => r.roles.web.allow[0].ports.push(8443), ["high flow-opened public -> web tcp 8443"]],
    ["a new port from app to db", (r) => r.roles.db.allow.push({ proto: "tcp", ports: [6432], from: ["app"] }), ["medium flow-opened app -> db tcp 6432"]],
    [
      "a role newly reachable from the VPN",
      (r) => r.roles.web.allow.push({ proto: "tcp", ports: [9100], from: ["vpn"] }),
      ["high flow-opened vpn -> web tcp 9100"],
    ],
    [
      "more VPN reach into a role it already reached",
      (r) => r.roles.db.allow[0].ports.push(9187),
      ["medium flow-opened app -> db tcp 9187", "medium flow-opened vpn -> db tcp 9187"],
    ],
    ["a closed port", (r) => (r.roles.db.allow[0].from = ["app"]), ["low flow-closed vpn -> db tcp 5432"]],
    ["an engineer removed", (r) => (r.vpn.engineers = ["alice"]), ["low engineer-removed bob"]],
    ["an engineer added", (r) => r.vpn.engineers.push("carol"), ["high engineer-added carol"]],
    ["a private server appended", (r) => r.servers.push({ name: "db-2", role: "db" }), ["medium server-added db-2 (db)"]],
    ["a public server appended", (r) => r.servers.push({ name: "web-3", role: "web" }), ["high server-added web-3 (web, public)"]],
    ["a server removed from the end", (r) => r.servers.pop(), ["medium server-removed db-1 (db)"]],
    [
      "a switch to a git revision",
      (r) => (r.deploy.source = { git: { url: "https://git.example.com/acme/shop.git", revision: "v1.1.0" } }),
      ["medium revision-changed app: shop@local:app -> shop@v1.1.0"],
    ],
    [
      "gateway SSH opened to the world",
      (r) => (r.vpn.adminCidrs = ["0.0.0.0/0"]),
      ["high flow-opened public -> gateway tcp 22", "medium setting-changed fleet:vpn.adminCidrs: 203.0.113.0/24 -> 0.0.0.0/0"],
    ],
  ])("%s", (_, edit, expected) => {
    const changes = planDiff(base, fleet(edit));
    expect(brief(changes).sort()).toEqual([...expected].sort());
  });

  it("a widened range shows only the new part", () => {
    const from = fleet((r) => r.roles.app.allow.push({ proto: "tcp", ports: ["9000-9010"], from: ["web"] }));
    const to = fleet((r) => r.roles.app.allow.push({ proto: "tcp", ports: ["9000-9020"], from: ["web"] }));
    expect(brief(planDiff(from, to))).toEqual(["medium flow-opened web -> app tcp 9011-9020"]);
  });

  it("sorts the riskiest first: high, then medium, then low", () => {
    const head = fleet((r) => {
      r.vpn.engineers = ["carol"];
      r.roles.web.allow[0].ports.push(8443);
      r.deploy.source = { git: { url: "https://git.example.com/acme/shop.git", revision: "v2" } };
    });
    const changes = planDiff(base, head);
    expect(brief(changes)).toEqual([
      "high flow-opened public -> web tcp 8443",
      "high engineer-added carol",
      "medium revision-changed app: shop@local:app -> shop@v2",
      "low engineer-removed alice",
      "low engineer-removed bob",
    ]);
  });

  it("nothing changed, nothing reported", () => {
    expect(planDiff(base, fleet())).toEqual([]);
  });
});

describe("flows are exact (property tests)", () => {
  const portArb = fc.integer({ min: 1, max: 200 }).map((p) => 1000 + p);
  const ruleArb = fc.record({
    ports: fc.array(fc.tuple(portArb, fc.integer({ min: 0, max: 5 })), { minLength: 1, maxLength: 2 }),
    from: fc.subarray(["web", "vpn", "app"], { minLength: 1 }),
  });
  /** Rules on role app only; ranges de-overlapped by construction (a bad one is rejected by config validation anyway). */
  const configArb = fc.array(ruleArb, { maxLength: 3 }).map((rules) => {
    let next = 1000;
    return rules.map((r) => ({
      proto: "tcp",
      from: r.from,
      ports: r.ports.map(([, len]) => {
        const a = next;
        next += len + 1 + 3;
        return len === 0 ? a : `${a}-${a + len}`;
      }),
    }));
  });

  it("every port of every flow is allowed by the firewall, and every allowed probe port is in a flow", () => {
    fc.assert(
      fc.property(configArb, fc.array(fc.integer({ min: 990, max: 1100 }), { minLength: 5, maxLength: 20 }), (rules, probes) => {
        const cfg = fleet((r) => (r.roles.app.allow = rules));
        const input = firewallInputFromConfig(cfg);
        const flows = allowedFlows(input).filter((f) => f.to === "app" && f.proto === "tcp");
        for (const from of ["web", "vpn", "db"]) {
          for (const port of probes) {
            const inFlow = flows.some((f) => f.from === from && f.ports.from <= port && port <= f.ports.to);
            expect(inFlow).toBe(isAllowed(input, from, "app", "tcp", port));
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it("the diff one way is the diff the other way, opened and closed swapped", () => {
    fc.assert(
      fc.property(configArb, configArb, (a, b) => {
        const x = firewallInputFromConfig(fleet((r) => (r.roles.app.allow = a)));
        const y = firewallInputFromConfig(fleet((r) => (r.roles.app.allow = b)));
        const fwd = flowDelta([x, y]).map((d) => JSON.stringify([d.flow, d.allowed, d.shown]));
        const back = flowDelta([y, x]).map((d) => JSON.stringify([d.flow, [d.allowed[1], d.allowed[0]], [d.shown[1], d.shown[0]]]));
        expect(back).toEqual(fwd);
      }),
      { numRuns: 40 },
    );
  });
});
