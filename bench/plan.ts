/**
 * npm run bench:plan — cost of the plan's exact flow computation (flowDelta over base and
 * head) against the firewall's own connectivity matrix for the same policy (the baseline),
 * for fleets of growing role counts. Prints ratios measured in this process.
 */
import { performance } from "perf_hooks";
import { parseFleetConfig } from "../components/config/validate";
import { connectivityMatrix } from "../components/firewall/matrix";
import { firewallInputFromConfig } from "../components/fleet/policy-input";
import { flowDelta } from "../scripts/plan/model";

function config(roles: number, extraPort: number) {
  const raw: { roles: Record<string, unknown>; servers: { name: string; role: string }[]; [k: string]: unknown } = {
    cloud: { flavour: "openstack", image: "Ubuntu 24.04", flavor: "gp.0.1.2" },
    network: { cidr: "10.20.0.0/16" },
    roles: { gateway: {}, web: { public: true, allow: [{ proto: "tcp", ports: [80, 443], from: ["public"] }] } },
    servers: [
      { name: "gw-1", role: "gateway" },
      { name: "web-1", role: "web" },
    ],
    vpn: { engineers: ["alice"], adminCidrs: ["198.51.100.7/32"] },
  };
  for (let i = 0; i < roles; i++) {
    const prev = i === 0 ? "web" : `svc-${i - 1}`;
    raw.roles[`svc-${i}`] = { allow: [{ proto: "tcp", ports: [3000 + i, `${5000 + 10 * i}-${5005 + 10 * i}`, extraPort], from: [prev, "vpn"] }] };
    raw.servers.push({ name: `svc-${i}-a`, role: `svc-${i}` });
  }
  return parseFleetConfig(raw);
}

function time(fn: () => void, runs: number): number {
  fn();
  const t = performance.now();
  for (let i = 0; i < runs; i++) fn();
  return (performance.now() - t) / runs;
}

for (const roles of [4, 16, 48]) {
  const base = firewallInputFromConfig(config(roles, 9000));
  const head = firewallInputFromConfig(config(roles, 9001));
  const runs = roles > 20 ? 3 : 20;
  const matrix = time(() => connectivityMatrix(head), runs);
  const delta = time(() => flowDelta([base, head]), runs);
  console.log(`${roles + 2} roles: matrix ${matrix.toFixed(1)} ms, plan flow diff ${delta.toFixed(1)} ms, ratio ${(delta / matrix).toFixed(2)}x`);
}
