import { Flow, formatRange, PlanModel } from "./model";

/**
 * The topology as a Mermaid flowchart, which GitHub renders in a PR comment:
 * internet -> public roles, VPN engineers -> gateway -> private roles, and role -> role,
 * every edge labelled with the ports the firewall lets through.
 */

const MAX_NAMES = 4;

/** Role names are [a-z0-9-]; "-" is not safe in a Mermaid id, "_" never occurs in a role name. */
export function roleNodeId(role: string): string {
  return `role_${role.replace(/-/g, "_")}`;
}

function label(text: string): string {
  return `"${text.replace(/"/g, "#quot;")}"`;
}

function portList(flows: Flow[]): string {
  return flows.map((f) => formatRange(f.proto, f.ports)).join(", ");
}

function roleLabel(model: PlanModel, role: string): string {
  const names = model.roles.find((r) => r.name === role)?.servers ?? [];
  const shown = names.slice(0, MAX_NAMES).join(", ");
  const more = names.length > MAX_NAMES ? ` +${names.length - MAX_NAMES}` : "";
  return `${role}<br/>${names.length === 0 ? "(no servers)" : shown + more}`;
}

function groupBy(flows: Flow[], key: (f: Flow) => string): Map<string, Flow[]> {
  const m = new Map<string, Flow[]>();
  for (const f of flows) {
    const k = key(f);
    if (!m.has(k)) m.set(k, []);
    m.get(k)!.push(f);
  }
  return m;
}

export function renderTopology(model: PlanModel): string {
  const gw = roleNodeId(model.gatewayRole);
  const lines = ["flowchart LR", `  internet((${label("internet")}))`];
  const engineers = model.engineers.length > 0 ? model.engineers.join(", ") : "none";
  lines.push(`  engineers([${label(`VPN engineers<br/>${engineers}`)}])`);
  if (model.flows.some((f) => f.from === "admin")) lines.push(`  admin[/${label(`admin CIDRs<br/>${model.vpn.adminCidrs.join(", ")}`)}/]`);

  const publicRoles = model.roles.filter((r) => r.public);
  const privateRoles = model.roles.filter((r) => !r.public);
  const group = (id: string, title: string, roles: PlanModel["roles"]) => {
    if (roles.length === 0) return;
    lines.push(`  subgraph ${id} [${label(title)}]`);
    for (const r of roles) lines.push(`    ${roleNodeId(r.name)}[${label(roleLabel(model, r.name))}]`);
    lines.push("  end");
  };
  group("public_roles", "public address", publicRoles);
  group("private_roles", `private only, ${model.network.cidr}`, privateRoles);

  const tunnel = `tunnel ${model.vpn.proto} ${model.vpn.port}`;
  const vpnToGateway = model.flows.filter((f) => f.from === "vpn" && f.to === model.gatewayRole);
  lines.push(`  engineers -->|${label(vpnToGateway.length > 0 ? `${tunnel}; then ${portList(vpnToGateway)}` : tunnel)}| ${gw}`);

  const edges: string[] = [];
  for (const [key, flows] of groupBy(model.flows, (f) => `${f.from}\u0000${f.to}`)) {
    const [from, to] = key.split("\u0000");
    const target = roleNodeId(to);
    if (from === "vpn") {
      // Engineers' packets reach private roles through the gateway's tunnel.
      if (to !== model.gatewayRole) edges.push(`  ${gw} -.->|${label(`vpn: ${portList(flows)}`)}| ${target}`);
    } else if (from === "public") edges.push(`  internet -->|${label(portList(flows))}| ${target}`);
    else if (from === "admin") edges.push(`  admin -->|${label(portList(flows))}| ${target}`);
    else edges.push(`  ${roleNodeId(from)} -->|${label(portList(flows))}| ${target}`);
  }
  return [...lines, ...edges].join("\n") + "\n";
}
