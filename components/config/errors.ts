/** All problems found in a stack's config, each naming its key path and bad value. */
export class FleetConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid stack config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "FleetConfigError";
  }
}

/** `servers[2].name` → `fleet:servers[2].name`: the key as `pulumi config set --path` spells it. */
export function keyPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "fleet:";
  path.forEach((p, i) => {
    if (typeof p === "number") out += `[${p}]`;
    else out += i === 0 ? String(p) : `.${String(p)}`;
  });
  return out;
}

export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const s = JSON.stringify(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}
