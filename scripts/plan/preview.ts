/**
 * What a real `pulumi preview --json` says the next `up` will do, for the plan report: the engine's own steps (from
 * the stack's state and the cloud, which the offline run cannot see), one change per resource. Pure: it reads the
 * document the CLI prints (apitype.PreviewDigest: `steps` with `op` and `urn`, and `changeSummary`).
 */

export class PreviewError extends Error {}

export type PreviewOp = "create" | "update" | "replace" | "delete" | "read" | "refresh" | "import" | "discard";

export interface PreviewChange {
  op: PreviewOp;
  /** The resource's type token and name, from its URN. */
  type: string;
  name: string;
}

export interface PreviewSummary {
  /** Resources by what the up will do to them; `same` counts the untouched. */
  counts: Record<string, number>;
  /** Every resource the up changes, once each, sorted by op, type and name. */
  changes: PreviewChange[];
}

/** The engine's step ops, as one change per resource: a replacement's steps (create-replacement, replace, delete-replaced) are one "replace". */
const OP_OF: Record<string, PreviewOp | null> = {
  same: null,
  create: "create",
  update: "update",
  delete: "delete",
  replace: "replace",
  "create-replacement": "replace",
  "delete-replaced": "replace",
  "discard-replaced": "replace",
  read: "read",
  "read-replacement": "read",
  refresh: "refresh",
  import: "import",
  "import-replacement": "import",
  discard: "discard",
  "remove-pending-replace": null,
};
const ORDER: PreviewOp[] = ["delete", "replace", "update", "create", "import", "read", "refresh", "discard"];

/** Type token and name of a URN (`urn:pulumi:STACK::PROJECT::PARENT$TYPE::NAME`). */
function urnParts(urn: string): { type: string; name: string } {
  const parts = urn.split("::");
  if (parts.length < 4 || !parts[0].startsWith("urn:pulumi:")) throw new PreviewError(`not a Pulumi URN: ${JSON.stringify(urn)}`);
  return { type: parts[2].split("$").pop()!, name: parts.slice(3).join("::") };
}

/** Reads a `pulumi preview --json` document (text or parsed). Throws PreviewError on anything else. */
export function summarizePreview(input: string | unknown): PreviewSummary {
  let doc: unknown = input;
  if (typeof input === "string") {
    try {
      doc = JSON.parse(input);
    } catch (e) {
      throw new PreviewError(`not JSON: ${(e as Error).message}`);
    }
  }
  const steps = (doc as { steps?: unknown } | null)?.steps;
  if (!Array.isArray(steps)) throw new PreviewError("not the output of `pulumi preview --json`: it has no steps list");
  const byResource = new Map<string, PreviewChange>();
  const counts: Record<string, number> = {};
  const sameUrns = new Set<string>();
  for (const s of steps as { op?: unknown; urn?: unknown }[]) {
    if (typeof s?.op !== "string" || typeof s?.urn !== "string") throw new PreviewError(`a step without op and urn: ${JSON.stringify(s).slice(0, 200)}`);
    if (!(s.op in OP_OF)) throw new PreviewError(`unknown step op ${JSON.stringify(s.op)} for ${s.urn}`);
    const op = OP_OF[s.op];
    if (op === null) {
      if (s.op === "same") sameUrns.add(s.urn);
      continue;
    }
    byResource.set(s.urn, { op, ...urnParts(s.urn) });
  }
  const changes = [...byResource.values()].sort(
    (a, b) => ORDER.indexOf(a.op) - ORDER.indexOf(b.op) || a.type.localeCompare(b.type) || a.name.localeCompare(b.name),
  );
  // In the changes' order (riskiest first), then the untouched.
  for (const c of changes) counts[c.op] = (counts[c.op] ?? 0) + 1;
  const same = [...sameUrns].filter((u) => !byResource.has(u)).length;
  if (same > 0) counts.same = same;
  return { counts, changes };
}
