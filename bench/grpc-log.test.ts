import { longestChain, summariseGrpcLog } from "./grpc-log";

const urn = (type: string, name: string) => `urn:pulumi:s::fleet::fleet:fleet:Fleet$${type}::${name}`;
const NET = urn("openstack:networking/network:Network", "net");
const SUBNET = urn("openstack:networking/subnet:Subnet", "subnet");
const PORT = urn("openstack:networking/port:Port", "web-1");
const KEY = urn("tls:index/privateKey:PrivateKey", "web-1-host");
const VM = urn("openstack:compute/instance:Instance", "web-1");

describe("longestChain", () => {
  it("follows the deepest dependencies, not the first ones", () => {
    const deps = new Map([
      [KEY, []],
      [NET, []],
      [SUBNET, [NET]],
      [PORT, [SUBNET]],
      [VM, [KEY, PORT]],
    ]);
    expect(longestChain(deps)).toEqual([NET, SUBNET, PORT, VM]);
  });

  it("ignores dependencies that were never registered, and ends a cycle instead of looping", () => {
    expect(longestChain(new Map([[VM, ["urn:pulumi:s::fleet::gone::x"]]]))).toEqual([VM]);
    // Without the guard this recursion overflows the stack.
    expect(() =>
      longestChain(
        new Map([
          [NET, [SUBNET]],
          [SUBNET, [NET]],
        ]),
      ),
    ).not.toThrow();
  });
});

describe("summariseGrpcLog", () => {
  const register = (u: string, at: string, dependencies: string[] = [], propertyDependencies = {}) =>
    JSON.stringify({
      method: "/pulumirpc.ResourceMonitor/RegisterResource",
      progress: "response_completed",
      timestamp: at,
      request: { dependencies, propertyDependencies },
      response: { urn: u },
    });
  const lines = [
    JSON.stringify({ method: "/pulumirpc.ResourceMonitor/RegisterResource", progress: "request_started", timestamp: "0001-01-01T00:00:00Z", request: {} }),
    register("urn:pulumi:s::fleet::pulumi:pulumi:Stack::fleet-s", "2026-12-05T10:00:00.100Z"),
    register(NET, "2026-12-05T10:00:01.400Z"),
    register(SUBNET, "0001-01-01T00:00:00Z", [NET], { networkId: { urns: [NET] } }),
    register(PORT, "2026-12-05T10:00:01.900Z", [SUBNET], { subnetId: { urns: [SUBNET] }, networkId: { urns: [NET] } }),
    JSON.stringify({ method: "/pulumirpc.ResourceProvider/Check", progress: "response_completed" }),
    JSON.stringify({ method: "/pulumirpc.ResourceProvider/Check", progress: "request_started" }),
    JSON.stringify({ method: "/pulumirpc.ResourceProvider/Configure", progress: "response_completed" }),
    JSON.stringify({
      method: "/pulumirpc.ResourceMonitor/Invoke",
      progress: "response_completed",
      request: { tok: "openstack:networking/getNetwork:getNetwork" },
    }),
    "",
  ];

  it("counts each call once, without handshakes, and the dependency URNs sent", async () => {
    const s = await summariseGrpcLog(lines);
    expect(s.registrations).toBe(4);
    expect(s.provider).toEqual({ Check: 1 });
    expect(s.invokes).toEqual({ "openstack:networking/getNetwork:getNetwork": 1 });
    expect(s.dependencyUrns).toBe(1 + 1 + 1 + 2);
  });

  it("times loading from the stack's registration to the next, and registering from there to the last, skipping zero times", async () => {
    const s = await summariseGrpcLog(lines);
    expect(s.loadMs).toBe(1300);
    expect(s.registerMs).toBe(500);
  });

  it("names the longest chain by type and name", async () => {
    expect((await summariseGrpcLog(lines)).chain).toEqual([
      "openstack:networking/network:Network:net",
      "openstack:networking/subnet:Subnet:subnet",
      "openstack:networking/port:Port:web-1",
    ]);
  });
});
