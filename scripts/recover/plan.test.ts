import { wrapSecret } from "../../components/pulumi/secrets";
import { applyRecovery, CloudObjects, PendingOperation, pendingUserData, planRecovery } from "./plan";

const urn = (type: string, name: string) => `urn:pulumi:prod::fleet::fleet:fleet:Fleet$fleet:server:Server$${type}::${name}`;
const creating = (type: string, name: string, inputs: Record<string, unknown>): PendingOperation => ({
  type: "creating",
  resource: { urn: urn(type, name), type, inputs },
});
const empty = (): CloudObjects => ({
  servers: [],
  ports: [],
  floatingIps: [],
  securityGroups: [],
  securityGroupRules: [],
  networks: [],
  subnets: [],
  routers: [],
  routerRoutes: [],
  volumes: [],
});
const INSTANCE = "openstack:compute/instance:Instance";
const PORT = "openstack:networking/port:Port";
const FIP = "openstack:networking/floatingIp:FloatingIp";

describe("planRecovery: what an interrupted up left pending, matched to what the cloud holds", () => {
  const cloud: CloudObjects = {
    ...empty(),
    // app-1 twice by name: the interrupted create, and a server of another stack with the same hostname.
    servers: [
      { id: "srv-a", name: "app-1", ports: ["port-1"] },
      { id: "srv-b", name: "app-1", ports: ["port-9"] },
      { id: "srv-c", name: "db-1", ports: ["port-2"] },
      // web-3's create reached Nova, which had not bound its port yet; web-4 holds one.
      { id: "srv-d", name: "web-3", ports: [] },
      { id: "srv-e", name: "web-4", ports: ["port-8"] },
    ],
    routerRoutes: [{ routerId: "rtr-1", destination: "10.8.0.0/24", nexthop: "10.20.0.158" }],
    volumes: [{ id: "vol-1", name: "db-1-data" }],
    ports: [
      { id: "port-1", name: "app-1-1a2b3c4" },
      { id: "port-2", name: "db-1-5d6e7f8" },
    ],
    floatingIps: [
      { id: "fip-1", description: "fleet/prod/web-1", portId: null, address: "203.0.113.20" },
      { id: "fip-2", description: "", portId: "port-1", address: "203.0.113.21" },
    ],
  };

  it.each([
    [
      "a server, by the port the program gave it (not by its name, which another server shares)",
      creating(INSTANCE, "app-1", { name: "app-1", networks: [{ port: "port-1" }] }),
      "srv-a",
    ],
    ["a port, by its name", creating(PORT, "app-1", { name: "app-1-1a2b3c4" }), "port-1"],
    ["a floating IP, by the description the program sets", creating(FIP, "web-1", { description: "fleet/prod/web-1" }), "fip-1"],
    [
      "a server whose port Nova had not bound yet, by its name among servers holding no port",
      creating(INSTANCE, "web-3", { name: "web-3", networks: [{ port: "port-7" }] }),
      "srv-d",
    ],
    [
      "a router route, under the id the provider gives it",
      creating("openstack:networking/routerRoute:RouterRoute", "fleet-vpn", { routerId: "rtr-1", destinationCidr: "10.8.0.0/24", nextHop: "10.20.0.158" }),
      "rtr-1-route-10.8.0.0/24-10.20.0.158",
    ],
    ["a volume, by its name", creating("openstack:blockstorage/volume:Volume", "db-1-data", { name: "db-1-data", size: 10 }), "vol-1"],
  ])("imports %s", (_what, op, id) => {
    expect(planRecovery([op], cloud, new Set())).toEqual({ imports: [{ urn: op.resource.urn, id, what: expect.any(String) }], dropped: [], ambiguous: [] });
  });

  it.each([
    ["a remote command (nothing in the cloud)", creating("command:remote:Command", "app-1-ready", { create: "x" })],
    ["a key", creating("tls:index/privateKey:PrivateKey", "app-1-host", { algorithm: "ED25519" })],
    ["a server the cloud never started", creating(INSTANCE, "web-5", { name: "web-5", networks: [{ port: "port-7" }] })],
    ["a server whose name only a server on another port has", creating(INSTANCE, "web-4", { name: "web-4", networks: [{ port: "port-6" }] })],
    [
      "a route the router does not have",
      creating("openstack:networking/routerRoute:RouterRoute", "fleet-vpn", { routerId: "rtr-1", destinationCidr: "10.8.0.0/24", nextHop: "10.20.0.99" }),
    ],
    ["a floating IP with no description to find it by", creating(FIP, "web-2", {})],
  ])("clears %s: the next up makes it", (_what, op) => {
    const r = planRecovery([op], cloud, new Set());
    expect([r.imports, r.ambiguous, r.dropped.map((d) => d.urn)]).toEqual([[], [], [op.resource.urn]]);
  });

  it("never imports what the state already owns", () => {
    const op = creating(PORT, "db-1", { name: "db-1-5d6e7f8" });
    expect(planRecovery([op], cloud, new Set(["port-2"])).imports).toEqual([]);
  });

  it("stops on a create that matches more than one object, naming them, and plans nothing for it", () => {
    const op = creating("openstack:compute/instance:Instance", "app-1", { name: "app-1" }); // classic: by name only
    const r = planRecovery([op], cloud, new Set());
    expect(r.imports).toEqual([]);
    expect(r.ambiguous).toEqual([{ urn: op.resource.urn, why: "the cloud has 2 objects that may be server app-1: srv-a, srv-b" }]);
  });

  it("leaves pending updates and deletes to refresh (the state still holds those resources)", () => {
    const op: PendingOperation = { type: "deleting", resource: { urn: urn(INSTANCE, "db-1"), type: INSTANCE, inputs: { name: "db-1" } } };
    expect(planRecovery([op], cloud, new Set())).toEqual({ imports: [], dropped: [], ambiguous: [] });
  });

  it("applyRecovery adopts what the cloud holds with the program's inputs, drops the other creates, keeps other pending operations", () => {
    const server = creating(INSTANCE, "app-1", { name: "app-1", networks: [{ port: "port-1" }] });
    const command = creating("command:remote:Command", "app-1-ready", { create: "x" });
    const deleting: PendingOperation = { type: "deleting", resource: { urn: urn(INSTANCE, "db-1"), type: INSTANCE } };
    const deployment = { resources: [{ urn: "urn:pulumi:prod::fleet::pulumi:pulumi:Stack::fleet-prod" }], pending_operations: [server, command, deleting] };
    const plan = planRecovery(deployment.pending_operations, cloud, new Set());
    expect(applyRecovery(deployment, plan)).toEqual({
      resources: [
        { urn: "urn:pulumi:prod::fleet::pulumi:pulumi:Stack::fleet-prod" },
        { ...server.resource, id: "srv-a", outputs: { name: "app-1", networks: [{ port: "port-1" }], id: "srv-a" } },
      ],
      pending_operations: [deleting],
    });
  });
});

describe("an adopted server's user data", () => {
  const shown = (plaintext: string) => wrapSecret(plaintext, "state");

  it("is read, in plaintext, only from the pending instance creates of an export with the secrets shown", () => {
    const server = creating(INSTANCE, "app-1", { name: "app-1", userData: shown("#cloud-config\nhostname: app-1\n") });
    const port = creating(PORT, "app-1", { name: "app-1-1a2b3c4", userData: shown("not an instance") });
    expect(pendingUserData([server, port])).toEqual({ [server.resource.urn]: "#cloud-config\nhostname: app-1\n" });
  });

  it("is recorded as the provider keeps it: its SHA-1 in hex, as a secret", () => {
    const server = creating(INSTANCE, "app-1", { name: "app-1", networks: [{ port: "port-1" }] });
    const deployment = { resources: [], pending_operations: [server] };
    const plan = planRecovery(deployment.pending_operations, { ...empty(), servers: [{ id: "srv-a", name: "app-1", ports: ["port-1"] }] }, new Set());
    const adopted = applyRecovery(deployment, plan, { [server.resource.urn]: "hello\n" }).resources[0] as { outputs: Record<string, unknown> };
    // sha1sum of "hello\n", as `printf 'hello\n' | sha1sum` prints it.
    expect(adopted.outputs.userData).toEqual(shown("f572d396fae9206628714fb2ce00f72e94f2258f"));
  });
});
