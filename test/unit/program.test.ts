/**
 * index.ts under the mock runtime with Pulumi.dev.yaml: what it registers, and that
 * every remote connection pins a host key and private keys only ever travel as secrets.
 */
import * as pulumi from "@pulumi/pulumi";
import { decodeBundle } from "../../components/remote/bundle";
import {
  installMocks,
  instanceIds,
  invoked,
  previousOutputs,
  registered,
  registrationsSettled,
  resetRegistered,
  resolve,
  setConfig,
  stackConfig,
  strings,
  unwrap,
} from "./support/mocks";

import { loadProgram } from "./support/program";

installMocks();

async function runProgram(config: Record<string, unknown>, preview = false): Promise<Record<string, pulumi.Output<unknown>>> {
  resetRegistered();
  setConfig(config);
  const mod = await loadProgram<Promise<Record<string, pulumi.Output<unknown>>>>();
  // Every output resolved, and every registration (also those no output depends on) reached the monitor.
  // (A preview's outputs stay unknown: an apply on them never runs.)
  if (!preview) await resolve(pulumi.all(Object.values(mod)));
  await registrationsSettled();
  return mod;
}

const count = (type: string) => registered.filter((r) => r.type === type).length;
/** The address the (mock) cloud allocated to a server's port. */
const portAddress = (server: string) =>
  (registered.find((r) => r.type === "openstack:networking/port:Port" && r.name === server)!.outputs!.allFixedIps as string[])[0];

type Srv = { name: string; role: string };

describe("the program with Pulumi.dev.yaml", () => {
  let outputs: Record<string, pulumi.Output<unknown>>;
  const dev = stackConfig();
  const servers = dev["fleet:servers"] as { name: string; role: string }[];

  beforeAll(async () => {
    outputs = await runProgram(dev);
  });

  it("registers one instance, port and readiness step per configured server", () => {
    expect(count("openstack:compute/instance:Instance")).toBe(servers.length);
    expect(count("openstack:networking/port:Port")).toBe(servers.length);
    const names = registered.filter((r) => r.type === "openstack:compute/instance:Instance").map((r) => r.inputs.name);
    expect(names.sort()).toEqual(servers.map((s) => s.name).sort());
  });

  it("gives public addresses only to the gateway and public roles", () => {
    const publicCount = servers.filter((s) => s.role === "gateway" || s.role === "web").length;
    expect(count("openstack:networking/floatingIp:FloatingIp")).toBe(publicCount);
    expect(count("openstack:networking/floatingIpAssociate:FloatingIpAssociate")).toBe(publicCount);
  });

  it("builds the Neutron network, subnet, router and the VPN route", () => {
    expect(count("openstack:networking/network:Network")).toBe(1);
    expect(count("openstack:networking/subnet:Subnet")).toBe(1);
    expect(count("openstack:networking/router:Router")).toBe(1);
    const route = registered.find((r) => r.type === "openstack:networking/routerRoute:RouterRoute")!;
    // Via the address the cloud gave the gateway's port: the config names none.
    expect(route.inputs).toMatchObject({ destinationCidr: "10.8.0.0/24", nextHop: portAddress("gw-1") });
    expect(portAddress("gw-1")).toMatch(/^10\.20\.0\.\d+$/);
  });

  it("applies and confirms a firewall on every server, and makes one security group per role", () => {
    for (const s of servers) {
      expect(registered.filter((r) => r.name === `${s.name}-firewall`)).toHaveLength(1);
      expect(registered.filter((r) => r.name === `${s.name}-firewall-confirm`)).toHaveLength(1);
    }
    const roles = new Set(servers.map((s) => s.role));
    expect(count("openstack:networking/secGroup:SecGroup")).toBe(roles.size);
    for (const port of registered.filter((r) => r.type === "openstack:networking/port:Port")) {
      expect((port.inputs.securityGroupIds as string[]).length).toBe(1);
    }
  });

  it("shares one admin key across the fleet and makes one host key per server", () => {
    const keys = registered.filter((r) => r.type === "tls:index/privateKey:PrivateKey").map((r) => r.name);
    expect(keys.filter((k) => k.endsWith("-admin"))).toEqual(["fleet-admin"]);
    expect(keys.filter((k) => k.endsWith("-host")).sort()).toEqual(servers.map((s) => `${s.name}-host`).sort());
  });

  it("exports the connectivity matrix", async () => {
    const m = (await resolve(outputs.matrix)) as { from: string; to: string; port: number; allowed: boolean }[];
    expect(m.find((e) => e.from === "app" && e.to === "db" && e.port === 5432)?.allowed).toBe(true);
    expect(m.find((e) => e.from === "web" && e.to === "db" && e.port === 5432)?.allowed).toBe(false);
  });

  it("every remote command pins a host key, and so does its proxy", () => {
    const commands = registered.filter((r) => r.type === "command:remote:Command");
    expect(commands.length).toBeGreaterThanOrEqual(servers.length);
    for (const c of commands) {
      const conn = unwrap(c.inputs.connection) as Record<string, any>;
      expect({ name: c.name, hostKey: conn.hostKey }).toEqual({ name: c.name, hostKey: expect.stringMatching(/^ssh-ed25519 /) });
      if (conn.proxy) expect(conn.proxy.hostKey).toMatch(/^ssh-ed25519 /);
    }
  });

  it("private servers are reached through the gateway; the gateway directly", () => {
    const conn = (name: string) => unwrap(registered.find((r) => r.name === `${name}-ready`)!.inputs.connection) as Record<string, any>;
    const gw = conn("gw-1");
    expect(gw.proxy).toBeUndefined();
    expect(gw.host).toMatch(/^203\.0\.113\./);
    for (const s of servers.filter((x) => x.role !== "gateway")) {
      const c = conn(s.name);
      expect(c.host).toMatch(/^10\.20\.0\./);
      expect(c.proxy).toMatchObject({ host: gw.host, user: "root", hostKey: gw.hostKey });
    }
  });

  it("certificates ask only for key usages the real tls provider accepts (snake_case)", () => {
    // terraform-provider-tls internal/provider/common_cert.go: keyUsages and extendedKeyUsages, validated at plan.
    const accepted = [
      "digital_signature",
      "content_commitment",
      "key_encipherment",
      "data_encipherment",
      "key_agreement",
      "cert_signing",
      "crl_signing",
      "encipher_only",
      "decipher_only",
      "any_extended",
      "server_auth",
      "client_auth",
      "code_signing",
      "email_protection",
      "ipsec_end_system",
      "ipsec_tunnel",
      "ipsec_user",
      "timestamping",
      "ocsp_signing",
      "microsoft_server_gated_crypto",
      "netscape_server_gated_crypto",
      "microsoft_commercial_code_signing",
      "microsoft_kernel_code_signing",
    ];
    const certs = registered.filter((r) => r.type === "tls:index/selfSignedCert:SelfSignedCert" || r.type === "tls:index/locallySignedCert:LocallySignedCert");
    expect(certs.length).toBe(1 + 1 + (dev["fleet:vpn"] as { engineers: string[] }).engineers.length);
    for (const c of certs) {
      const uses = c.inputs.allowedUses as string[];
      expect(uses.length).toBeGreaterThan(0);
      expect({ name: c.name, bad: uses.filter((u) => !accepted.includes(u)) }).toEqual({ name: c.name, bad: [] });
    }
  });

  it("private keys appear only inside secrets", () => {
    const leaks = registered.flatMap((r) =>
      strings(r.inputs)
        .filter((x) => /PRIVATE KEY/.test(x.s) && !x.secret)
        .map(() => `${r.type} ${r.name}`),
    );
    expect(leaks).toEqual([]);
  });

  it("exports the servers with role and addresses, and the gateway address", async () => {
    const s = (await resolve(outputs.servers)) as Record<string, { role: string; privateIp: string; publicIp?: string }>;
    expect(Object.keys(s).sort()).toEqual(servers.map((x) => x.name).sort());
    for (const x of servers) expect(s[x.name].privateIp).toBe(portAddress(x.name));
    expect(new Set(Object.values(s).map((x) => x.privateIp)).size).toBe(servers.length);
    expect(s["gw-1"].role).toBe("gateway");
    expect(s["db-1"].publicIp).toBeUndefined();
    expect(await resolve(outputs.gatewayAddress)).toMatch(/^203\.0\.113\./);
  });

  it("a replaced instance (a new id) re-runs exactly its own host's steps, in their order, and nothing else", async () => {
    const triggers = () =>
      Object.fromEntries(registered.filter((r) => r.type === "command:remote:Command").map((r) => [r.name, JSON.stringify(unwrap(r.inputs.triggers))]));
    await runProgram(dev);
    const before = triggers();
    /** The commands whose trigger changes when `server`'s instance comes back with a new id. */
    const changedByReplacing = async (server: string) => {
      instanceIds[server] = `${server}-replacement-id`;
      try {
        await runProgram(dev);
      } finally {
        delete instanceIds[server];
      }
      const after = triggers();
      return Object.keys(after)
        .filter((k) => after[k] !== before[k])
        .sort();
    };
    expect(await changedByReplacing("app-2")).toEqual(["app-2-firewall", "app-2-firewall-confirm", "app-2-ready", "shop-activate-app-2", "shop-prepare-app-2"]);
    // The gateway: its VPN too, and still no other host's step.
    expect(await changedByReplacing("gw-1")).toEqual(["fleet-vpn-configure", "gw-1-firewall", "gw-1-firewall-confirm", "gw-1-ready"]);
    // A rebuild on a new image keeps the instance id but wipes the disk: the same steps run again, and only those.
    const rebuilt = { ...dev, "fleet:servers": servers.map((s) => (s.name === "app-2" ? { ...s, image: "Debian 12" } : s)) };
    await runProgram(rebuilt);
    const afterRebuild = triggers();
    expect(
      Object.keys(afterRebuild)
        .filter((k) => afterRebuild[k] !== before[k])
        .sort(),
    ).toEqual(["app-2-firewall", "app-2-firewall-confirm", "app-2-ready", "shop-activate-app-2", "shop-prepare-app-2"]);
    await runProgram(dev);
  });

  describe.each([
    ["a server inserted at the front", (l: Srv[]) => [{ name: "app-0", role: "app" }, ...l], ["app-0"]],
    ["a server removed from the middle", (l: Srv[]) => l.filter((x) => x.name !== "web-2"), ["web-2"]],
    ["the list reordered", (l: Srv[]) => [...l].reverse(), []],
  ])("%s", (_what, edit, edited) => {
    /** Every resource's inputs by type and name (secrets unwrapped), as the engine would diff them. */
    const snapshot = () => new Map(registered.map((r) => [`${r.type} ${r.name}`, JSON.stringify(unwrap(r.inputs))]));
    let before: Map<string, string>;
    let after: Map<string, string>;
    beforeAll(async () => {
      await runProgram(dev);
      before = snapshot();
      await runProgram({ ...dev, "fleet:servers": edit(servers) });
      after = snapshot();
      await runProgram(dev);
    });
    const changed = () => [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k)).sort();

    it("changes no other server's instance, port, floating IP or remote command, except peers' firewall apply and confirm", () => {
      const allowed = (k: string) => / [a-z0-9-]+-firewall(-confirm)?$/.test(k) || edited.some((n) => k.includes(n));
      expect(changed().filter((k) => !allowed(k))).toEqual([]);
    });

    it("a peer's firewall changes only together with its confirm", () => {
      const fw = changed().filter((k) => k.startsWith("command:remote:Command "));
      for (const k of fw.filter((x) => x.endsWith("-firewall"))) expect(fw).toContain(`${k}-confirm`);
    });

    it("only the added server is created and only the removed one deleted", () => {
      const created = [...after.keys()].filter((k) => !before.has(k));
      const deleted = [...before.keys()].filter((k) => !after.has(k));
      expect([...created, ...deleted].every((k) => edited.some((n) => k.includes(n)))).toBe(true);
      expect(created.length + deleted.length > 0).toBe(edited.length > 0);
    });
  });

  it("asks Neutron for an address only where the config pins one, and keeps the pin out of the pools it allocates from", async () => {
    const pinned = { ...dev, "fleet:servers": servers.map((x) => (x.name === "db-1" ? { ...x, privateIp: "10.20.0.100" } : x)) };
    await runProgram(pinned);
    const ports = registered.filter((r) => r.type === "openstack:networking/port:Port");
    const asked = Object.fromEntries(ports.map((p) => [p.name, (unwrap(p.inputs.fixedIps) as { ipAddress?: string }[])[0].ipAddress ?? null]));
    expect(asked).toEqual(Object.fromEntries(servers.map((x) => [x.name, x.name === "db-1" ? "10.20.0.100" : null])));
    expect(portAddress("db-1")).toBe("10.20.0.100");
    const subnet = registered.find((r) => r.type === "openstack:networking/subnet:Subnet")!;
    expect(subnet.inputs.allocationPools).toEqual([
      { start: "10.20.0.10", end: "10.20.0.99" },
      { start: "10.20.0.101", end: "10.20.0.254" },
    ]);
    // The allow-lists hold what the cloud gave: db-1 admits app-1 (app may reach db on 5432) at its port's address.
    const dbApply = registered.find((r) => r.name === "db-1-firewall")!;
    expect(decodeBundle(String(unwrap(dbApply.inputs.stdin))).ipsets).toContain(portAddress("app-1"));
    await runProgram(dev);
  });

  it("gives up on a host that never answers SSH in about a minute, whether it refuses or drops the dials", () => {
    // pulumi-command v1.2.1 (provider/pkg/provider/remote/connection.go, dialWithRetry over the SDK's retry.Until):
    // up to dialErrorLimit + 1 dials, each TCP connect bounded by perDialTimeout, 0.1 s × 1.5ⁿ (at most 5 s) between.
    const giveUpSeconds = (limit: number, perDial: number, dropped: boolean) => {
      let t = 0;
      for (let n = 0; n <= limit; n++) {
        if (dropped) t += perDial;
        if (n < limit) t += Math.min(0.1 * 1.5 ** n, 5);
      }
      return t;
    };
    const commands = registered.filter((r) => r.type === "command:remote:Command" && !r.name.endsWith("-firewall-confirm"));
    expect(commands.length).toBe(17);
    for (const c of commands) {
      const conn = unwrap(c.inputs.connection) as {
        dialErrorLimit: number;
        perDialTimeout: number;
        proxy?: { dialErrorLimit: number; perDialTimeout: number };
      };
      for (const hop of conn.proxy ? [conn, conn.proxy] : [conn]) {
        // Long enough for sshd to start on a server that just went ACTIVE; short enough that a dead one fails the up soon.
        expect({ c: c.name, refused: giveUpSeconds(hop.dialErrorLimit, hop.perDialTimeout, false) >= 30 }).toEqual({ c: c.name, refused: true });
        expect({ c: c.name, refused: giveUpSeconds(hop.dialErrorLimit, hop.perDialTimeout, false) <= 60 }).toEqual({ c: c.name, refused: true });
        expect({ c: c.name, dropped: giveUpSeconds(hop.dialErrorLimit, hop.perDialTimeout, true) <= 100 }).toEqual({ c: c.name, dropped: true });
      }
    }
  });

  it("is deterministic: the same config gives byte-identical inputs", async () => {
    // Registration order depends on when outputs resolve; compare per resource. Mock addresses carry a counter.
    const snapshot = () =>
      Object.fromEntries(registered.map((r) => [`${r.type} ${r.name}`, JSON.stringify(r.inputs).replace(/(203\.0\.113|198\.51\.100)\.\d+/g, "X")]));
    const first = snapshot();
    await runProgram(dev);
    const second = snapshot();
    expect(Object.keys(second).sort()).toEqual(Object.keys(first).sort());
    for (const k of Object.keys(first)) expect({ k, inputs: second[k] }).toEqual({ k, inputs: first[k] });
  });
});

describe("a stateful role", () => {
  const dev = stackConfig();
  const roles = dev["fleet:roles"] as Record<string, Record<string, unknown>>;
  const stateful = { ...dev, "fleet:roles": { ...roles, db: { ...roles.db, volume: { size: 20, mountPoint: "/srv/data" } } } };
  const byName = (type: string, name: string) => registered.find((r) => r.type === type && r.name === name);
  afterEach(() => (previousOutputs.value = {}));

  it("gives each of its servers a volume, mapped at boot beside the image, and tells cloud-init where it is", async () => {
    const outputs = await runProgram(stateful);
    const volumes = registered.filter((r) => r.type === "openstack:blockstorage/volume:Volume");
    expect(volumes.map((v) => [v.name, v.inputs.name, v.inputs.size])).toEqual([["db-1-data", "db-1-data", 20]]);
    const volumeId = "db-1-data-id";
    expect(unwrap(byName("openstack:compute/instance:Instance", "db-1")!.inputs.blockDevices)).toEqual([
      expect.objectContaining({ uuid: "image-id-Ubuntu 24.04", sourceType: "image", destinationType: "local", bootIndex: 0, deleteOnTermination: true }),
      expect.objectContaining({ uuid: volumeId, sourceType: "volume", destinationType: "volume", bootIndex: -1, deleteOnTermination: false }),
    ]);
    const userData = String(unwrap(byName("openstack:compute/instance:Instance", "db-1")!.inputs.userData));
    expect(userData).toContain(`/dev/disk/by-id/virtio-${volumeId.slice(0, 20)} /srv/data ext4`);
    // Stateless servers keep booting from the image alone.
    expect(byName("openstack:compute/instance:Instance", "app-1")!.inputs.blockDevices).toBeUndefined();
    expect(await resolve(outputs.volumes)).toEqual({ "db-1": { id: volumeId, role: "db", sizeGb: 20, mountPoint: "/srv/data" } });
  });

  it("looks each image up once, whatever the number of stateful servers on it", async () => {
    const servers = [...(dev["fleet:servers"] as object[]), { name: "db-2", role: "db" }, { name: "db-3", role: "db" }];
    await runProgram({ ...stateful, "fleet:servers": servers });
    expect(invoked.filter((c) => c.token === "openstack:images/getImage:getImage").map((c) => c.inputs.name)).toEqual(["Ubuntu 24.04"]);
    for (const db of ["db-1", "db-2", "db-3"]) {
      const devices = unwrap(byName("openstack:compute/instance:Instance", db)!.inputs.blockDevices) as { uuid: string }[];
      expect(devices[0].uuid).toBe("image-id-Ubuntu 24.04");
    }
  });

  const withoutDb = (c: Record<string, unknown>) => ({
    ...c,
    "fleet:servers": (c["fleet:servers"] as { name: string }[]).filter((s) => s.name !== "db-1"),
  });
  const lastUp = { "db-1": { id: "vol-9", role: "db", sizeGb: 20, mountPoint: "/srv/data" } };

  it("refuses to drop a server whose volume the last up recorded, before registering anything", async () => {
    previousOutputs.value = { volumes: lastUp };
    await expect(runProgram(withoutDb(stateful))).rejects.toThrow(/db-1 \(role db\) is gone from the list, but its data is on volume vol-9.*fleet:retire/s);
    expect(registered).toEqual([]);
  });

  it("retires it on purpose: the server's resources go, its volume is registered again, recorded as retired", async () => {
    previousOutputs.value = { volumes: lastUp };
    const outputs = await runProgram({ ...withoutDb(stateful), "fleet:retire": ["db-1"] });
    expect(registered.filter((r) => /db-1/.test(r.name)).map((r) => `${r.type} ${r.name}`)).toEqual(["openstack:blockstorage/volume:Volume db-1-data"]);
    expect(await resolve(outputs.volumes)).toEqual({ "db-1": { ...lastUp["db-1"], id: "db-1-data-id", retired: true } });
  });
});

describe("the dependencies the engine must keep", () => {
  const dev = stackConfig();
  const ROLES = ["web", "app", "app", "db"];
  const fleet = (n: number) => [
    { name: "gw-1", role: "gateway" },
    ...Array.from({ length: n - 1 }, (_, i) => ({ name: `${ROLES[(i + 1) % 4]}-${i + 1}`, role: ROLES[(i + 1) % 4] })),
  ];
  const nameOf = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);
  const belongsTo = (resource: string, server: string) => resource === server || resource.startsWith(`${server}-`) || resource.endsWith(`-${server}`);

  async function dependencies(n: number): Promise<Map<string, string[]>> {
    await runProgram({ ...dev, "fleet:servers": fleet(n), "fleet:network": { cidr: "10.20.0.0/20" } });
    // Barriers (Stash) stand after a whole group on purpose: one resource with n dependencies, once.
    return new Map(registered.filter((r) => r.type !== "pulumi:index:Stash").map((r) => [`${r.type} ${r.name}`, r.dependencies]));
  }

  it("no server's remote command depends on another server's resources, but the gateway it is reached through and the rolling order", async () => {
    const servers = fleet(24).map((s) => s.name);
    const deps = await dependencies(24);
    const foreign: string[] = [];
    for (const [key, urns] of deps) {
      if (!key.startsWith("command:remote:Command")) continue;
      const own = servers.find((s) => belongsTo(key.split(" ")[1], s));
      if (!own) continue;
      for (const u of urns) {
        // A rolling deploy in batches of one waits for the activate before it (deploy.test.ts pins which one).
        if (/-activate-/.test(key) && /-activate-/.test(nameOf(u))) continue;
        const other = servers.find((s) => s !== own && s !== "gw-1" && belongsTo(nameOf(u), s));
        if (other) foreign.push(`${key} -> ${nameOf(u)}`);
      }
    }
    expect(foreign).toEqual([]);
  });

  it("no resource's dependencies grow with the fleet: the most any resource has is the same at 12 and at 48 servers", async () => {
    const most = (m: Map<string, string[]>) => Math.max(...[...m.values()].map((d) => d.length));
    const small = most(await dependencies(12));
    const large = most(await dependencies(48));
    expect(small).toBeGreaterThan(0);
    expect(large).toBe(small);
  });
});

describe("a preview of a new stack, where nothing the cloud computes is known yet", () => {
  const dev = stackConfig();
  const keys = () => registered.map((r) => `${r.type} ${r.name}`).sort();
  afterAll(() => installMocks());

  it("registers exactly what the up registers", async () => {
    installMocks();
    await runProgram(dev);
    const up = keys();
    installMocks({ preview: true });
    await runProgram(dev, true);
    expect(keys()).toEqual(up);
    // And the firewall's inputs are unknown there, not rendered from missing addresses.
    const firewall = registered.find((r) => r.name === `${(dev["fleet:servers"] as Srv[])[1].name}-firewall`)!;
    expect(pulumi.isUnknown(firewall.inputs.stdin)).toBe(true);
  });
});
