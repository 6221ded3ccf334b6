/**
 * Firewall / RoleSecurityGroups under the Pulumi mock runtime: the wiring from server outputs to
 * per-host bundles, apply -> confirm plumbing, and the Neutron groups derived from the policy.
 */
import { hostReports } from "../../test/unit/support/host-reports";
import { isSecret, unwrapSecrets } from "../pulumi/secrets";
import * as pulumi from "@pulumi/pulumi";
import { decodeBundle } from "../remote/bundle";
import { ServerHandle } from "../server/handle";
import { Firewall } from "./firewall";
import { connectivityMatrix } from "./matrix";
import { renderFleetFirewalls } from "./render";
import { SAMPLE_ROLES, sampleInput } from "../../test/support/sample-fleet";
import { registrationsSettled } from "../../test/unit/support/settled";
import { RoleSecurityGroups, ruleResourceName, securityGroupRules } from "./security-groups";

type Registered = { type: string; name: string; inputs: Record<string, unknown> };
const registered: Registered[] = [];

void pulumi.runtime.setMocks(
  {
    newResource: async (args) => {
      registered.push({ type: args.type, name: args.name, inputs: args.inputs });
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "command:remote:Command" && args.name.endsWith("-firewall")) state.stdout = hostReports.firewallArmed(`arm-of-${args.name}`);
      // What firewall-confirm prints once it has seen the kernel run the bundle's rules.
      if (args.type === "command:remote:Command" && args.name.endsWith("-firewall-confirm")) {
        state.stdout = hostReports.firewallConfirmed(decodeBundle(String(args.inputs.stdin)).hash);
      }
      return { id: `${args.name}-id`, state };
    },
    call: (args) => args.inputs,
  },
  "fleet",
  "test",
);

const value = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));
const settle = registrationsSettled;

class Ready extends pulumi.ComponentResource {
  constructor(name: string) {
    super("test:index:Ready", name, {});
    this.registerOutputs({});
  }
}

const base = sampleInput(6);
const handles: ServerHandle[] = base.hosts.map((h) => ({
  name: h.name,
  role: h.role,
  // Addresses arrive as outputs, as from real servers.
  machineId: pulumi.output(`${h.name}-machine`),
  privateIp: pulumi.output(Promise.resolve(h.privateIp)),
  publicIp: pulumi.output(h.publicIp),
  connection: pulumi.secret({
    host: h.publicIp ?? h.privateIp,
    user: "root",
    ...(h.role === "gateway" ? {} : { proxy: { host: "203.0.113.1", user: "root" } }),
  }),
  ready: new Ready(`${h.name}-ready`),
}));

function command(name: string): Registered {
  const r = registered.find((x) => x.type === "command:remote:Command" && x.name === name);
  if (!r) throw new Error(`no command ${name}; have ${registered.map((x) => x.name).join(", ")}`);
  return r;
}

describe("Firewall component", () => {
  const input = { ...base, hosts: base.hosts.map(({ privateIp6: _v6, ...h }) => h) };
  const fw = new Firewall("fw", {
    servers: handles,
    roles: SAMPLE_ROLES,
    gatewayRole: "gateway",
    vpn: input.vpn,
    privateCidr: input.privateCidr,
    adminCidrs: input.adminCidrs,
    confirmTimeoutSeconds: 60,
  });

  it("renders each host from all servers' outputs; the hashes are what each confirm reports, which match the pure renderer", async () => {
    const expected = renderFleetFirewalls(input);
    expect(await value(fw.hashes)).toEqual(Object.fromEntries(Object.entries(expected).map(([h, f]) => [h, f.hash])));
    expect(await value(fw.matrix)).toEqual(connectivityMatrix(input));
  });

  it("creates an apply and a confirm command per host; confirm carries apply's arm id and dials long enough", async () => {
    await settle();
    const expected = renderFleetFirewalls(input);
    for (const h of input.hosts) {
      const apply = decodeBundle(String(command(`${h.name}-firewall`).inputs.stdin));
      expect(apply.ipsets).toBe(expected[h.name].ipsets);
      expect(apply["rules.v4"]).toBe(expected[h.name].rulesV4);
      expect(apply.timeout).toBe("60");
      expect(apply["main.sh"]).toContain("firewall-confirm (a NEW ssh connection)");
      const confirmCmd = command(`${h.name}-firewall-confirm`);
      const confirm = decodeBundle(String(confirmCmd.inputs.stdin));
      expect(confirm.arm_id).toBe(`arm-of-${h.name}-firewall`);
      expect(confirm.hash).toBe(expected[h.name].hash);
      // The connection carries the SSH key: it must still be a secret after we widened the dial limits.
      const wrapped = confirmCmd.inputs.connection;
      expect(isSecret(wrapped)).toBe(true);
      const conn = unwrapSecrets(wrapped) as { dialErrorLimit: number; perDialTimeout: number; proxy?: { dialErrorLimit: number } };
      // Even if every dial is refused at once (~5 s apart at most), the confirm still dials when the host reverts at 60 s.
      expect(conn.dialErrorLimit * 5).toBeGreaterThanOrEqual(2 * 60);
      expect(conn.perDialTimeout).toBe(10);
      if (h.role !== "gateway") expect(conn.proxy?.dialErrorLimit).toBe(conn.dialErrorLimit);
    }
  });

  it("puts every app server's output address into the db hosts' allow-list", async () => {
    await settle();
    const db = decodeBundle(String(command("db-4-firewall").inputs.stdin));
    for (const h of input.hosts.filter((x) => x.role === "app")) expect(db.ipsets).toContain(`add fleet-r-app ${h.privateIp}\n`);
  });
});

describe("securityGroupRules", () => {
  const policy = {
    roles: SAMPLE_ROLES,
    gatewayRole: "gateway",
    vpn: { subnet: "10.8.0.0/24", port: 1194, proto: "udp" as const },
    adminCidrs: ["203.0.113.2/32"],
  };
  const rules = securityGroupRules(policy);
  const find = (role: string, pred: (r: (typeof rules)[number]) => boolean) => rules.filter((r) => r.role === role && pred(r));

  it("turns role sources into remote groups, in both families", () => {
    const pg = find("db", (r) => r.ports?.from === 5432 && "group" in r.remote);
    expect(pg.map((r) => [r.etherType, "group" in r.remote && r.remote.group])).toEqual([
      ["IPv4", "app"],
      ["IPv6", "app"],
    ]);
  });

  it("uses prefixes for vpn, public and admin", () => {
    expect(find("db", (r) => r.ports?.from === 5432 && "cidr" in r.remote).map((r) => "cidr" in r.remote && r.remote.cidr)).toEqual(["10.8.0.0/24"]);
    expect(
      find("web", (r) => r.ports?.from === 443)
        .map((r) => "cidr" in r.remote && r.remote.cidr)
        .sort(),
    ).toEqual(["0.0.0.0/0", "::/0"]);
    expect(
      find("gateway", (r) => r.ports?.from === 22 && "cidr" in r.remote)
        .map((r) => "cidr" in r.remote && r.remote.cidr)
        .sort(),
    ).toEqual(["10.8.0.0/24", "203.0.113.2/32"]);
    expect(find("app", (r) => r.protocol === "tcp" && r.ports?.from === 8080 && "cidr" in r.remote && r.remote.cidr === "0.0.0.0/0")).toEqual([]);
  });

  it("re-adds egress for both families on every group, and names rules stably and uniquely", () => {
    for (const role of Object.keys(SAMPLE_ROLES)) expect(find(role, (r) => r.direction === "egress").map((r) => r.etherType)).toEqual(["IPv4", "IPv6"]);
    const names = rules.map((r) => ruleResourceName("sg", r));
    expect(new Set(names).size).toBe(names.length);
    expect(securityGroupRules(policy).map((r) => ruleResourceName("sg", r))).toEqual(names);
  });

  it("registers one group per role with deleteDefaultRules and wires remote groups by id", async () => {
    const sg = new RoleSecurityGroups("sg", policy);
    expect(Object.keys(sg.groupIds).sort()).toEqual(["app", "db", "gateway", "web"]);
    expect(await value(sg.groupIds.db)).toBe("sg-db-id");
    await settle();
    const groups = registered.filter((r) => r.type === "openstack:networking/secGroup:SecGroup");
    expect(groups.map((g) => g.inputs.deleteDefaultRules)).toEqual([true, true, true, true]);
    const pg = registered.filter(
      (r) => r.type === "openstack:networking/secGroupRule:SecGroupRule" && r.inputs.portRangeMin === 5432 && r.inputs.remoteGroupId,
    );
    expect(pg.map((r) => [r.inputs.securityGroupId, r.inputs.remoteGroupId])).toEqual([
      ["sg-db-id", "sg-app-id"],
      ["sg-db-id", "sg-app-id"],
    ]);
  });
});
