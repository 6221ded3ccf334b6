/**
 * What the engine's gRPC log (PULUMI_DEBUG_GRPC, one JSON object per call and progress) says about a preview:
 * calls by kind, the dependencies the program sent, how long loading and registering took, and the longest chain of
 * registrations that had to wait for each other.
 */

export interface GrpcSummary {
  registrations: number;
  /** Engine → provider calls by method (Check, Create, Invoke…), without the plugin handshakes. */
  provider: Record<string, number>;
  /** Program → engine invokes by token. */
  invokes: Record<string, number>;
  /** The URNs the program sent as dependencies and property dependencies, summed over its registrations. */
  dependencyUrns: number;
  /** The longest chain of registrations each waiting for the one before (by its dependencies): `type:name` each. */
  chain: string[];
  /**
   * From the stack's registration answered to the next one, ms: loading the program, reading its config and
   * constructing its resources (Node runs that synchronously, so no answer is read before it ends).
   */
  loadMs: number;
  /** From that one to the last registration, ms. */
  registerMs: number;
}

interface Entry {
  method: string;
  progress?: string;
  timestamp?: string;
  request?: { tok?: string; dependencies?: string[]; propertyDependencies?: Record<string, { urns?: string[] }> };
  response?: { urn?: string };
}

const HANDSHAKES = new Set(["Handshake", "GetPluginInfo", "CheckConfig", "Configure", "Cancel", "GetSchema", "Attach"]);

export async function summariseGrpcLog(lines: AsyncIterable<string> | Iterable<string>): Promise<GrpcSummary> {
  const out: GrpcSummary = { registrations: 0, provider: {}, invokes: {}, dependencyUrns: 0, chain: [], loadMs: 0, registerMs: 0 };
  const add = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
  const deps = new Map<string, string[]>();
  const answered: number[] = [];
  for await (const line of lines) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as Entry;
    // Each call is logged when it starts and when it completes: count it once.
    if (e.progress !== "response_completed") continue;
    const [service, method] = e.method.split("/").slice(1);
    if (service === "pulumirpc.ResourceProvider" && !HANDSHAKES.has(method)) add(out.provider, method);
    if (service === "pulumirpc.ResourceMonitor" && method === "Invoke") add(out.invokes, String(e.request?.tok));
    if (service === "pulumirpc.ResourceMonitor" && method === "RegisterResource") {
      out.registrations++;
      const r = e.request ?? {};
      out.dependencyUrns += (r.dependencies ?? []).length + Object.values(r.propertyDependencies ?? {}).reduce((a, d) => a + (d.urns ?? []).length, 0);
      if (e.response?.urn) deps.set(e.response.urn, r.dependencies ?? []);
      // The engine logs the zero time ("0001-01-01…") for some entries: those are left out.
      const t = Date.parse(e.timestamp ?? "");
      if (t > Date.UTC(2000, 0)) answered.push(t);
    }
  }
  answered.sort((a, b) => a - b);
  if (answered.length > 1) {
    out.loadMs = answered[1] - answered[0];
    out.registerMs = answered[answered.length - 1] - answered[1];
  }
  out.chain = longestChain(deps).map(shortName);
  return out;
}

/** `urn:pulumi:s::p::a$b$openstack:compute/instance:Instance::web-1` → `openstack:compute/instance:Instance:web-1`. */
function shortName(urn: string): string {
  const [type, name] = urn.split("::").slice(-2);
  return `${type.split("$").pop()}:${name}`;
}

/**
 * The longest path through the dependency graph (URN → the URNs it depends on). The SDK sends a registration only
 * once its dependencies' registrations have answered, so each link on the path is a round trip through the engine
 * and a provider, one after the other.
 */
export function longestChain(deps: Map<string, string[]>): string[] {
  const memo = new Map<string, string[]>();
  const walk = (urn: string): string[] => {
    const known = memo.get(urn);
    if (known) return known;
    memo.set(urn, [urn]); // a cycle (the engine refuses them) would end here rather than loop
    let best: string[] = [];
    for (const d of deps.get(urn) ?? []) {
      if (!deps.has(d)) continue;
      const c = walk(d);
      if (c.length > best.length) best = c;
    }
    const chain = [...best, urn];
    memo.set(urn, chain);
    return chain;
  };
  let longest: string[] = [];
  for (const urn of deps.keys()) {
    const c = walk(urn);
    if (c.length > longest.length) longest = c;
  }
  return longest;
}
