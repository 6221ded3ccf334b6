import { HostFacts, RolePolicy } from "../../components/model";
import { FirewallInput } from "../../components/firewall/render";

/**
 * A realistic policy and fleet of any size, shared by the unit tests, the lab suites
 * and the benchmark so they all exercise the same shape of input.
 */
export const SAMPLE_ROLES: Record<string, RolePolicy> = {
  gateway: { public: true, allow: [] },
  web: {
    public: true,
    allow: [
      {
        proto: "tcp",
        ports: [
          { from: 80, to: 80 },
          { from: 443, to: 443 },
        ],
        from: ["public"],
      },
    ],
  },
  app: {
    public: false,
    allow: [
      { proto: "tcp", ports: [{ from: 8080, to: 8080 }], from: ["web", "vpn"] },
      { proto: "udp", ports: [{ from: 8125, to: 8125 }], from: ["app", "web"] },
    ],
  },
  db: {
    public: false,
    allow: [
      { proto: "tcp", ports: [{ from: 5432, to: 5432 }], from: ["app", "vpn"] },
      { proto: "tcp", ports: [{ from: 9100, to: 9101 }], from: ["gateway"] },
    ],
  },
};

const ROLE_CYCLE = ["web", "app", "app", "db"];

/** One gateway, then web/app/db in a fixed cycle; private addresses from 10.0.0.10 on, like the foundation hands out. */
export function sampleHosts(n: number, opts: { base?: string; ipv6?: boolean } = {}): HostFacts[] {
  const [a, b] = (opts.base ?? "10.0").split(".");
  const hosts: HostFacts[] = [];
  for (let i = 0; i < n; i++) {
    const role = i === 0 ? "gateway" : ROLE_CYCLE[(i - 1) % ROLE_CYCLE.length];
    const off = 10 + i;
    const h: HostFacts = { name: `${role}-${i}`, role, privateIp: `${a}.${b}.${Math.floor(off / 256)}.${off % 256}` };
    if (role === "gateway" || role === "web") h.publicIp = `203.0.113.${(i % 250) + 1}`;
    if (opts.ipv6) h.privateIp6 = `fd00:10::${off.toString(16)}`;
    hosts.push(h);
  }
  return hosts;
}

export function sampleInput(n: number, over: Partial<FirewallInput> = {}): FirewallInput {
  return {
    hosts: sampleHosts(n, { ipv6: true }),
    roles: SAMPLE_ROLES,
    gatewayRole: "gateway",
    vpn: { subnet: "10.8.0.0/24", port: 1194, proto: "udp" },
    privateCidr: "10.0.0.0/16",
    adminCidrs: ["0.0.0.0/0"],
    ...over,
  };
}
