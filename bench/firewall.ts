/**
 * npm run bench:firewall — ipset-based rendering vs the naive one-rule-per-peer approach
 * (the original Mixpanel templates), for fleets of 10, 100 and 1000 servers, in the same run:
 * rules per host, render time for the whole fleet, and the time to load the busiest host's files
 * with the real tools in a throwaway network namespace (needs root; skipped with a note otherwise).
 */
import { performance } from "perf_hooks";
import { HostFacts } from "../components/model";
import { effectiveRules } from "../components/firewall/policy";
import { FirewallInput, HostFirewall, renderFleetFirewalls, ruleCount } from "../components/firewall/render";
import { sampleInput } from "../test/support/sample-fleet";
import { delNetns, inNs, must, tempNetns } from "../lab/sh";

const SIZES = [10, 100, 1000];
const RUNS = 5;

interface NaiveHost {
  rulesV4: string;
  rulesV6: string;
}

/** One ACCEPT per (rule, peer address): what generating from a list of IPs without sets gives. */
function renderNaive(input: FirewallInput): Record<string, NaiveHost> {
  const byRole = new Map<string, HostFacts[]>();
  for (const h of input.hosts) byRole.set(h.role, [...(byRole.get(h.role) ?? []), h]);
  const out: Record<string, NaiveHost> = {};
  for (const host of [...input.hosts].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rules = effectiveRules(host.role, input.roles, input);
    const render = (v6: boolean) => {
      const L = [
        "*filter",
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
      ];
      for (const r of rules) {
        for (const p of r.ports) {
          const dport = p.from === p.to ? `${p.from}` : `${p.from}:${p.to}`;
          for (const s of r.from) {
            const addrs =
              s.kind === "role"
                ? (byRole.get(s.role) ?? []).map((h) => (v6 ? h.privateIp6 : h.privateIp)).filter((a): a is string => a !== undefined)
                : s.kind === "vpn"
                  ? v6
                    ? []
                    : [input.vpn.subnet]
                  : s.kind === "admin"
                    ? input.adminCidrs.filter((c) => c.includes(":") === v6)
                    : [undefined];
            for (const a of addrs) L.push(`-A INPUT${a ? ` -s ${a}` : ""} -p ${r.proto} --dport ${dport} -j ACCEPT`);
          }
        }
      }
      L.push("-A INPUT -j DROP", "COMMIT");
      return L.join("\n") + "\n";
    };
    out[host.name] = { rulesV4: render(false), rulesV6: render(true) };
  }
  return out;
}

function timeIt<T>(f: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = f();
  return { ms: performance.now() - t0, value };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function loadTime(files: { ipsets?: string; rulesV4: string; rulesV6: string }): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const ns = tempNetns(`fwb${i}`);
    try {
      const t0 = performance.now();
      if (files.ipsets) must(inNs(ns, ["ipset", "restore"]), files.ipsets);
      must(inNs(ns, ["iptables-restore", "-w", "--noflush"]), files.rulesV4);
      must(inNs(ns, ["ip6tables-restore", "-w", "--noflush"]), files.rulesV6);
      times.push(performance.now() - t0);
    } finally {
      delNetns(ns);
    }
  }
  return median(times);
}

function maxBy<T>(xs: T[], f: (x: T) => number): number {
  return Math.max(...xs.map(f));
}

function main(): void {
  const canLoad = process.getuid?.() === 0;
  const rows: string[][] = [];
  for (const n of SIZES) {
    const input = sampleInput(n);
    const ours = timeIt(() => renderFleetFirewalls(input));
    const naive = timeIt(() => renderNaive(input));
    const oursHosts = Object.values(ours.value) as HostFirewall[];
    const naiveHosts = Object.values(naive.value);
    const oursRules = maxBy(oursHosts, (h) => ruleCount(h.rulesV4) + ruleCount(h.rulesV6));
    const oursV4 = maxBy(oursHosts, (h) => ruleCount(h.rulesV4));
    const oursV6 = maxBy(oursHosts, (h) => ruleCount(h.rulesV6));
    const naiveRules = maxBy(naiveHosts, (h) => ruleCount(h.rulesV4) + ruleCount(h.rulesV6));
    // The busiest host: the one whose naive file is longest (a db server, listing every app server).
    const busiest = Object.entries(naive.value).sort((a, b) => ruleCount(b[1].rulesV4) - ruleCount(a[1].rulesV4))[0][0];
    const oursLoad = canLoad ? loadTime(ours.value[busiest]) : NaN;
    const naiveLoad = canLoad ? loadTime(naive.value[busiest]) : NaN;
    const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(1)}x` : "n/a");
    rows.push([
      String(n),
      `${oursV4}/${oursV6}`,
      String(oursRules),
      String(naiveRules),
      ratio(naiveRules, oursRules),
      ours.ms.toFixed(1),
      naive.ms.toFixed(1),
      ratio(naive.ms, ours.ms),
      canLoad ? oursLoad.toFixed(1) : "n/a",
      canLoad ? naiveLoad.toFixed(1) : "n/a",
      ratio(naiveLoad, oursLoad),
    ]);
  }
  const header = ["servers", "ours v4/v6", "rules/host", "naive", "ratio", "render ms", "naive ms", "ratio", "load ms", "naive ms", "ratio"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  console.log("firewall: ipsets (ours) vs one rule per peer (naive); rules = v4+v6 -A/-I lines of the busiest host;");
  console.log(`render = whole fleet; load = busiest host's files into a fresh netns, median of ${RUNS}; ratio = naive / ours\n`);
  console.log(line(header));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const r of rows) console.log(line(r));
  if (!canLoad) console.log("\n(load times need root: run as root for the namespace measurements)");
}

main();
