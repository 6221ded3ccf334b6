// Parses Mermaid diagrams with mermaid's own parser (the one GitHub's renderer uses).
// stdin: JSON array of diagram texts. stdout: JSON array of {ok, error?, vertices, edges, subgraphs}.
// Mermaid's sanitizer needs a DOM, so a jsdom window stands in for the browser.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const db = diagram.db;
    results.push({
      ok: true,
      type: diagram.type,
      vertices: [...db.getVertices().values()].map((v) => ({ id: v.id, text: v.text })),
      edges: db.getEdges().map((e) => ({ from: e.start, to: e.end, text: e.text, stroke: e.stroke })),
      subgraphs: db.getSubGraphs().map((s) => ({ id: s.id, title: s.title, nodes: s.nodes })),
    });
  } catch (e) {
    results.push({ ok: false, error: String(e?.message ?? e).split("\n")[0] });
  }
}
process.stdout.write(JSON.stringify(results));
