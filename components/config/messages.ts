import type { z } from "zod";
import { keyPath, show, valueAt } from "./errors";

/**
 * One zod issue as a sentence a person can act on: the key as `pulumi config set --path` spells it,
 * what is wrong, the value found, and what to write instead. zod's own texts ("Invalid input") never reach
 * the user. The stack file is YAML 1.2 (the `yaml` package's core schema, as Pulumi's Go reader), so
 * `yes`/`no` are text and an unquoted `1.10` is the number 1.1: the hints say so.
 */
export function describeIssue(issue: z.core.$ZodIssue, root: unknown, prefix: ReadonlyArray<PropertyKey>, schema: z.ZodType): string[] {
  const path = [...prefix, ...issue.path];
  const value = valueAt(root, path);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((k) => {
        const known = knownKeys(schema, issue.path);
        const near = nearest(k, known);
        return `${keyPath([...path, k])}: unknown key${near ? `; did you mean ${near}?` : ""} (known: ${known.join(", ")})`;
      });
    case "invalid_type": {
      const hint = value === undefined ? REQUIRED_HINTS[keyPath(path)] : undefined;
      return [`${keyPath(path)}: ${hint ?? typeMessage(issue.expected, value)}`];
    }
    default:
      return [`${keyPath(path)}: ${issue.message} (got ${show(value)})`];
  }
}

/** Required keys whose absence needs more than "is required": what to put there. */
const REQUIRED_HINTS: Record<string, string> = {
  "fleet:vpn.adminCidrs":
    "is required: list the networks that may SSH to the gateway's public address, i.e. where `pulumi up` runs from " +
    "(your office or CI runner's public address, e.g. [198.51.100.7/32]; `curl -s https://ifconfig.me` shows it). " +
    "There is no default: [0.0.0.0/0] would open SSH to the world, so write it yourself if you mean it",
};

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  valueType?: z.ZodType;
}

/** The keys an object schema accepts at `path`, found by walking the schema's definition. */
function knownKeys(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  let s: z.ZodType | undefined = schema;
  let i = 0;
  while (s) {
    const def: Def = (s as unknown as { _zod: { def: Def } })._zod.def;
    if (def.innerType) s = def.innerType;
    else if (def.type === "pipe") s = def.in;
    else if (i === path.length) return def.shape ? Object.keys(def.shape) : [];
    else if (def.type === "object") s = def.shape?.[String(path[i++])];
    else if (def.type === "array" || def.type === "record") {
      s = def.type === "array" ? def.element : def.valueType;
      i++;
    } else return [];
  }
  return [];
}

/** Edit distance with adjacent transpositions (optimal string alignment), case-insensitive. */
function distance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** A likely typo of `word` among `known`: the closest within one edit (two for longer words), or the one it abbreviates. */
export function nearest(word: string, known: readonly string[]): string | undefined {
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const limit = Math.max(word.length, k.length) >= 6 ? 2 : 1;
    const d = distance(word, k);
    if (d <= limit && (!best || d < best.d)) best = { k, d };
  }
  if (best) return best.k;
  return word.length >= 4 ? known.find((k) => k.toLowerCase().startsWith(word.toLowerCase())) : undefined;
}

const NOUN: Record<string, string> = {
  string: "text",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list, e.g. [a, b]",
  object: "a map of keys to values",
  record: "a map of keys to values",
};

function typeMessage(expected: string, value: unknown): string {
  if (value === undefined) return `is required (${NOUN[expected] ?? expected})`;
  const want = NOUN[expected] ?? expected;
  if (expected === "int" && typeof value === "number") return `must be a whole number (got ${show(value)})`;
  if (expected === "string" && typeof value === "number") {
    if (Number.isInteger(value)) return `must be text (got the number ${show(value)}): put the value in quotes, e.g. "${value}"`;
    return `must be text (got the number ${show(value)}): YAML reads an unquoted 1.10 as 1.1; put the value in quotes, e.g. "1.10"`;
  }
  if (expected === "boolean" && typeof value === "string" && /^(yes|no|on|off|y|n)$/i.test(value)) {
    return `must be true or false (got ${show(value)}): the stack file is YAML 1.2, where ${value} is text`;
  }
  if ((expected === "number" || expected === "int") && typeof value === "string") {
    return `must be ${want} (got the text ${show(value)}): write it without quotes`;
  }
  return `must be ${want} (got ${show(value)})`;
}
