import { formatMatrix } from "../../components/firewall/matrix";
import { Change } from "./diff";
import { renderTopology } from "./mermaid";
import { Flow, formatRange, PlanModel } from "./model";
import { PreviewSummary } from "./preview";

/** Everything plan.md and plan.json are rendered from. */
export interface PlanReport {
  stack: string;
  model: PlanModel;
  /** Present with --base: what it was compared against and the sorted changes. */
  base?: { label: string; changes: Change[] };
  /** Registered resources per type, from the offline program run. */
  resources?: { type: string; count: number }[];
  /** The policy pack run offline against the registered resources. */
  policy?: { checked: number; violations: PolicyFinding[] };
  /** With --preview: what a real `pulumi preview --json` of the stack says the next up does. */
  preview?: PreviewSummary;
}

export interface PolicyFinding {
  policy: string;
  resource: string;
  message: string;
  level: string;
}

/** GitHub refuses comments over 65536 characters; keep room for the sticky-comment marker. */
export const MAX_COMMENT = 60000;

const RISK_BADGE: Record<Change["risk"], string> = { high: "🔴 high", medium: "🟠 medium", low: "🟢 low" };

/** Markdown table cell: pipes and newlines would break the row. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function table(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`)];
}

function flowRows(flows: Flow[]): string[][] {
  const rows = new Map<string, string[]>();
  for (const f of flows) {
    const k = `${f.from} → ${f.to}`;
    if (!rows.has(k)) rows.set(k, [f.from, f.to]);
    rows.get(k)!.push(formatRange(f.proto, f.ports));
  }
  return [...rows.values()].map(([from, to, ...ports]) => [from, to, ports.join(", ")]);
}

const OP_BADGE: Record<string, string> = { delete: "🔴 delete", replace: "🟠 replace", update: "🟡 update", create: "🟢 create" };

function previewSection(p: PreviewSummary): string[] {
  const counts = Object.entries(p.counts)
    .map(([op, n]) => `${n} ${op}`)
    .join(", ");
  const out = ["## What `pulumi preview` says the up will do", "", `${counts || "nothing"}.`, ""];
  if (p.changes.length === 0) return [...out, "No resource changes.", ""];
  return [
    ...out,
    ...table(
      ["op", "type", "name"],
      p.changes.map((c) => [OP_BADGE[c.op] ?? c.op, `\`${c.type}\``, `\`${c.name}\``]),
    ),
    "",
  ];
}

function changesSection(base: NonNullable<PlanReport["base"]>): string[] {
  const out = [`## Changes against ${base.label}`, ""];
  if (base.changes.length === 0) return [...out, "No changes to flows, servers, engineers, settings or deploys.", ""];
  const count = (r: Change["risk"]) => base.changes.filter((c) => c.risk === r).length;
  out.push(`${base.changes.length} changes: ${count("high")} high, ${count("medium")} medium, ${count("low")} low risk.`, "");
  out.push(
    ...table(
      ["risk", "change", "what", "why"],
      base.changes.map((c) => [RISK_BADGE[c.risk], c.kind, `\`${c.subject}\``, c.reason]),
    ),
    "",
  );
  return out;
}

export function renderPlanMarkdown(report: PlanReport): string {
  const m = report.model;
  const out: string[] = [`# Plan for stack \`${report.stack}\``, ""];
  const deploy = m.deploys.length > 0 ? `deploys ${m.deploys[0].app}@${m.deploys[0].revision}` : "no app deploy";
  out.push(
    `${m.servers.length} servers in ${m.roles.length} roles, ${m.servers.filter((s) => s.public).length} with a public address; ` +
      `${m.engineers.length} VPN engineers; ${deploy}.`,
    "",
  );
  if (report.base) out.push(...changesSection(report.base));
  if (report.preview) out.push(...previewSection(report.preview));

  out.push("## Topology", "", "```mermaid", renderTopology(m).trimEnd(), "```", "");

  out.push("## Servers", "");
  out.push(
    ...table(
      ["name", "role", "private IP", "public", "flavor", "image"],
      m.servers.map((s) => [s.name, s.role, s.privateIp ?? "from the cloud", s.public ? "yes" : "no", s.flavor, s.image]),
    ),
    "",
  );

  out.push("## Connectivity", "", "Allowed flows (everything else is dropped):", "");
  out.push(...table(["from", "to", "ports"], flowRows(m.flows)), "");
  const matrixAt = out.length;
  out.push("<details><summary>Full matrix</summary>", "", "```text", formatMatrix(m.matrix).trimEnd(), "```", "", "</details>", "");

  out.push("## VPN engineers", "");
  out.push(`Gateway ${m.vpn.proto} ${m.vpn.port}, client subnet ${m.vpn.subnet}; gateway SSH from ${m.vpn.adminCidrs.join(", ")}.`, "");
  out.push(...(m.engineers.length > 0 ? m.engineers.map((e) => `- ${e}`) : ["(none)"]), "");

  out.push("## Deploys", "");
  out.push(
    ...(m.deploys.length > 0
      ? table(
          ["role", "app", "revision", "source"],
          m.deploys.map((d) => [d.role, d.app, d.revision, d.source]),
        )
      : ["(no app deploy configured)"]),
    "",
  );

  if (report.resources) {
    const total = report.resources.reduce((n, r) => n + r.count, 0);
    out.push("## Resources", "", `The program registers ${total} resources (offline run under the mock runtime):`, "");
    out.push(
      ...table(
        ["type", "count"],
        report.resources.map((r) => [r.type, String(r.count)]),
      ),
      "",
    );
  }
  if (report.policy) {
    out.push("## Policy pack", "");
    if (report.policy.violations.length === 0) out.push(`No violations (${report.policy.checked} resources checked).`, "");
    else
      out.push(
        ...table(
          ["policy", "level", "resource", "message"],
          report.policy.violations.map((v) => [v.policy, v.level, v.resource, v.message]),
        ),
        "",
      );
  }
  const text = out.join("\n");
  if (text.length <= MAX_COMMENT) return text;
  // A PR comment holds 65536 characters; the folded matrix is the part plan.json already has.
  out.splice(matrixAt, 8, "(The full matrix is too large for a PR comment; it is in plan.json.)", "");
  return out.join("\n");
}

/** plan.json: the same data, stable key order. */
export function renderPlanJson(report: PlanReport): string {
  return JSON.stringify(report, null, 2) + "\n";
}
