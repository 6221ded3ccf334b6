/**
 * The topology diagram is checked by mermaid's own parser (run in node with a jsdom
 * window, see plan-support/mermaid-parse.mjs): it must parse, and the graph mermaid
 * reads from it must carry exactly the allowed flows, for the dev stack and random fleets.
 */
import { execFileSync } from "child_process";
import fc from "fast-check";
import * as path from "path";
import { renderTopology, roleNodeId } from "../../scripts/plan/mermaid";
import { formatRange, planModel, PlanModel } from "../../scripts/plan/model";
import { fleet } from "./plan-support/configs";

interface Parsed {
  ok: boolean;
  error?: string;
  vertices: { id: string; text: string }[];
  edges: { from: string; to: string; text: string; stroke: string }[];
  subgraphs: { id: string; title: string; nodes: string[] }[];
}

function mermaidParse(diagrams: string[]): Parsed[] {
  const out = execFileSync("node", [path.join(__dirname, "plan-support", "mermaid-parse.mjs")], { input: JSON.stringify(diagrams), encoding: "utf8" });
  return JSON.parse(out);
}

/** What the edges should say, from the model's flows: source node -> target node -> port list. */
function expectedEdges(m: PlanModel): string[] {
  const node = (from: string) => (from === "public" ? "internet" : from === "admin" ? "admin" : from === "vpn" ? roleNodeId(m.gatewayRole) : roleNodeId(from));
  const groups = new Map<string, string[]>();
  for (const f of m.flows) {
    if (f.from === "vpn" && f.to === m.gatewayRole) continue;
    const k = `${node(f.from)} -> ${roleNodeId(f.to)} ${f.from === "vpn" ? "vpn: " : ""}`;
    groups.set(k, [...(groups.get(k) ?? []), formatRange(f.proto, f.ports)]);
  }
  return [...groups.entries()].map(([k, ports]) => k + ports.join(", "));
}

const edgeLines = (p: Parsed) => p.edges.filter((e) => e.from !== "engineers").map((e) => `${e.from} -> ${e.to} ${e.text}`);

describe("topology diagram, parsed by mermaid", () => {
  it("the dev stack: every role is a node in its group, every allowed flow an edge, the tunnel from the engineers", () => {
    const m = planModel(fleet());
    const [p] = mermaidParse([renderTopology(m)]);
    expect(p.error).toBeUndefined();
    expect(p.subgraphs.map((s) => [s.id, [...s.nodes].sort()])).toEqual([
      ["public_roles", ["role_gateway", "role_web"]],
      ["private_roles", ["role_app", "role_db"]],
    ]);
    expect(p.vertices.find((v) => v.id === "role_web")!.text).toBe("web<br>web-1, web-2");
    expect(edgeLines(p).sort()).toEqual(expectedEdges(m).sort());
    expect(edgeLines(p)).toContain("internet -> role_web tcp 80, tcp 443");
    expect(p.edges.find((e) => e.from === "role_gateway" && e.to === "role_db" && e.text.startsWith("vpn:"))!.stroke).toBe("dotted");
    expect(p.edges.filter((e) => e.from === "engineers")).toEqual([
      { from: "engineers", to: "role_gateway", text: "tunnel udp 1194; then tcp 22", stroke: "normal" },
    ]);
  });

  it("the parser is a real check: a broken diagram is rejected", () => {
    const good = renderTopology(planModel(fleet()));
    const [ok, broken] = mermaidParse([good, good.replace('["gateway<br/>gw-1"]', '["gateway<br/>gw-1"')]);
    expect(ok.ok).toBe(true);
    expect(broken.ok).toBe(false);
  });

  it("random fleets (role names with dashes, admin CIDRs, many servers) parse and carry their flows", () => {
    const roleName = fc.constantFrom("api", "cache-1", "db-main", "queue", "w-2");
    const fleets = fc.sample(
      fc.record({
        roles: fc.uniqueArray(
          fc.record({ name: roleName, public: fc.boolean(), port: fc.integer({ min: 1000, max: 9000 }), servers: fc.integer({ min: 0, max: 6 }) }),
          {
            selector: (r) => r.name,
            minLength: 1,
            maxLength: 5,
          },
        ),
        admin: fc.boolean(),
      }),
      { numRuns: 25, seed: 7 },
    );
    const models = fleets.map((f) =>
      planModel(
        fleet((raw) => {
          raw.roles = { gateway: {} };
          raw.servers = [{ name: "gw-1", role: "gateway" }];
          delete raw.deploy;
          const names = f.roles.map((r) => r.name);
          for (const [i, r] of f.roles.entries()) {
            raw.roles[r.name] = {
              public: r.public,
              allow: [{ proto: "tcp", ports: [r.port], from: [r.public ? "public" : names[(i + 1) % names.length], "vpn"] }],
            };
            for (let k = 0; k < r.servers; k++) raw.servers.push({ name: `${r.name}-s${k}`, role: r.name });
          }
          if (f.admin) raw.vpn.adminCidrs = ["198.51.100.0/24"];
        }),
      ),
    );
    const parsed = mermaidParse(models.map(renderTopology));
    parsed.forEach((p, i) => {
      expect({ i, error: p.error }).toEqual({ i, error: undefined });
      expect(edgeLines(p).sort()).toEqual(expectedEdges(models[i]).sort());
    });
  });
});
