import { FleetConfig } from "../../components/config/types";
import { connectivityMatrix, isAllowed, MatrixEntry, matrixSources } from "../../components/firewall/matrix";
import { FirewallInput } from "../../components/firewall/render";
import { firewallInputFromConfig } from "../../components/fleet/policy-input";
import { PortRange, Proto } from "../../components/model";

/**
 * The plan report's data: what a reviewer needs from one stack's config, as plain
 * sorted data so the rendered report is byte-identical for the same config.
 */

export interface PlanServer {
  name: string;
  role: string;
  /** Only where the config pins it; otherwise the cloud allocates it. */
  privateIp?: string;
  public: boolean;
  flavor: string;
  image: string;
}

export interface PlanRole {
  name: string;
  public: boolean;
  servers: string[];
}

/** Allowed traffic from a source kind to a role, as maximal port ranges. */
export interface Flow {
  from: string;
  to: string;
  proto: Proto;
  ports: PortRange;
}

export interface PlanDeploy {
  role: string;
  app: string;
  /** Git revision, or `sha256:<digest>` for an artifact. */
  revision: string;
  source: string;
}

export interface PlanModel {
  servers: PlanServer[];
  roles: PlanRole[];
  gatewayRole: string;
  network: { cidr: string };
  vpn: { subnet: string; port: number; proto: Proto; adminCidrs: string[] };
  engineers: string[];
  matrix: MatrixEntry[];
  flows: Flow[];
  deploys: PlanDeploy[];
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export interface PlanOptions {
  /**
   * The release id of a `local` deploy source (a directory on the machine running `pulumi up`):
   * the deploy component's content hash. Without it the report shows `local:<path>`.
   */
  localRevision?: (path: string) => string;
}

export function planModel(cfg: FleetConfig, opts: PlanOptions = {}): PlanModel {
  const input = firewallInputFromConfig(cfg);
  const roles = Object.entries(cfg.roles)
    .map(([name, r]) => ({ name, public: r.public, servers: cfg.servers.filter((s) => s.role === name).map((s) => s.name) }))
    .sort((a, b) => byText(a.name, b.name));
  const deploys: PlanDeploy[] = [];
  if (cfg.deploy) {
    const src = cfg.deploy.source;
    let revision: string;
    let source: string;
    if ("git" in src) [revision, source] = [src.git.revision, src.git.url];
    else if ("artifact" in src) [revision, source] = [`sha256:${src.artifact.sha256}`, src.artifact.url];
    else {
      source = `local:${src.local.path}`;
      revision = opts.localRevision ? `sha256:${opts.localRevision(src.local.path)}` : source;
    }
    for (const role of [...cfg.deploy.roles].sort(byText)) deploys.push({ role, app: cfg.deploy.app, revision, source });
  }
  return {
    servers: cfg.servers.map((s) => ({
      name: s.name,
      role: s.role,
      ...(s.privateIp ? { privateIp: s.privateIp } : {}),
      public: s.public,
      flavor: s.flavor,
      image: s.image,
    })),
    roles,
    gatewayRole: cfg.gatewayRole,
    network: { cidr: cfg.network.cidr },
    vpn: { subnet: cfg.vpn.subnet, port: cfg.vpn.port, proto: cfg.vpn.proto, adminCidrs: [...cfg.vpn.adminCidrs] },
    engineers: [...cfg.vpn.engineers].sort(byText),
    matrix: connectivityMatrix(input),
    flows: allowedFlows(input),
    deploys,
  };
}

/** Every proto's range boundaries in a policy: a port's verdict can only change at one of them. */
function boundaries(inputs: FirewallInput[], proto: Proto): number[] {
  const points = new Set<number>([1, 65536]);
  for (const input of inputs) {
    if (input.vpn.proto === proto) [input.vpn.port, input.vpn.port + 1].forEach((p) => points.add(p));
    if (proto === "tcp") [22, 23].forEach((p) => points.add(p));
    for (const role of Object.values(input.roles)) {
      for (const rule of role.allow) {
        if (rule.proto !== proto) continue;
        for (const r of rule.ports) [r.from, r.to + 1].forEach((p) => points.add(p));
      }
    }
  }
  return [...points].sort((a, b) => a - b);
}

/**
 * Segments of the port space on which `from -> to` has the same verdicts in every input
 * given; adjacent segments with the same verdicts are merged. Exact for port ranges,
 * unlike sampling the matrix's named ports.
 *
 * `shown` leaves out what the internet reaches anyway: a port open to `public` is open
 * to every source, and listing it once per role would bury the one flow a reviewer must see.
 */
interface Segment {
  range: PortRange;
  allowed: boolean[];
  shown: boolean[];
}

function segments(inputs: FirewallInput[], from: string, to: string, proto: Proto): Segment[] {
  const points = boundaries(inputs, proto);
  const out: Segment[] = [];
  const same = (a: boolean[], b: boolean[]) => a.every((x, k) => x === b[k]);
  for (let i = 0; i + 1 < points.length; i++) {
    const range = { from: points[i], to: points[i + 1] - 1 };
    const allowed = inputs.map((input) => to in input.roles && isAllowed(input, from, to, proto, range.from));
    const shown = inputs.map((input, k) => allowed[k] && (from === "public" || !isAllowed(input, "public", to, proto, range.from)));
    const last = out[out.length - 1];
    if (last && same(last.allowed, allowed) && same(last.shown, shown)) last.range.to = range.to;
    else out.push({ range, allowed, shown });
  }
  return out;
}

const PROTOS: Proto[] = ["tcp", "udp"];

export function compareFlows(a: Flow, b: Flow): number {
  return byText(a.from, b.from) || byText(a.to, b.to) || byText(a.proto, b.proto) || a.ports.from - b.ports.from;
}

/** The allowed flows of one policy, as maximal ranges. */
export function allowedFlows(input: FirewallInput): Flow[] {
  return flowDelta([input])
    .filter((d) => d.shown[0])
    .map((d) => d.flow);
}

/**
 * For one or two policies: each (from, to, proto, range) where at least one allows it,
 * with the verdict per policy. With [base, head], `allowed` = [inBase, inHead]; `shown`
 * says whether it is listed on its own (not implied by the same port open to `public`).
 */
export function flowDelta(inputs: FirewallInput[]): { flow: Flow; allowed: boolean[]; shown: boolean[] }[] {
  const sources = [...new Set(inputs.flatMap(matrixSources))].sort(byText);
  const targets = [...new Set(inputs.flatMap((i) => Object.keys(i.roles)))].sort(byText);
  const out: { flow: Flow; allowed: boolean[]; shown: boolean[] }[] = [];
  for (const from of sources) {
    for (const to of targets) {
      for (const proto of PROTOS) {
        for (const s of segments(inputs, from, to, proto)) {
          if (s.shown.some(Boolean)) out.push({ flow: { from, to, proto, ports: s.range }, allowed: s.allowed, shown: s.shown });
        }
      }
    }
  }
  return out.sort((a, b) => compareFlows(a.flow, b.flow));
}

export function formatRange(proto: Proto, r: PortRange): string {
  return r.from === r.to ? `${proto} ${r.from}` : `${proto} ${r.from}-${r.to}`;
}
