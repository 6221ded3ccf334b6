/**
 * Each policy called directly with fabricated arguments (the shape the framework builds),
 * with cases that must pass and cases that must be reported.
 */
import { encodeBundle } from "../components/remote/bundle";
import { renderGatewayBundle } from "../components/vpn/render";
import { PlainResource, resourceArgs, stackArgs } from "./args";
import {
  FIP_ASSOCIATE,
  INSTANCE,
  noSshFromWorld,
  NOVA_FIP_ASSOCIATE,
  NOVA_SEC_GROUP,
  openvpnCipherProblems,
  PORT,
  publicAddressesOnlyForPublicRoles,
  RACKSPACE_PUBLICNET,
  REMOTE_COMMAND,
  remoteCommandsPinHostKeys,
  SEC_GROUP_RULE,
  vpnAeadCiphersOnly,
} from "./policies";
import { ResourceValidationPolicy } from "@pulumi/policy";

async function violations(policy: ResourceValidationPolicy, r: PlainResource): Promise<string[]> {
  const out: string[] = [];
  const v = policy.validateResource!;
  for (const f of Array.isArray(v) ? v : [v]) await f(resourceArgs(r), (m) => out.push(m));
  return out;
}

describe("no-ssh-from-world", () => {
  const rule = (props: Record<string, unknown>): PlainResource => ({
    type: SEC_GROUP_RULE,
    name: "r",
    props: { direction: "ingress", ethertype: "IPv4", ...props },
  });
  it.each([
    ["tcp 22 from 0.0.0.0/0", { protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: "0.0.0.0/0" }],
    ["tcp 22 from ::/0", { ethertype: "IPv6", protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: "::/0" }],
    ["a tcp range around 22 from the world", { protocol: "tcp", portRangeMin: 1, portRangeMax: 1024, remoteIpPrefix: "0.0.0.0/0" }],
    ["any protocol, any port, no remote (OpenStack: everyone)", {}],
  ])("reports %s", async (_, props) => {
    expect(await violations(noSshFromWorld, rule(props))).toHaveLength(1);
  });
  it.each([
    ["egress", { direction: "egress", protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: "0.0.0.0/0" }],
    ["tcp 22 from the VPN subnet", { protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: "10.8.0.0/24" }],
    ["tcp 443 from the world", { protocol: "tcp", portRangeMin: 443, portRangeMax: 443, remoteIpPrefix: "0.0.0.0/0" }],
    ["udp 22 from the world", { protocol: "udp", portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: "0.0.0.0/0" }],
    ["tcp 22 from a remote group", { protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteGroupId: "sg-1" }],
  ])("accepts %s", async (_, props) => {
    expect(await violations(noSshFromWorld, rule(props))).toEqual([]);
  });
  it("checks nova security groups rule by rule", async () => {
    const sg = {
      type: NOVA_SEC_GROUP,
      name: "legacy",
      props: {
        rules: [
          { ipProtocol: "tcp", fromPort: 443, toPort: 443, cidr: "0.0.0.0/0" },
          { ipProtocol: "tcp", fromPort: 22, toPort: 22, cidr: "0.0.0.0/0" },
        ],
      },
    };
    expect(await violations(noSshFromWorld, sg)).toEqual([expect.stringContaining("rules[1]")]);
  });
});

describe("remote-commands-pin-host-keys", () => {
  const cmd = (connection: Record<string, unknown>): PlainResource => ({ type: REMOTE_COMMAND, name: "c", props: { connection, create: "true" } });
  const gw = { host: "203.0.113.5", user: "root", hostKey: "ssh-ed25519 AAAAgw" };
  it("accepts a pinned connection and a pinned proxy", async () => {
    expect(await violations(remoteCommandsPinHostKeys, cmd(gw))).toEqual([]);
    expect(await violations(remoteCommandsPinHostKeys, cmd({ host: "10.20.0.11", hostKey: "ssh-ed25519 AAAAweb", proxy: gw }))).toEqual([]);
  });
  it.each([
    ["no hostKey", { host: "10.20.0.11" }, /no hostKey/],
    ["an empty hostKey", { host: "10.20.0.11", hostKey: "  " }, /no hostKey/],
    ["an unpinned proxy", { host: "10.20.0.11", hostKey: "ssh-ed25519 AAAAweb", proxy: { host: "203.0.113.5" } }, /proxy 203.0.113.5 has no hostKey/],
  ])("reports %s", async (_, conn, msg) => {
    expect(await violations(remoteCommandsPinHostKeys, cmd(conn))).toEqual([expect.stringMatching(msg)]);
  });
  it("ignores other resource types", async () => {
    expect(await violations(remoteCommandsPinHostKeys, { type: "command:local:Command", name: "l", props: { create: "true" } })).toEqual([]);
  });
});

describe("public-addresses-only-for-public-roles", () => {
  const instance = (name: string, role: string | undefined, networks: Record<string, unknown>[]): PlainResource => ({
    type: INSTANCE,
    name,
    props: { id: `${name}-id`, name, metadata: role ? { "fleet-role": role } : {}, networks },
  });
  const port = (name: string): PlainResource => ({ type: PORT, name, props: { id: `${name}-port-id` } });
  const fip = (name: string, portId: string): PlainResource => ({ type: FIP_ASSOCIATE, name, props: { id: `${name}-fip`, portId, floatingIp: "203.0.113.9" } });
  const fleet = (role: string): PlainResource[] => [
    port("gw-1"),
    instance("gw-1", "gateway", [{ port: "gw-1-port-id" }]),
    port("x-1"),
    instance("x-1", role, [{ port: "x-1-port-id" }]),
    fip("gw-1", "gw-1-port-id"),
    fip("x-1", "x-1-port-id"),
  ];
  async function run(resources: PlainResource[], config: object = {}): Promise<string[]> {
    const out: string[] = [];
    await publicAddressesOnlyForPublicRoles.validateStack(stackArgs(resources, config), (m) => out.push(m));
    return out;
  }

  it("accepts floating IPs on gateway and web (the default public roles)", async () => {
    expect(await run(fleet("web"))).toEqual([]);
  });
  it("reports a floating IP on a db server, matched through port ids", async () => {
    expect(await run(fleet("db"))).toEqual([expect.stringMatching(/^x-1: role db is not allowed a public address/)]);
  });
  it("matches through property dependencies when ids are not known yet (preview)", async () => {
    const res: PlainResource[] = [
      { type: PORT, name: "db-1", props: {} },
      { type: INSTANCE, name: "db-1", props: { metadata: { "fleet-role": "db" }, networks: [{}] }, propertyDependencies: { networks: ["db-1"] } },
      { type: FIP_ASSOCIATE, name: "db-1", props: {}, propertyDependencies: { portId: ["db-1"] } },
    ];
    expect(await run(res)).toEqual([expect.stringContaining("role db")]);
  });
  it("takes the public roles from the pack config", async () => {
    expect(await run(fleet("db"), { publicRoles: ["gateway", "db"] })).toEqual([]);
    expect(await run(fleet("web"), { publicRoles: ["gateway"] })).toEqual([expect.stringContaining("role web")]);
  });
  it("reports Rackspace PublicNet on a private role and an instance without role metadata", async () => {
    const res = [instance("db-1", "db", [{ uuid: RACKSPACE_PUBLICNET }, { uuid: "net" }]), instance("odd", undefined, [{ uuid: RACKSPACE_PUBLICNET }])];
    const out = await run(res);
    expect(out).toEqual([expect.stringMatching(/^db-1: role db .*PublicNet/), expect.stringMatching(/^odd: .*no fleet-role metadata/)]);
  });
  it("reports a floating IP attached to an unknown port, and checks nova associations by instance id", async () => {
    expect(await run([fip("lb", "some-port")])).toEqual([expect.stringContaining("not a fleet instance")]);
    const nova = [
      instance("db-1", "db", [{ uuid: "net" }]),
      { type: NOVA_FIP_ASSOCIATE, name: "a", props: { instanceId: "db-1-id", floatingIp: "203.0.113.3" } },
    ];
    expect(await run(nova)).toEqual([expect.stringContaining("role db")]);
  });
});

describe("vpn-aead-ciphers-only", () => {
  const pem = (what: string) => `-----BEGIN ${what}-----\nx\n-----END ${what}-----\n`;
  const bundle = (mutate: (conf: string) => string = (c) => c) => {
    const files = renderGatewayBundle({
      server: { proto: "udp", port: 1194, subnet: "10.8.0.0/24", privateCidrs: ["10.20.0.0/24"] },
      caCertPem: pem("CERTIFICATE"),
      serverCertPem: pem("CERTIFICATE"),
      serverKeyPem: pem("PRIVATE KEY"),
      tlsCryptV2ServerKey: "key",
      engineers: [{ cn: "alice", fingerprint: Array.from({ length: 32 }, () => "AB").join(":") }],
    });
    return encodeBundle({ ...files, "server.conf": mutate(files["server.conf"]), "main.sh": "#!/bin/bash\n" });
  };
  const cmd = (stdin: string): PlainResource => ({ type: REMOTE_COMMAND, name: "vpn-configure", props: { stdin, connection: {} } });

  it("accepts the config the VPN renderer produces", async () => {
    expect(await violations(vpnAeadCiphersOnly, cmd(bundle()))).toEqual([]);
  });
  it.each([
    ["a CBC cipher in data-ciphers", (c: string) => c.replace(/^data-ciphers .*$/m, "data-ciphers AES-256-GCM:AES-256-CBC"), /AES-256-CBC, which is not AEAD/],
    ["a legacy cipher line", (c: string) => c + "cipher BF-CBC\n", /cipher BF-CBC is not AEAD/],
    ["a non-AEAD fallback", (c: string) => c + "data-ciphers-fallback AES-128-CBC\n", /data-ciphers-fallback AES-128-CBC/],
    ["comp-lzo", (c: string) => c + "comp-lzo\n", /comp-lzo/],
    ["compression allowed", (c: string) => c.replace("allow-compression no", "allow-compression yes"), /allow-compression yes/],
    ["no data-ciphers line", (c: string) => c.replace(/^data-ciphers .*$/m, ""), /no data-ciphers line/],
  ])("reports %s", async (_, mutate, msg) => {
    expect(await violations(vpnAeadCiphersOnly, cmd(bundle(mutate)))).toEqual([expect.stringMatching(msg)]);
  });
  it("leaves commands without a server.conf, or whose stdin is not a bundle, alone", async () => {
    expect(await violations(vpnAeadCiphersOnly, cmd(encodeBundle({ "main.sh": "echo\n" })))).toEqual([]);
    expect(await violations(vpnAeadCiphersOnly, cmd("server.conf is mentioned here\ncomp-lzo\n"))).toEqual([]);
  });
  it("ignores comments", () => {
    expect(openvpnCipherProblems("data-ciphers AES-256-GCM\n# comp-lzo\n; cipher BF-CBC\n")).toEqual([]);
  });
});
